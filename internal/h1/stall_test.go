package h1

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mtlsgate/mtlsgate/internal/servertest"
)

// TestSendStallTimeout: a client that stops reading the response fails
// the handler's write after SendStallTimeout; one that reads slowly but
// steadily gets the whole response although it takes longer than that.
func TestSendStallTimeout(t *testing.T) {
	const size = 16 << 20
	done := make(chan servertest.Moved, 1)
	get := func(stall time.Duration) (net.Conn, *bufio.Reader) {
		srv := &Server{SendStallTimeout: stall, ErrorLog: discardLogger(),
			Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Length", "16777216")
				// One write: the server must not give all of it one
				// stall deadline.
				n, err := w.Write(make([]byte, size))
				done <- servertest.Moved{N: int64(n), Err: err}
			})}
		c := startServer(t, srv, nil).dial()
		c.(*net.TCPConn).SetReadBuffer(64 << 10)
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
		return c, bufio.NewReaderSize(c, 64<<10)
	}

	t.Run("stalled", func(t *testing.T) {
		get(servertest.Stall) // and never read
		res := servertest.Await(t, done, "the handler's write the handler's write after the client stopped reading")
		if !errors.Is(res.Err, os.ErrDeadlineExceeded) {
			t.Fatalf("handler wrote %d bytes, error %v; want a deadline error", res.N, res.Err)
		}
	})

	t.Run("slow but steady", func(t *testing.T) {
		c, br := get(servertest.SteadyStall)
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
			time.Sleep(25 * time.Millisecond) // 64 pauses: longer than the stall timeout in all
		}
		c.Close()
		res := servertest.Await(t, done, "the handler")
		if res.Err != nil || got != size {
			t.Fatalf("read %d of %d bytes; handler error %v", got, size, res.Err)
		}
		if el := time.Since(start); el < servertest.SteadyStall {
			t.Fatalf("the download took %v only: the stall timeout was not exercised", el)
		}
	})
}

// TestBodyStallTimeout: a client that stops sending its body fails the
// handler's read after BodyStallTimeout; one that sends it slowly but
// steadily is read to the end.
func TestBodyStallTimeout(t *testing.T) {
	done := make(chan servertest.Moved, 1)
	dial := func(stall time.Duration) net.Conn {
		srv := &Server{BodyStallTimeout: stall, ErrorLog: discardLogger(),
			Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n, err := io.Copy(io.Discard, r.Body)
				done <- servertest.Moved{N: n, Err: err}
			})}
		return startServer(t, srv, nil).dial()
	}

	t.Run("stalled", func(t *testing.T) {
		c := dial(servertest.Stall)
		io.WriteString(c, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n0123456789")
		res := servertest.Await(t, done, "the handler's read after the client stopped sending")
		if res.N != 10 || !errors.Is(res.Err, os.ErrDeadlineExceeded) {
			t.Fatalf("handler read %d bytes, error %v; want 10 and a deadline error", res.N, res.Err)
		}
	})

	t.Run("slow but steady", func(t *testing.T) {
		c := dial(servertest.SteadyStall)
		io.WriteString(c, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n")
		for _, b := range strings.Split("abcde", "") {
			time.Sleep(servertest.SteadyStall / 3) // five pauses: longer than the stall timeout in all
			io.WriteString(c, b)
		}
		res := servertest.Await(t, done, "the handler")
		if res.N != 5 || res.Err != nil {
			t.Fatalf("handler read %d bytes, error %v; want 5, nil", res.N, res.Err)
		}
	})
}

// TestStallDeadlineAfterIdle: the write deadline the last response left
// (long past once the connection has been idle) must not fail what the
// next request writes first: a 100 Continue, or an error reply written
// before the request's own deadlines are set.
func TestStallDeadlineAfterIdle(t *testing.T) {
	echo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			w.WriteHeader(http.StatusTeapot)
			return
		}
		io.WriteString(w, "got "+string(b))
	})
	idleConn := func(t *testing.T, writeTimeout time.Duration) (net.Conn, *bufio.Reader) {
		srv := &Server{SendStallTimeout: servertest.Stall, BodyStallTimeout: servertest.SteadyStall, WriteTimeout: writeTimeout,
			ErrorLog: discardLogger(), Handler: echo}
		c := startServer(t, srv, nil).dial()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		br := bufio.NewReader(c)
		if got := getBody(t, c, br, "/"); got != "got " {
			t.Fatalf("first request: %q", got)
		}
		time.Sleep(3 * servertest.Stall) // the stall and write deadlines pass
		return c, br
	}

	t.Run("100 continue", func(t *testing.T) {
		c, br := idleConn(t, 0)
		io.WriteString(c, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
		line, err := br.ReadString('\n')
		if err != nil || !strings.HasPrefix(line, "HTTP/1.1 100 ") {
			t.Fatalf("want 100 Continue, got %q, %v", line, err)
		}
		br.ReadString('\n') // the empty line
		io.WriteString(c, "body")
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		if b, _ := io.ReadAll(resp.Body); resp.StatusCode != 200 || string(b) != "got body" {
			t.Fatalf("%d %q", resp.StatusCode, b)
		}
	})

	t.Run("error reply", func(t *testing.T) {
		c, br := idleConn(t, 300*time.Millisecond)
		io.WriteString(c, "GET / HTTP/1.1\nHost: a\n\n") // bare LFs: 400
		resp, err := http.ReadResponse(br, nil)
		if err != nil || resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("want 400, got %v, %v", resp, err)
		}
	})
}

// TestDeadlinesFullDuplex: in full-duplex mode one goroutine may read the
// body while another writes the response and moves deadlines; the stall
// bookkeeping must not race (run with -race).
func TestDeadlinesFullDuplex(t *testing.T) {
	srv := &Server{SendStallTimeout: time.Second, BodyStallTimeout: time.Second, ErrorLog: discardLogger(),
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rc := http.NewResponseController(w)
			rc.EnableFullDuplex()
			read := make(chan int64)
			go func() {
				n, _ := io.Copy(io.Discard, r.Body)
				read <- n
			}()
			for range 50 {
				rc.SetReadDeadline(time.Now().Add(5 * time.Second))
				rc.SetWriteDeadline(time.Now().Add(5 * time.Second))
				io.WriteString(w, "x")
				rc.Flush()
			}
			fmt.Fprintf(w, " %d", <-read)
		})}
	c := startServer(t, srv, nil).dial()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\n")
	for range 10 {
		io.WriteString(c, strings.Repeat("b", 100))
		time.Sleep(5 * time.Millisecond)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := bodyString(resp); got != strings.Repeat("x", 50)+" 1000" {
		t.Fatalf("body %q", got)
	}
}
