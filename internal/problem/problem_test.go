package problem

import (
	"encoding/json"
	"net/http/httptest"
	"testing"
)

func TestWrite(t *testing.T) {
	rec := httptest.NewRecorder()
	Write(rec, Details{Status: 403, Detail: "no", Reason: "not_allowed", Identity: &Identity{Subject: "CN=bob", SANs: []string{"DNS:x"}}})
	if rec.Code != 403 || rec.Header().Get("Content-Type") != "application/problem+json" {
		t.Fatalf("status %d type %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	var d Details
	if err := json.Unmarshal(rec.Body.Bytes(), &d); err != nil {
		t.Fatal(err)
	}
	if d.Title != "Forbidden" || d.Type != "about:blank" || d.Identity.Subject != "CN=bob" {
		t.Fatalf("body %+v", d)
	}
}
