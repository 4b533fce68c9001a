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

// testStall is the stall timeout of tests where the client stops;
// steadyStall that of tests where it keeps moving, with pauses well
// below it (a loaded CI machine may delay either side).
const (
	testStall   = 200 * time.Millisecond
	steadyStall = time.Second
)

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
	post := func(stall time.Duration) *rawConn {
		srv := &Server{BodyStallTimeout: stall, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n, err := io.Copy(io.Discard, r.Body)
			done <- stallResult{n, err}
		})}
		rc := newRaw(t, srv)
		rc.headers(1, false, ":method", "POST", ":scheme", "https", ":path", "/", ":authority", "a")
		return rc
	}

	rc := post(testStall)
	rc.fr.WriteData(1, false, []byte("0123456789")) // and no more
	select {
	case res := <-done:
		if res.n != 10 || !errors.Is(res.err, os.ErrDeadlineExceeded) {
			t.Fatalf("stalled: handler read %d bytes, error %v; want 10 and a deadline error", res.n, res.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the handler's read still waited 10s after the client stopped sending")
	}

	rc = post(steadyStall)
	for i := range 5 {
		time.Sleep(steadyStall / 3) // five pauses: longer than steadyStall in all
		rc.fr.WriteData(1, i == 4, []byte("x"))
	}
	res := <-done
	if res.n != 5 || res.err != nil {
		t.Fatalf("slow but steady: handler read %d bytes, error %v; want 5, nil", res.n, res.err)
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

// TestSendStallSteadyWindow: a client that gives window slowly but
// steadily gets the whole response although it takes longer than
// SendStallTimeout.
func TestSendStallSteadyWindow(t *testing.T) {
	const size = 65535 + 3*16<<10 // the initial window and three updates
	done := make(chan stallResult, 1)
	srv := &Server{SendStallTimeout: steadyStall, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, err := w.Write(make([]byte, size))
		done <- stallResult{int64(n), err}
	})}
	rc := newRaw(t, srv)
	rc.get(1)
	for range 3 {
		time.Sleep(steadyStall * 4 / 10) // three pauses: longer than steadyStall in all
		rc.fr.WriteWindowUpdate(0, 16<<10)
		rc.fr.WriteWindowUpdate(1, 16<<10)
	}
	if res := <-done; res.err != nil || res.n != size {
		t.Fatalf("handler wrote %d of %d bytes, error %v", res.n, size, res.err)
	}
	if st, body := rc.response(1); st != "200" || len(body) != size {
		t.Fatalf("%s, %d bytes", st, len(body))
	}
}
