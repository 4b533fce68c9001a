package h2

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// TestWriteAfterDeadlineKeepsConn: a handler writing after its write
// deadline passed fails its own stream (RST_STREAM(INTERNAL_ERROR)); it
// must not set a past deadline on the socket and so abort the whole
// connection with every other stream on it.
func TestWriteAfterDeadlineKeepsConn(t *testing.T) {
	checkGoroutines(t)
	errc := make(chan error, 1)
	srv := &Server{WriteTimeout: 150 * time.Millisecond, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/late" {
			io.WriteString(w, "ok")
			return
		}
		time.Sleep(250 * time.Millisecond)
		_, err := io.WriteString(w, "late")
		if err == nil {
			err = http.NewResponseController(w).Flush()
		}
		errc <- err
	})}
	rc := newRaw(t, srv)
	rc.headers(1, true, ":method", "GET", ":scheme", "https", ":path", "/late", ":authority", "a")
	if err := <-errc; err == nil {
		t.Fatal("write after the deadline succeeded")
	}
	rc.expectRST(1, http2.ErrCodeInternal)
	rc.get(3)
	if st, body := rc.response(3); st != "200" || body != "ok" {
		t.Fatalf("next stream: %s %q", st, body)
	}
}

// TestTrailerPrefixAfterBody: trailers set with http.TrailerPrefix after
// the body was written (what TrailerPrefix is for) are sent.
func TestTrailerPrefixAfterBody(t *testing.T) {
	for _, flush := range []bool{false, true} {
		srv := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "body")
			if flush {
				w.(http.Flusher).Flush()
			}
			w.Header().Set(http.TrailerPrefix+"X-Sum", "42")
		})}
		ts := startServer(t, srv, false)
		resp, err := ts.client().Get(ts.url("/"))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "body" || resp.Trailer.Get("X-Sum") != "42" {
			t.Errorf("flush=%v: body %q trailers %v", flush, b, resp.Trailer)
		}
	}
}

// TestGoAwayNotLostUnderContention: when a connection error ends the
// connection while handlers are queued for the write lock, the GOAWAY
// must reach the client before the socket is half-closed (the writer
// left to flush it would find the socket shut).
func TestGoAwayNotLostUnderContention(t *testing.T) {
	checkGoroutines(t)
	for iter := range 5 {
		srv := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			for r.Context().Err() == nil {
				if _, err := w.Write([]byte("x")); err != nil {
					return
				}
				w.(http.Flusher).Flush()
			}
		})}
		rc := newRaw(t, srv, http2Setting(initialWindowSetting, 1<<30))
		rc.fr.WriteWindowUpdate(0, 1<<30)
		const n = 32
		for i := range n {
			rc.get(uint32(2*i + 1))
		}
		go func() {
			time.Sleep(20 * time.Millisecond)
			rc.fr.WritePushPromise(http2.PushPromiseParam{StreamID: 1, PromiseID: 2, BlockFragment: []byte{0x82}, EndHeaders: true})
		}()
		f := rc.readUntil(func(f http2.Frame) bool { _, ok := f.(*http2.GoAwayFrame); return ok })
		if f == nil {
			t.Fatalf("iteration %d: connection ended without GOAWAY", iter)
		}
		rc.c.Close()
		rc.waitDone()
	}
}

// TestHeadersNotHeldByFlowControl: flow control covers DATA only; a
// client that opens no window until it sees the response head must get
// the HEADERS of a small, complete response (RFC 9113 §6.9).
func TestHeadersNotHeldByFlowControl(t *testing.T) {
	checkGoroutines(t)
	srv := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello")
	})}
	rc := newRaw(t, srv, http2Setting(initialWindowSetting, 0))
	rc.get(1)
	f, ok := rc.read().(*http2MetaHeaders)
	if !ok || f.PseudoValue("status") != "200" || f.StreamEnded() {
		t.Fatalf("want HEADERS 200 first, got %v", f)
	}
	rc.fr.WriteWindowUpdate(1, 100)
	d, ok := rc.read().(*http2.DataFrame)
	if !ok || string(d.Data()) != "hello" || !d.StreamEnded() {
		t.Fatalf("want DATA hello, got %v", d)
	}
}

// TestSetWriteDeadlineConcurrent: http.ResponseController's
// SetWriteDeadline, called from another goroutine, wakes a Write blocked
// on flow control (without a data race).
func TestSetWriteDeadlineConcurrent(t *testing.T) {
	checkGoroutines(t)
	errc := make(chan error, 1)
	srv := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		w.WriteHeader(200)
		rc.Flush()
		go func() {
			time.Sleep(50 * time.Millisecond)
			rc.SetWriteDeadline(time.Now())
		}()
		_, err := w.Write(make([]byte, 64<<10))
		if err == nil {
			err = rc.Flush()
		}
		errc <- err
	})}
	rc := newRaw(t, srv, http2Setting(initialWindowSetting, 0))
	rc.get(1)
	select {
	case err := <-errc:
		if !errors.Is(err, errDeadline) {
			t.Fatalf("write error %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("write not woken by SetWriteDeadline")
	}
	rc.expectRST(1, http2.ErrCodeInternal)
}

// TestUnreadBodyRefundsConnWindow: bodies the handler never reads (it
// answers and returns) give their bytes back to the connection window,
// also when DATA keeps arriving after RST_STREAM(NO_ERROR); later streams
// are not starved. The client keeps within the windows it was given.
func TestUnreadBodyRefundsConnWindow(t *testing.T) {
	checkGoroutines(t)
	srv := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/read" {
			n, _ := io.Copy(io.Discard, r.Body)
			fmt.Fprint(w, n)
			return
		}
		io.WriteString(w, "denied")
	})}
	rc := newRaw(t, srv)
	var mu sync.Mutex
	cond := sync.NewCond(&mu)
	connWin := int64(connWindow)
	streamWin := map[uint32]int64{}
	result := make(chan string, 1)
	go func() {
		var body strings.Builder
		for {
			f, err := rc.fr.ReadFrame()
			if err != nil {
				result <- "read: " + err.Error()
				return
			}
			switch f := f.(type) {
			case *http2.WindowUpdateFrame:
				mu.Lock()
				if f.StreamID == 0 {
					connWin += int64(f.Increment)
				} else {
					streamWin[f.StreamID] += int64(f.Increment)
				}
				cond.Broadcast()
				mu.Unlock()
			case *http2.GoAwayFrame:
				result <- "GOAWAY " + f.ErrCode.String()
				return
			case *http2.DataFrame:
				if f.StreamID == 17 {
					body.Write(f.Data())
					if f.StreamEnded() {
						result <- body.String()
						return
					}
				}
			}
		}
	}()
	send := func(id uint32, p []byte, end bool) {
		mu.Lock()
		for connWin < int64(len(p)) || streamWin[id] < int64(len(p)) {
			cond.Wait()
		}
		connWin -= int64(len(p))
		streamWin[id] -= int64(len(p))
		mu.Unlock()
		if err := rc.fr.WriteData(id, end, p); err != nil {
			t.Error(err)
		}
	}
	chunk := make([]byte, 16384)
	// Twice the connection window in bodies nobody reads.
	for i := range 8 {
		id := uint32(2*i + 1)
		mu.Lock()
		streamWin[id] = streamWindow
		mu.Unlock()
		rc.headers(id, false, ":method", "POST", ":scheme", "https", ":path", "/", ":authority", "a")
		for range streamWindow / len(chunk) {
			send(id, chunk, false)
		}
	}
	mu.Lock()
	streamWin[17] = streamWindow
	mu.Unlock()
	rc.headers(17, false, ":method", "POST", ":scheme", "https", ":path", "/read", ":authority", "a")
	for range 64 {
		send(17, chunk, false)
	}
	send(17, nil, true)
	select {
	case got := <-result:
		if got != strconv.Itoa(64*16384) {
			t.Fatalf("reading stream: %q", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("reading stream starved")
	}
}
