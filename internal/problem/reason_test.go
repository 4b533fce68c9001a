package problem

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// reasonWriter is a ResponseWriter that records reasons.
type reasonWriter struct {
	*httptest.ResponseRecorder
	reasons []string
}

func (w *reasonWriter) RecordReason(r string) { w.reasons = append(w.reasons, r) }

// TestWriteRecordsReason: a ReasonRecorder learns the problem's reason;
// any other writer just gets the document.
func TestWriteRecordsReason(t *testing.T) {
	w := &reasonWriter{ResponseRecorder: httptest.NewRecorder()}
	Write(w, Details{Status: http.StatusRequestTimeout, Reason: "request_body_timeout"})
	if len(w.reasons) != 1 || w.reasons[0] != "request_body_timeout" || w.Code != http.StatusRequestTimeout {
		t.Fatalf("reasons %q, status %d", w.reasons, w.Code)
	}
	Write(w, Details{Status: http.StatusBadRequest}) // no reason: nothing recorded
	if len(w.reasons) != 1 {
		t.Errorf("an empty reason was recorded: %q", w.reasons)
	}
	plain := httptest.NewRecorder()
	Write(plain, Details{Status: http.StatusForbidden, Reason: "not_allowed"})
	if plain.Code != http.StatusForbidden || plain.Header().Get("Content-Type") != "application/problem+json" {
		t.Errorf("plain writer: %d %q", plain.Code, plain.Header().Get("Content-Type"))
	}
}
