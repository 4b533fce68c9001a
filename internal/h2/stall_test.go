package h2

import (
	"errors"
	"io"
	"net/http"
	"os"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

const testStall = 200 * time.Millisecond

type stallResult struct {
	n   int64
	err error
}

// TestSendStallTimeout: a client that gives no flow-control window fails
// the handler's write after SendStallTimeout (the stream is reset).
func TestSendStallTimeout(t *testing.T) {
	done := make(chan stallResult, 1)
	srv := &Server{SendStallTimeout: testStall, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, err := w.Write(make([]byte, 1<<20)) // beyond the default 64 KiB window
		done <- stallResult{int64(n), err}
	})}
	rc := newRaw(t, srv)
	rc.get(1) // and never a WINDOW_UPDATE
	select {
	case res := <-done:
		if !errors.Is(res.err, os.ErrDeadlineExceeded) {
			t.Fatalf("handler wrote %d bytes, error %v; want a deadline error", res.n, res.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the handler's write still waited 10s after the client stopped giving window")
	}
	rc.expectRST(1, http2.ErrCodeInternal)
}

// TestBodyStallTimeout: a client that stops sending DATA fails the
// handler's read after BodyStallTimeout; one that sends slowly but
// steadily is read to the end.
func TestBodyStallTimeout(t *testing.T) {
	done := make(chan stallResult, 1)
	srv := &Server{BodyStallTimeout: testStall, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, err := io.Copy(io.Discard, r.Body)
		done <- stallResult{n, err}
	})}
	rc := newRaw(t, srv)
	post := func(id uint32) {
		rc.headers(id, false, ":method", "POST", ":scheme", "https", ":path", "/", ":authority", "a")
	}

	post(1)
	rc.fr.WriteData(1, false, []byte("0123456789")) // and no more
	select {
	case res := <-done:
		if res.n != 10 || !errors.Is(res.err, os.ErrDeadlineExceeded) {
			t.Fatalf("stalled: handler read %d bytes, error %v; want 10 and a deadline error", res.n, res.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the handler's read still waited 10s after the client stopped sending")
	}

	post(3)
	start := time.Now()
	for i := range 8 {
		time.Sleep(testStall / 2)
		rc.fr.WriteData(3, i == 7, []byte("x"))
	}
	res := <-done
	if res.n != 8 || res.err != nil {
		t.Fatalf("slow but steady: handler read %d bytes, error %v; want 8, nil", res.n, res.err)
	}
	if time.Since(start) < 2*testStall {
		t.Fatal("the body arrived too fast to test anything")
	}
}

// TestSendStallTimeoutSocket: a client that gives window but stops
// reading the socket blocks the connection's writes; after
// SendStallTimeout the handler's write fails and the connection ends.
func TestSendStallTimeoutSocket(t *testing.T) {
	done := make(chan stallResult, 1)
	srv := &Server{SendStallTimeout: testStall, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var n int64
		var err error
		chunk := make([]byte, 1<<20)
		for n < 1<<30 && err == nil {
			var k int
			k, err = w.Write(chunk)
			n += int64(k)
		}
		done <- stallResult{n, err}
	})}
	rc := newRaw(t, srv)
	rc.get(1)
	rc.fr.WriteWindowUpdate(0, 1<<30)
	rc.fr.WriteWindowUpdate(1, 1<<30) // and never read
	select {
	case res := <-done:
		if res.err == nil {
			t.Fatalf("handler wrote %d bytes without an error", res.n)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the handler's write still blocked 10s after the client stopped reading")
	}
	rc.waitDone()
}
