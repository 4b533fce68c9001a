package h1

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestPipelining(t *testing.T) {
	srv := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s:%s", r.URL.Path, b)
	})}
	ts := startServer(t, srv, nil)
	raw := "GET /1 HTTP/1.1\r\nHost: a\r\n\r\n" +
		"POST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc" +
		"POST /3 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nde\r\n0\r\n\r\n" +
		"GET /4 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
	resps := readResponses(t, exchange(t, ts.addr, raw), "GET")
	var got []string
	for _, r := range resps {
		got = append(got, bodyString(r))
	}
	want(t, "bodies", got, []string{"/1:", "/2:abc", "/3:de", "/4:"})
}

// TestKeepAliveManyRequests runs many requests on one connection with the
// net/http client.
func TestKeepAliveManyRequests(t *testing.T) {
	var conns atomic.Int32
	srv := &Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, r.URL.Query().Get("i"))
		}),
		ConnState: func(c net.Conn, s http.ConnState) {
			if s == http.StateNew {
				conns.Add(1)
			}
		},
	}
	ts := startServer(t, srv, nil)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	defer client.CloseIdleConnections()
	for i := range 200 {
		resp, err := client.Get(fmt.Sprintf("http://%s/?i=%d", ts.addr, i))
		if err != nil {
			t.Fatal(err)
		}
		if b := bodyString(resp); b != fmt.Sprint(i) {
			t.Fatalf("body %q, want %d", b, i)
		}
		resp.Body.Close()
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("%d connections, want 1", n)
	}
}

func TestExpectContinue(t *testing.T) {
	srv := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/read" {
			b, err := io.ReadAll(r.Body)
			if err != nil {
				t.Error(err)
			}
			fmt.Fprintf(w, "got %s", b)
			return
		}
		w.WriteHeader(http.StatusForbidden) // without reading
	})}
	ts := startServer(t, srv, nil)

	t.Run("read", func(t *testing.T) {
		c := ts.dial()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(c, "PUT /read HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n")
		br := bufio.NewReader(c)
		line, err := br.ReadString('\n')
		if err != nil || line != "HTTP/1.1 100 Continue\r\n" {
			t.Fatalf("got %q, %v", line, err)
		}
		if l, _ := br.ReadString('\n'); l != "\r\n" {
			t.Fatalf("got %q", l)
		}
		io.WriteString(c, "body")
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		if b := bodyString(resp); b != "got body" {
			t.Fatalf("body %q", b)
		}
		if resp.Close {
			t.Error("connection closed after a fully read body")
		}
	})
	t.Run("not read", func(t *testing.T) {
		c := ts.dial()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(c, "PUT /deny HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n")
		b, _ := io.ReadAll(c)
		if strings.Contains(string(b), "100 Continue") {
			t.Errorf("100 Continue sent for a body the handler did not read: %q", b)
		}
		if statusOf(string(b)) != 403 || !strings.Contains(string(b), "Connection: close") {
			t.Errorf("response %q", b)
		}
	})
}

func TestHijack(t *testing.T) {
	var states []http.ConnState
	var mu sync.Mutex
	srv := &Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, brw, err := w.(http.Hijacker).Hijack()
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			if _, err := w.Write([]byte("x")); !errors.Is(err, http.ErrHijacked) {
				t.Errorf("Write after Hijack: %v", err)
			}
			if n := brw.Reader.Buffered(); n != 5 {
				t.Errorf("buffered %d, want 5", n)
			}
			brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
			brw.Flush()
			// Echo lines until "bye".
			for {
				line, err := brw.ReadString('\n')
				if err != nil {
					return
				}
				brw.WriteString("echo " + line)
				brw.Flush()
				if line == "bye\n" {
					return
				}
			}
		}),
		ConnState: func(c net.Conn, s http.ConnState) {
			mu.Lock()
			states = append(states, s)
			mu.Unlock()
		},
	}
	ts := startServer(t, srv, nil)
	c := ts.dial()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	// The first tunnel bytes arrive with the request.
	io.WriteString(c, "GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\nhi 1\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 101 {
		t.Fatalf("%v %v", resp, err)
	}
	if l, _ := br.ReadString('\n'); l != "echo hi 1\n" {
		t.Fatalf("got %q", l)
	}
	io.WriteString(c, "bye\n")
	if l, _ := br.ReadString('\n'); l != "echo bye\n" {
		t.Fatalf("got %q", l)
	}
	waitFor(t, "hijacked state", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return slices.Contains(states, http.StateHijacked)
	})
	mu.Lock()
	want(t, "states", states, []http.ConnState{http.StateNew, http.StateActive, http.StateHijacked})
	mu.Unlock()
}

// TestHijackAfterSlowHandler hijacks after the disconnect watch started,
// with tunnel bytes sent meanwhile: they must reach the hijacker.
func TestHijackAfterSlowHandler(t *testing.T) {
	srv := &Server{
		DisconnectCheckDelay: time.Millisecond,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			time.Sleep(50 * time.Millisecond) // the client sends "ping" meanwhile
			c, brw, err := w.(http.Hijacker).Hijack()
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			line, _ := brw.ReadString('\n')
			brw.WriteString("HTTP/1.1 101 Switching\r\n\r\n" + line)
			brw.Flush()
		}),
	}
	ts := startServer(t, srv, nil)
	c := ts.dial()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	time.Sleep(20 * time.Millisecond)
	io.WriteString(c, "ping\n")
	b, _ := io.ReadAll(c)
	if !strings.HasSuffix(string(b), "\r\n\r\nping\n") {
		t.Fatalf("got %q", b)
	}
}

func TestTrailersRoundTrip(t *testing.T) {
	srv := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Trailer", "X-Echo-Sum")
		w.Write(b)
		w.Header().Set("X-Echo-Sum", r.Trailer.Get("X-Sum"))
	})}
	ts := startServer(t, srv, nil)
	req, _ := http.NewRequest("POST", "http://"+ts.addr+"/", io.MultiReader(strings.NewReader("abc"), strings.NewReader("def")))
	req.ContentLength = -1
	req.Trailer = http.Header{"X-Sum": {"7"}}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if b := bodyString(resp); b != "abcdef" {
		t.Errorf("body %q", b)
	}
	want(t, "trailer", resp.Trailer.Get("X-Echo-Sum"), "7")
}

func TestHandlerPanic(t *testing.T) {
	logs := &logSink{}
	srv := &Server{
		ErrorLog: log.New(logs, "", 0),
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch r.URL.Path {
			case "/panic":
				panic("boom")
			case "/abort":
				io.WriteString(w, "partial")
				w.(http.Flusher).Flush()
				panic(http.ErrAbortHandler)
			}
			io.WriteString(w, "fine")
		}),
	}
	ts := startServer(t, srv, nil)
	got := exchange(t, ts.addr, "GET /panic HTTP/1.1\r\nHost: a\r\n\r\nGET /after HTTP/1.1\r\nHost: a\r\n\r\n")
	if got != "" {
		t.Errorf("response after panic: %q", got)
	}
	if l := logs.String(); !strings.Contains(l, "panic serving") || !strings.Contains(l, "boom") || !strings.Contains(l, "goroutine") {
		t.Errorf("log %q", l)
	}
	before := logs.String()
	got = exchange(t, ts.addr, "GET /abort HTTP/1.1\r\nHost: a\r\n\r\n")
	if !strings.Contains(got, "7\r\npartial\r\n") || strings.Contains(got, "0\r\n\r\n") {
		t.Errorf("aborted response %q", got)
	}
	if logs.String() != before {
		t.Errorf("ErrAbortHandler logged: %q", logs.String()[len(before):])
	}
	if got := exchange(t, ts.addr, "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"); !strings.HasSuffix(got, "fine") {
		t.Errorf("server broken after panics: %q", got)
	}
}

func TestHeadAndNoBodyStatuses(t *testing.T) {
	srv := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/204":
			w.WriteHeader(204)
			if _, err := w.Write([]byte("x")); err != http.ErrBodyNotAllowed {
				t.Errorf("write on 204: %v", err)
			}
		case "/big":
			w.Write(make([]byte, 10000))
		default:
			io.WriteString(w, "hello")
		}
	})}
	ts := startServer(t, srv, nil)
	raw := exchange(t, ts.addr, "HEAD / HTTP/1.1\r\nHost: a\r\n\r\nHEAD /big HTTP/1.1\r\nHost: a\r\n\r\nGET /204 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
	parts := strings.Split(raw, "HTTP/1.1 ")
	if len(parts) != 4 {
		t.Fatalf("raw %q", raw)
	}
	if !strings.Contains(parts[1], "Content-Length: 5\r\n") || !strings.HasSuffix(parts[1], "\r\n\r\n") {
		t.Errorf("HEAD: %q", parts[1])
	}
	if strings.Contains(parts[2], "Content-Length") || strings.Contains(parts[2], "Transfer-Encoding") || !strings.HasSuffix(parts[2], "\r\n\r\n") {
		t.Errorf("HEAD big: %q", parts[2])
	}
	if !strings.HasPrefix(parts[3], "204") || strings.Contains(parts[3], "Content-Length") || !strings.HasSuffix(parts[3], "\r\n\r\n") {
		t.Errorf("204: %q", parts[3])
	}
}

func TestHTTP10KeepAlive(t *testing.T) {
	srv := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.URL.Path)
	})}
	ts := startServer(t, srv, nil)
	raw := exchange(t, ts.addr, "GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /b HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /c HTTP/1.0\r\n\r\nGET /d HTTP/1.0\r\n\r\n")
	resps := readResponses(t, raw, "GET")
	if len(resps) != 3 {
		t.Fatalf("%d responses: %q", len(resps), raw)
	}
	for i, r := range resps[:2] {
		if r.Proto != "HTTP/1.0" || r.Header.Get("Connection") != "keep-alive" {
			t.Errorf("response %d: %s %v", i, r.Proto, r.Header)
		}
	}
	if resps[2].Header.Get("Connection") != "" || !resps[2].Close {
		t.Errorf("last response: %v", resps[2].Header)
	}
}

func TestUnreadBody(t *testing.T) {
	srv := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.URL.Path)
	})}
	ts := startServer(t, srv, nil)
	// Small unread bodies are skipped and the connection kept.
	raw := exchange(t, ts.addr, "POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n0123456789"+
		"POST /b HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"+
		"GET /c HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
	var got []string
	for _, r := range readResponses(t, raw, "GET") {
		got = append(got, bodyString(r))
	}
	want(t, "bodies", got, []string{"/a", "/b", "/c"})

	// A large unread body closes the connection instead.
	c := ts.dial()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	go io.WriteString(c, "POST /big HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000\r\n\r\n"+strings.Repeat("x", 1000))
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !resp.Close || bodyString(resp) != "/big" {
		t.Errorf("close=%v", resp.Close)
	}
	if _, err := br.ReadByte(); err == nil {
		t.Error("connection still open")
	}
}

func TestTimeouts(t *testing.T) {
	t.Run("read header", func(t *testing.T) {
		srv := &Server{ReadHeaderTimeout: 50 * time.Millisecond, Handler: &recorder{}}
		ts := startServer(t, srv, nil)
		c := ts.dial()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n") // never finished
		if _, err := io.ReadAll(c); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("first byte", func(t *testing.T) {
		srv := &Server{ReadHeaderTimeout: 50 * time.Millisecond, Handler: &recorder{}}
		ts := startServer(t, srv, nil)
		c := ts.dial()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if b, err := io.ReadAll(c); err != nil || len(b) != 0 {
			t.Fatal(b, err)
		}
	})
	t.Run("idle", func(t *testing.T) {
		srv := &Server{IdleTimeout: 50 * time.Millisecond, ReadHeaderTimeout: time.Minute, Handler: &recorder{}}
		ts := startServer(t, srv, nil)
		c := ts.dial()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
		b, err := io.ReadAll(c) // the response, then close after the idle timeout
		if err != nil || statusOf(string(b)) != 200 {
			t.Fatalf("%q %v", b, err)
		}
	})
	t.Run("read body", func(t *testing.T) {
		errc := make(chan error, 1)
		srv := &Server{ReadTimeout: 100 * time.Millisecond, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, err := io.ReadAll(r.Body)
			errc <- err
		})}
		ts := startServer(t, srv, nil)
		c := ts.dial()
		io.WriteString(c, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc")
		err := <-errc
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatalf("body read error %v, want a timeout", err)
		}
	})
	t.Run("write", func(t *testing.T) {
		srv := &Server{WriteTimeout: 50 * time.Millisecond, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			time.Sleep(150 * time.Millisecond)
			io.WriteString(w, "late")
		})}
		ts := startServer(t, srv, nil)
		if got := exchange(t, ts.addr, "GET / HTTP/1.1\r\nHost: a\r\n\r\n"); got != "" {
			t.Fatalf("response after the write timeout: %q", got)
		}
	})
}

func TestShutdown(t *testing.T) {
	started := make(chan struct{})
	release := make(chan struct{})
	srv := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(started)
			<-release
		}
		io.WriteString(w, r.URL.Path)
	})}
	ts := startServer(t, srv, nil)

	// An idle keep-alive connection and a never-used one.
	idle := ts.dial()
	io.WriteString(idle, "GET /idle HTTP/1.1\r\nHost: a\r\n\r\n")
	idleBr := bufio.NewReader(idle)
	if resp, err := http.ReadResponse(idleBr, nil); err != nil || bodyString(resp) != "/idle" {
		t.Fatal(err)
	}
	fresh := ts.dial()

	busy := ts.dial()
	busy.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(busy, "GET /slow HTTP/1.1\r\nHost: a\r\n\r\n")
	<-started

	done := make(chan error, 1)
	go func() { done <- srv.Shutdown(context.Background()) }()

	// Idle connections close at once.
	idle.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := idleBr.ReadByte(); err == nil {
		t.Error("idle connection not closed")
	}
	fresh.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := fresh.Read(make([]byte, 1)); err == nil {
		t.Error("fresh connection not closed")
	}
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned with a request in flight: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	b, _ := io.ReadAll(busy)
	if statusOf(string(b)) != 200 || !strings.Contains(string(b), "Connection: close") || !strings.HasSuffix(string(b), "/slow") {
		t.Errorf("in-flight response %q", b)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// New connections are refused after Shutdown.
	if got := exchange(t, ts.addr, "GET / HTTP/1.1\r\nHost: a\r\n\r\n"); got != "" {
		t.Errorf("served after Shutdown: %q", got)
	}
}

func TestShutdownTimeout(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{})
	srv := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})}
	ts := startServer(t, srv, nil)
	c := ts.dial()
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if err := srv.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown: %v", err)
	}
	srv.Close() // ends the handler through its context
	close(release)
}

func TestClientDisconnectCancelsContext(t *testing.T) {
	cause := make(chan error, 1)
	srv := &Server{
		DisconnectCheckDelay: 5 * time.Millisecond,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
				cause <- context.Cause(r.Context())
			case <-time.After(5 * time.Second):
				cause <- nil
			}
		}),
	}
	ts := startServer(t, srv, nil)
	c := ts.dial()
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	time.Sleep(20 * time.Millisecond)
	c.Close()
	if err := <-cause; !errors.Is(err, ErrClientGone) {
		t.Fatalf("cause %v, want ErrClientGone", err)
	}
}

// TestSlowHandlerKeepsPipelinedByte: the disconnect watch reads the first
// byte of a pipelined request; it must be served.
func TestSlowHandlerKeepsPipelinedByte(t *testing.T) {
	srv := &Server{
		DisconnectCheckDelay: time.Millisecond,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/slow" {
				time.Sleep(50 * time.Millisecond)
			}
			if err := r.Context().Err(); err != nil {
				t.Errorf("context: %v", err)
			}
			io.WriteString(w, r.URL.Path)
		}),
	}
	ts := startServer(t, srv, nil)
	c := ts.dial()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "GET /slow HTTP/1.1\r\nHost: a\r\n\r\n")
	time.Sleep(20 * time.Millisecond)
	io.WriteString(c, "GET /next HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
	b, _ := io.ReadAll(c)
	var got []string
	for _, r := range readResponses(t, string(b), "GET") {
		got = append(got, bodyString(r))
	}
	want(t, "bodies", got, []string{"/slow", "/next"})
}

func TestWriteErrorCancelsContext(t *testing.T) {
	cause := make(chan error, 1)
	srv := &Server{
		DisconnectCheckDelay: -1,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			buf := make([]byte, 64<<10)
			for range 1000 {
				if _, err := w.Write(buf); err != nil {
					break
				}
			}
			cause <- context.Cause(r.Context())
		}),
	}
	ts := startServer(t, srv, nil)
	c := ts.dial()
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	c.(*net.TCPConn).SetLinger(0)
	c.Close()
	if err := <-cause; err == nil {
		t.Fatal("context not cancelled after a failed write")
	}
}

func TestConnStateSequence(t *testing.T) {
	var mu sync.Mutex
	var states []http.ConnState
	srv := &Server{
		Handler: &recorder{},
		ConnState: func(c net.Conn, s http.ConnState) {
			mu.Lock()
			states = append(states, s)
			mu.Unlock()
		},
	}
	ts := startServer(t, srv, nil)
	exchange(t, ts.addr, "GET / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
	waitFor(t, "closed", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return slices.Contains(states, http.StateClosed)
	})
	mu.Lock()
	defer mu.Unlock()
	want(t, "states", states, []http.ConnState{http.StateNew, http.StateActive, http.StateIdle, http.StateActive, http.StateClosed})
}

func TestResponseController(t *testing.T) {
	srv := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		for name, err := range map[string]error{
			"EnableFullDuplex": rc.EnableFullDuplex(),
			"SetReadDeadline":  rc.SetReadDeadline(time.Now().Add(time.Second)),
			"SetWriteDeadline": rc.SetWriteDeadline(time.Now().Add(time.Second)),
		} {
			if err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}
		// Full duplex: answer before reading the body.
		io.WriteString(w, "start;")
		if err := rc.Flush(); err != nil {
			t.Error(err)
		}
		b, _ := io.ReadAll(r.Body)
		w.Write(b)
	})}
	ts := startServer(t, srv, nil)
	c := ts.dial()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 6)
	if _, err := io.ReadFull(resp.Body, buf); err != nil || string(buf) != "start;" {
		t.Fatalf("%q %v", buf, err)
	}
	io.WriteString(c, "hello")
	if rest := bodyString(resp); rest != "hello" {
		t.Fatalf("rest %q", rest)
	}
}

func TestInformational(t *testing.T) {
	srv := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</a.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		io.WriteString(w, "final")
	})}
	ts := startServer(t, srv, nil)
	got := exchange(t, ts.addr, "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
	if !strings.HasPrefix(got, "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\n") {
		t.Fatalf("%q", got)
	}
	got = exchange(t, ts.addr, "GET / HTTP/1.0\r\n\r\n")
	if !strings.HasPrefix(got, "HTTP/1.0 200 OK\r\n") {
		t.Fatalf("1xx sent to HTTP/1.0: %q", got)
	}
}

func TestTLSServe(t *testing.T) {
	conf, clientConf := testTLS(t)
	srv := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s", r.TLS.PeerCertificates[0].Subject.CommonName, r.URL.Path)
	})}
	ts := startServer(t, srv, conf)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: clientConf}}
	defer client.CloseIdleConnections()
	for i := range 20 {
		resp, err := client.Get(fmt.Sprintf("https://%s/%d", ts.addr, i))
		if err != nil {
			t.Fatal(err)
		}
		if b := bodyString(resp); b != fmt.Sprintf("client /%d", i) {
			t.Fatalf("body %q", b)
		}
		resp.Body.Close()
	}
}

func TestRefusesH2(t *testing.T) {
	conf, clientConf := testTLS(t)
	conf.NextProtos = []string{"h2", "http/1.1"}
	clientConf.NextProtos = []string{"h2"}
	ts := startServer(t, &Server{Handler: &recorder{}, ErrorLog: discardLogger()}, conf)
	c, err := tls.Dial("tcp", ts.addr, clientConf)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if b, _ := io.ReadAll(c); len(b) != 0 {
		t.Fatalf("served h2 connection: %q", b)
	}
}

// TestConcurrentConnections exercises pools and tracking under -race.
func TestConcurrentConnections(t *testing.T) {
	srv := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Path", r.URL.Path)
		w.Write(b)
	})}
	ts := startServer(t, srv, nil)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	defer client.CloseIdleConnections()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				body := strings.Repeat(fmt.Sprint(g), i*100)
				resp, err := client.Post(fmt.Sprintf("http://%s/%d/%d", ts.addr, g, i), "text/plain", strings.NewReader(body))
				if err != nil {
					t.Error(err)
					return
				}
				if b := bodyString(resp); b != body || resp.Header.Get("X-Path") != fmt.Sprintf("/%d/%d", g, i) {
					t.Errorf("mismatch on /%d/%d", g, i)
				}
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
}

// TestIdleHandoff: after IdleGrace the wait moves to a new goroutine and
// ServeConn returns; the connection keeps working, keeps its idle timeout,
// and still reports its states and closes on Shutdown.
func TestIdleHandoff(t *testing.T) {
	var mu sync.Mutex
	var states []http.ConnState
	srv := &Server{
		IdleGrace:   5 * time.Millisecond,
		IdleTimeout: 300 * time.Millisecond,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, r.URL.Path)
		}),
		ConnState: func(c net.Conn, s http.ConnState) {
			mu.Lock()
			states = append(states, s)
			mu.Unlock()
		},
	}
	client, server := net.Pipe()
	defer client.Close()
	returned := make(chan struct{})
	go func() { srv.ServeConn(server); close(returned) }()
	client.SetDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(client)
	get := func(path string) {
		t.Helper()
		io.WriteString(client, "GET "+path+" HTTP/1.1\r\nHost: a\r\n\r\n")
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		if b := bodyString(resp); b != path {
			t.Fatalf("body %q", b)
		}
	}
	get("/1")
	select {
	case <-returned: // handed off after 5ms idle
	case <-time.After(2 * time.Second):
		t.Fatal("ServeConn did not return after IdleGrace")
	}
	get("/2")
	time.Sleep(20 * time.Millisecond)
	get("/3")
	// The idle timeout still applies after hand-offs.
	start := time.Now()
	if _, err := br.ReadByte(); err == nil {
		t.Fatal("connection not closed by the idle timeout")
	}
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Errorf("closed after %v, before the idle timeout", d)
	}
	waitFor(t, "StateClosed", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return slices.Contains(states, http.StateClosed)
	})
	mu.Lock()
	want(t, "states", states, []http.ConnState{
		http.StateNew, http.StateActive, http.StateIdle, http.StateActive, http.StateIdle,
		http.StateActive, http.StateIdle, http.StateClosed})
	mu.Unlock()
}

// TestIdleHandoffShutdown: Shutdown closes a connection whose idle wait
// was handed off.
func TestIdleHandoffShutdown(t *testing.T) {
	srv := &Server{IdleGrace: time.Millisecond, Handler: &recorder{}}
	ts := startServer(t, srv, nil)
	c := ts.dial()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	bodyString(resp)
	time.Sleep(30 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := br.ReadByte(); err == nil {
		t.Fatal("connection still open after Shutdown")
	}
}

func TestContentLengthEnforced(t *testing.T) {
	errc := make(chan error, 1)
	srv := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "3")
		w.Write([]byte("abc"))
		_, err := w.Write([]byte("d"))
		errc <- err
	})}
	ts := startServer(t, srv, nil)
	got := exchange(t, ts.addr, "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
	if err := <-errc; err != http.ErrContentLength {
		t.Errorf("write past Content-Length: %v", err)
	}
	if !strings.HasSuffix(got, "\r\n\r\nabc") {
		t.Errorf("response %q", got)
	}
}

func TestCloseCancelsContexts(t *testing.T) {
	cause := make(chan error, 1)
	started := make(chan struct{})
	srv := &Server{DisconnectCheckDelay: -1, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-r.Context().Done()
		cause <- context.Cause(r.Context())
	})}
	ts := startServer(t, srv, nil)
	c := ts.dial()
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	<-started
	srv.Close()
	if err := <-cause; !errors.Is(err, ErrServerClosed) {
		t.Fatalf("cause %v", err)
	}
}

func TestTrailerLimit(t *testing.T) {
	errc := make(chan error, 1)
	srv := &Server{MaxHeaderBytes: 1024, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(r.Body)
		errc <- err
	})}
	ts := startServer(t, srv, nil)
	raw := "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n" +
		strings.Repeat("X-Big: "+strings.Repeat("y", 100)+"\r\n", 20) + "\r\n"
	exchange(t, ts.addr, raw)
	if err := <-errc; err == nil {
		t.Fatal("oversized trailer section accepted")
	}
}

// TestAllocations guards the allocation count of a keep-alive GET.
func TestAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	srv := &Server{Handler: benchHandler, ReadHeaderTimeout: time.Minute, IdleTimeout: time.Minute}
	srv.ServeConn(newPingConn(100))
	const n = 1000
	allocs := testing.AllocsPerRun(5, func() { srv.ServeConn(newPingConn(n)) })
	// Per connection: conn, contexts, timer (~15); per request: the head
	// string.
	if per := allocs / n; per > 2 {
		t.Errorf("%.2f allocations per request, want at most 2", per)
	}
	t.Logf("%.0f allocations for %d requests", allocs, n)
}

// TestBodyAfterResponseStarted: without EnableFullDuplex the rest of the
// body is consumed when the response starts, as in net/http.
func TestBodyAfterResponseStarted(t *testing.T) {
	for _, name := range []string{"h1", "nethttp"} {
		t.Run(name, func(t *testing.T) {
			errc := make(chan error, 1)
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, "x")
				w.(http.Flusher).Flush()
				_, err := r.Body.Read(make([]byte, 10))
				errc <- err
			})
			addr := ""
			if name == "h1" {
				addr = startServer(t, &Server{Handler: h}, nil).addr
			} else {
				addr = startNetHTTP(t, h)
			}
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			io.WriteString(c, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello")
			if err := <-errc; err != http.ErrBodyReadAfterClose {
				t.Errorf("read after the response started: %v", err)
			}
		})
	}
}

// TestWatchAfterFastRequests: the disconnect watch keeps working when its
// timer was armed by earlier, fast requests on the connection.
func TestWatchAfterFastRequests(t *testing.T) {
	cause := make(chan error, 1)
	srv := &Server{
		DisconnectCheckDelay: 20 * time.Millisecond,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/slow" {
				io.WriteString(w, "fast")
				return
			}
			select {
			case <-r.Context().Done():
				cause <- context.Cause(r.Context())
			case <-time.After(5 * time.Second):
				cause <- nil
			}
		}),
	}
	ts := startServer(t, srv, nil)
	c := ts.dial()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	for i := range 200 {
		io.WriteString(c, "GET /fast HTTP/1.1\r\nHost: a\r\n\r\n")
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		bodyString(resp)
		if i%50 == 0 {
			time.Sleep(25 * time.Millisecond) // let the timer fire between requests
		}
	}
	io.WriteString(c, "GET /slow HTTP/1.1\r\nHost: a\r\n\r\n")
	time.Sleep(10 * time.Millisecond)
	c.Close()
	if err := <-cause; !errors.Is(err, ErrClientGone) {
		t.Fatalf("cause %v, want ErrClientGone", err)
	}
}

// TestIdleHandoffWakeup: a handed-off wait watches the socket without
// reading it (waitReadable); a request that arrives at any moment around
// the hand-off, or in several pieces, is served at once, over TCP and
// TLS. A lost wake-up would leave the client waiting for the idle timeout.
func TestIdleHandoffWakeup(t *testing.T) {
	srvConf, cliConf := testTLS(t)
	for _, useTLS := range []bool{false, true} {
		t.Run(fmt.Sprintf("tls=%v", useTLS), func(t *testing.T) {
			srv := &Server{
				IdleGrace:   time.Millisecond,
				IdleTimeout: time.Minute,
				Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					io.WriteString(w, r.URL.Path)
				}),
			}
			var ts *testServer
			if useTLS {
				ts = startServer(t, srv, srvConf)
			} else {
				ts = startServer(t, srv, nil)
			}
			c := ts.dial()
			if useTLS {
				tc := tls.Client(c, cliConf)
				if err := tc.Handshake(); err != nil {
					t.Fatal(err)
				}
				c = tc
			}
			br := bufio.NewReader(c)
			for i := 0; i < 60; i++ {
				// Pauses from 0 to 3 ms straddle the 1 ms grace.
				time.Sleep(time.Duration(i%7) * 500 * time.Microsecond)
				path := fmt.Sprintf("/%d", i)
				req := "GET " + path + " HTTP/1.1\r\nHost: a\r\n\r\n"
				c.SetDeadline(time.Now().Add(5 * time.Second))
				if i%3 == 0 {
					// In two pieces, the second after a hand-off.
					io.WriteString(c, req[:5])
					time.Sleep(3 * time.Millisecond)
					io.WriteString(c, req[5:])
				} else {
					io.WriteString(c, req)
				}
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatalf("request %d: %v", i, err)
				}
				if b := bodyString(resp); b != path {
					t.Fatalf("request %d: body %q", i, b)
				}
			}
		})
	}
}

// TestKeptGraceDeadline: a request starts while the idle grace's deadline
// is still set (the head deadline is set only if the head is slower than
// that), and the handler runs with it kept. Over TCP and TLS: a head that
// straddles the grace deadline is still read (the head deadline takes
// over), a head that stalls is cut at ReadHeaderTimeout, and the
// disconnect watch sees a client leave after the grace deadline passed.
func TestKeptGraceDeadline(t *testing.T) {
	srvConf, cliConf := testTLS(t)
	for _, useTLS := range []bool{false, true} {
		t.Run(fmt.Sprintf("tls=%v", useTLS), func(t *testing.T) {
			cause := make(chan error, 1)
			srv := &Server{
				IdleGrace:            30 * time.Millisecond,
				ReadHeaderTimeout:    400 * time.Millisecond,
				DisconnectCheckDelay: 5 * time.Millisecond,
				Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if r.URL.Path != "/wait" {
						io.WriteString(w, r.URL.Path)
						return
					}
					select {
					case <-r.Context().Done():
						cause <- context.Cause(r.Context())
					case <-time.After(5 * time.Second):
						cause <- nil
					}
				}),
			}
			var ts *testServer
			if useTLS {
				ts = startServer(t, srv, srvConf)
			} else {
				ts = startServer(t, srv, nil)
			}
			dial := func() (net.Conn, *bufio.Reader) {
				c := ts.dial()
				if useTLS {
					tc := tls.Client(c, cliConf)
					if err := tc.Handshake(); err != nil {
						t.Fatal(err)
					}
					c = tc
				}
				c.SetDeadline(time.Now().Add(5 * time.Second))
				return c, bufio.NewReader(c)
			}
			get := func(c net.Conn, br *bufio.Reader, path string, pause time.Duration) {
				t.Helper()
				req := "GET " + path + " HTTP/1.1\r\nHost: a\r\n\r\n"
				io.WriteString(c, req[:6])
				time.Sleep(pause)
				io.WriteString(c, req[6:])
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatalf("%s: %v", path, err)
				}
				if b := bodyString(resp); b != path {
					t.Fatalf("%s: body %q", path, b)
				}
			}
			c, br := dial()
			get(c, br, "/a", 0)
			get(c, br, "/b", 0)                          // within the first grace: kept
			get(c, br, "/straddle", 80*time.Millisecond) // the grace deadline passes mid-head
			get(c, br, "/c", 0)

			// A stalled head ends at ReadHeaderTimeout, not at the grace.
			get(c, br, "/d", 0)
			start := time.Now()
			io.WriteString(c, "GET /stall HTTP/1.1\r\n")
			if _, err := io.ReadAll(br); err != nil {
				t.Fatal(err)
			}
			if d := time.Since(start); d < 300*time.Millisecond || d > 3*time.Second {
				t.Errorf("stalled head closed after %v, want about ReadHeaderTimeout (400ms)", d)
			}

			// The watch clears the kept grace deadline before it reads.
			c, br = dial()
			get(c, br, "/e", 0)
			io.WriteString(c, "GET /wait HTTP/1.1\r\nHost: a\r\n\r\n")
			time.Sleep(100 * time.Millisecond) // past the grace deadline
			c.Close()
			if err := <-cause; !errors.Is(err, ErrClientGone) {
				t.Fatalf("cause %v, want ErrClientGone", err)
			}
		})
	}
}

// TestIdleParked: connections idle past IdleGrace wait without a goroutine
// of their own (on Linux, in the server's epoll parker); they are served
// when a request arrives, closed at their idle timeout, and closed by
// Shutdown and Close.
func TestIdleParked(t *testing.T) {
	srv := &Server{
		IdleGrace:   5 * time.Millisecond,
		IdleTimeout: 700 * time.Millisecond,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, r.URL.Path)
		}),
	}
	ts := startServer(t, srv, nil)
	base := runtime.NumGoroutine()
	const n = 40
	conns := make([]net.Conn, n)
	readers := make([]*bufio.Reader, n)
	get := func(i int, path string) {
		t.Helper()
		io.WriteString(conns[i], "GET "+path+" HTTP/1.1\r\nHost: a\r\n\r\n")
		resp, err := http.ReadResponse(readers[i], nil)
		if err != nil {
			t.Fatalf("conn %d %s: %v", i, path, err)
		}
		if b := bodyString(resp); b != path {
			t.Fatalf("conn %d: body %q", i, b)
		}
	}
	for i := range conns {
		conns[i] = ts.dial()
		conns[i].SetDeadline(time.Now().Add(10 * time.Second))
		readers[i] = bufio.NewReader(conns[i])
		get(i, fmt.Sprintf("/first/%d", i))
	}
	if runtime.GOOS == "linux" {
		// n idle connections, about one goroutine (the parker) for all.
		waitFor(t, "idle connections parked", func() bool { return runtime.NumGoroutine() < base+n/2 })
	}
	start := time.Now()
	for i := range conns {
		get(i, fmt.Sprintf("/second/%d", i))
	}
	// Parked again, then closed at the idle timeout.
	for i := range conns {
		if _, err := readers[i].ReadByte(); err == nil {
			t.Fatalf("conn %d: data instead of the idle close", i)
		}
	}
	if d := time.Since(start); d < 500*time.Millisecond || d > 5*time.Second {
		t.Errorf("idle connections closed after %v, want about 700ms", d)
	}

	for _, end := range []string{"Shutdown", "Close"} {
		srv := &Server{IdleGrace: time.Millisecond, IdleTimeout: time.Minute, Handler: &recorder{}}
		ts := startServer(t, srv, nil)
		c := ts.dial()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		br := bufio.NewReader(c)
		getBody(t, c, br, "/")
		time.Sleep(30 * time.Millisecond) // parked
		start := time.Now()
		if end == "Shutdown" {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			if err := srv.Shutdown(ctx); err != nil {
				t.Fatalf("Shutdown: %v", err)
			}
			cancel()
		} else {
			srv.Close()
		}
		if _, err := br.ReadByte(); err == nil {
			t.Fatalf("%s: connection still open", end)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("%s took %v to close a parked connection", end, d)
		}
	}
}
