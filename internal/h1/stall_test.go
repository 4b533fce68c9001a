package h1

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

const testStall = 200 * time.Millisecond

// stallResult is what a test handler saw.
type stallResult struct {
	n   int64
	err error
}

// TestSendStallTimeout: a client that stops reading the response fails
// the handler's write after SendStallTimeout; one that reads slowly but
// steadily gets the whole response although it takes longer than that.
func TestSendStallTimeout(t *testing.T) {
	const size = 16 << 20
	done := make(chan stallResult, 1)
	srv := &Server{SendStallTimeout: testStall, ErrorLog: discardLogger(),
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "16777216")
			// One write: the server must not give all of it one stall
			// deadline.
			n, err := w.Write(make([]byte, size))
			done <- stallResult{int64(n), err}
		})}
	ts := startServer(t, srv, nil)
	get := func() (net.Conn, *bufio.Reader) {
		c := ts.dial()
		c.(*net.TCPConn).SetReadBuffer(64 << 10)
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
		return c, bufio.NewReaderSize(c, 64<<10)
	}

	t.Run("stalled", func(t *testing.T) {
		get() // and never read
		select {
		case res := <-done:
			if !errors.Is(res.err, os.ErrDeadlineExceeded) {
				t.Fatalf("handler wrote %d bytes, error %v; want a deadline error", res.n, res.err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the handler's write still blocked 10s after the client stopped reading")
		}
	})

	t.Run("slow but steady", func(t *testing.T) {
		c, br := get()
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		buf := make([]byte, 256<<10)
		var got int64
		for {
			n, err := io.ReadFull(resp.Body, buf)
			got += int64(n)
			if err != nil {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		c.Close()
		res := <-done
		if res.err != nil || got != size {
			t.Fatalf("read %d of %d bytes; handler error %v", got, size, res.err)
		}
		if el := time.Since(start); el < 2*testStall {
			t.Logf("the download took %v only: the stall timeout was hardly exercised", el)
		}
	})
}

// TestBodyStallTimeout: a client that stops sending its body fails the
// handler's read after BodyStallTimeout; one that sends it slowly but
// steadily is read to the end.
func TestBodyStallTimeout(t *testing.T) {
	done := make(chan stallResult, 1)
	srv := &Server{BodyStallTimeout: testStall, ErrorLog: discardLogger(),
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n, err := io.Copy(io.Discard, r.Body)
			done <- stallResult{n, err}
		})}
	ts := startServer(t, srv, nil)

	t.Run("stalled", func(t *testing.T) {
		c := ts.dial()
		io.WriteString(c, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n0123456789")
		select {
		case res := <-done:
			if res.n != 10 || !errors.Is(res.err, os.ErrDeadlineExceeded) {
				t.Fatalf("handler read %d bytes, error %v; want 10 and a deadline error", res.n, res.err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the handler's read still blocked 10s after the client stopped sending")
		}
	})

	t.Run("slow but steady", func(t *testing.T) {
		c := ts.dial()
		io.WriteString(c, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 8\r\n\r\n")
		start := time.Now()
		for _, b := range strings.Split("abcdefgh", "") {
			time.Sleep(testStall / 2)
			io.WriteString(c, b)
		}
		res := <-done
		if res.n != 8 || res.err != nil {
			t.Fatalf("handler read %d bytes, error %v; want 8, nil", res.n, res.err)
		}
		if time.Since(start) < 2*testStall {
			t.Fatal("the body arrived too fast to test anything")
		}
	})
}
