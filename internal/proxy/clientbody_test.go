package proxy

import (
	"errors"
	"io"
	"net/http"
	"os"
	"testing"
)

// failingBody fails every read with err.
type failingBody struct{ err error }

func (f failingBody) Read([]byte) (int, error) { return 0, f.err }
func (failingBody) Close() error               { return nil }

// TestClientBody: the client is blamed for a body read that failed
// before the body was closed, with 408 for a timeout and 400 otherwise,
// and not for reads after net/http closed it.
func TestClientBody(t *testing.T) {
	cb := &clientBody{ReadCloser: failingBody{os.ErrDeadlineExceeded}, path: "/in"}
	if _, err := cb.Read(make([]byte, 1)); err == nil {
		t.Fatal("no error")
	}
	p := clientBodyProblem(cb.failed(), cb.path)
	if p.Status != http.StatusRequestTimeout || p.Reason != "request_body_timeout" || p.Instance != "/in" {
		t.Errorf("timeout: %+v", p)
	}
	if p := clientBodyProblem(io.ErrUnexpectedEOF, "/in"); p.Status != http.StatusBadRequest {
		t.Errorf("short body: %+v", p)
	}

	closed := &clientBody{ReadCloser: failingBody{http.ErrBodyReadAfterClose}}
	closed.Close()
	closed.Read(make([]byte, 1))
	if err := closed.failed(); err != nil {
		t.Errorf("a read after Close was blamed on the client: %v", err)
	}
	eof := &clientBody{ReadCloser: failingBody{io.EOF}}
	eof.Read(make([]byte, 1))
	if err := eof.failed(); err != nil || errors.Is(err, io.EOF) {
		t.Errorf("EOF recorded: %v", err)
	}
}
