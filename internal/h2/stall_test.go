package h2

import (
	"errors"
	"io"
	"net/http"
	"os"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"github.com/mtlsgate/mtlsgate/internal/servertest"
)

// TestSendStallTimeout: a client that gives no flow-control window fails
// the handler's write after SendStallTimeout (the stream is reset).
func TestSendStallTimeout(t *testing.T) {
	done := make(chan servertest.Moved, 1)
	srv := &Server{SendStallTimeout: servertest.Stall, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, err := w.Write(make([]byte, 1<<20)) // beyond the default 64 KiB window
		done <- servertest.Moved{N: int64(n), Err: err}
	})}
	rc := newRaw(t, srv)
	rc.get(1) // and never a WINDOW_UPDATE
	res := servertest.Await(t, done, "the handler's write after the client stopped giving window")
	if !errors.Is(res.Err, os.ErrDeadlineExceeded) {
		t.Fatalf("handler wrote %d bytes, error %v; want a deadline error", res.N, res.Err)
	}
	rc.expectRST(1, http2.ErrCodeInternal)
}

// TestBodyStallTimeout: a client that stops sending DATA fails the
// handler's read after BodyStallTimeout; one that sends slowly but
// steadily is read to the end.
func TestBodyStallTimeout(t *testing.T) {
	done := make(chan servertest.Moved, 1)
	post := func(stall time.Duration) *rawConn {
		srv := &Server{BodyStallTimeout: stall, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n, err := io.Copy(io.Discard, r.Body)
			done <- servertest.Moved{N: n, Err: err}
		})}
		rc := newRaw(t, srv)
		rc.headers(1, false, ":method", "POST", ":scheme", "https", ":path", "/", ":authority", "a")
		return rc
	}

	rc := post(servertest.Stall)
	rc.fr.WriteData(1, false, []byte("0123456789")) // and no more
	res := servertest.Await(t, done, "the handler's read after the client stopped sending")
	if res.N != 10 || !errors.Is(res.Err, os.ErrDeadlineExceeded) {
		t.Fatalf("stalled: handler read %d bytes, error %v; want 10 and a deadline error", res.N, res.Err)
	}

	rc = post(servertest.SteadyStall)
	for i := range 5 {
		time.Sleep(servertest.SteadyStall / 3) // five pauses: longer than the stall timeout in all
		rc.fr.WriteData(1, i == 4, []byte("x"))
	}
	res = servertest.Await(t, done, "the handler")
	if res.N != 5 || res.Err != nil {
		t.Fatalf("slow but steady: handler read %d bytes, error %v; want 5, nil", res.N, res.Err)
	}
}

// TestSendStallTimeoutSocket: a client that gives window but stops
// reading the socket blocks the connection's writes; after
// SendStallTimeout the handler's write fails and the connection ends.
func TestSendStallTimeoutSocket(t *testing.T) {
	done := make(chan servertest.Moved, 1)
	srv := &Server{SendStallTimeout: servertest.Stall, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var n int64
		var err error
		chunk := make([]byte, 1<<20)
		for n < 1<<30 && err == nil {
			var k int
			k, err = w.Write(chunk)
			n += int64(k)
		}
		done <- servertest.Moved{N: n, Err: err}
	})}
	rc := newRaw(t, srv)
	rc.get(1)
	rc.fr.WriteWindowUpdate(0, 1<<30)
	rc.fr.WriteWindowUpdate(1, 1<<30) // and never read
	res := servertest.Await(t, done, "the handler's write the handler's write after the client stopped reading")
	if res.Err == nil {
		t.Fatalf("handler wrote %d bytes without an error", res.N)
	}
	rc.waitDone()
}

// TestSendStallSteadyWindow: a client that gives window slowly but
// steadily gets the whole response although it takes longer than
// SendStallTimeout.
func TestSendStallSteadyWindow(t *testing.T) {
	const size = 65535 + 3*16<<10 // the initial window and three updates
	done := make(chan servertest.Moved, 1)
	srv := &Server{SendStallTimeout: servertest.SteadyStall, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, err := w.Write(make([]byte, size))
		done <- servertest.Moved{N: int64(n), Err: err}
	})}
	rc := newRaw(t, srv)
	rc.get(1)
	for range 3 {
		time.Sleep(servertest.SteadyStall * 4 / 10) // three pauses: longer than the stall timeout in all
		rc.fr.WriteWindowUpdate(0, 16<<10)
		rc.fr.WriteWindowUpdate(1, 16<<10)
	}
	if res := servertest.Await(t, done, "the handler"); res.Err != nil || res.N != size {
		t.Fatalf("handler wrote %d of %d bytes, error %v", res.N, size, res.Err)
	}
	if st, body := rc.response(1); st != "200" || len(body) != size {
		t.Fatalf("%s, %d bytes", st, len(body))
	}
}
