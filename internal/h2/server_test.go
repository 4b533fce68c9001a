package h2

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestRequestFields(t *testing.T) {
	checkGoroutines(t)
	type seen struct {
		method, url, proto, host, uri, cookie, remote string
		major                                         int
		clen                                          int64
		noBody, tls, hasHost                          bool
		ua                                            []string
	}
	got := make(chan seen, 1)
	srv := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, hasHost := r.Header["Host"]
		got <- seen{r.Method, r.URL.String(), r.Proto, r.Host, r.RequestURI, r.Header.Get("Cookie"), r.RemoteAddr,
			r.ProtoMajor, r.ContentLength, r.Body == http.NoBody, r.TLS != nil && len(r.TLS.PeerCertificates) == 1,
			hasHost, slices.Clone(r.Header["User-Agent"])}
	})}
	ts := startServer(t, srv, false)
	req, _ := http.NewRequest("GET", ts.url("/a/b?q=1&r=%20x"), nil)
	req.Header.Set("User-Agent", "test/1")
	req.AddCookie(&http.Cookie{Name: "a", Value: "1"})
	req.AddCookie(&http.Cookie{Name: "b", Value: "2"})
	resp, err := ts.client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	s := <-got
	want := seen{"GET", "/a/b?q=1&r=%20x", "HTTP/2.0", ts.addr, "/a/b?q=1&r=%20x", "a=1; b=2", s.remote, 2, 0, true, true, false, []string{"test/1"}}
	if fmt.Sprint(s) != fmt.Sprint(want) || s.remote == "" {
		t.Fatalf("got  %+v\nwant %+v", s, want)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Date") == "" || resp.ContentLength != 0 {
		t.Fatalf("response %d %v", resp.StatusCode, resp.Header)
	}
}

func TestNilHandler404(t *testing.T) {
	ts := startServer(t, &Server{}, false)
	resp, err := ts.client().Get(ts.url("/"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Fatalf("status %d", resp.StatusCode)
	}
}

// echoHandler returns the request body and its sha256 in a trailer, and
// the request trailers with a "Req-" prefix.
var echoHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Trailer", "Body-Sum")
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(w, h), r.Body); err != nil {
		panic(http.ErrAbortHandler)
	}
	w.Header().Set("Body-Sum", fmt.Sprintf("%x", h.Sum(nil)))
	for k, vv := range r.Trailer {
		w.Header()[http.TrailerPrefix+"Req-"+k] = vv
	}
})

func TestLargeBodies(t *testing.T) {
	checkGoroutines(t)
	ts := startServer(t, &Server{Handler: echoHandler}, false)
	body := make([]byte, 5<<20)
	rand.Read(body)
	sum := fmt.Sprintf("%x", sha256.Sum256(body))
	for name, cl := range map[string]*http.Client{"x/net": ts.client(), "net/http": ts.stdClient()} {
		t.Run(name, func(t *testing.T) {
			var wg sync.WaitGroup
			for range 3 { // concurrently on one connection
				wg.Add(1)
				go func() {
					defer wg.Done()
					resp, err := cl.Post(ts.url("/echo"), "application/octet-stream", bytes.NewReader(body))
					if err != nil {
						t.Error(err)
						return
					}
					defer resp.Body.Close()
					got, err := io.ReadAll(resp.Body)
					if err != nil {
						t.Error(err)
						return
					}
					if !bytes.Equal(got, body) || resp.Trailer.Get("Body-Sum") != sum {
						t.Errorf("echo mismatch: %d bytes, sum %q", len(got), resp.Trailer.Get("Body-Sum"))
					}
				}()
			}
			wg.Wait()
		})
	}
}

func TestConcurrentStreams(t *testing.T) {
	checkGoroutines(t)
	const n = 40
	var arrived sync.WaitGroup
	arrived.Add(n)
	srv := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived.Done()
		arrived.Wait() // all n streams are open at once
		io.WriteString(w, r.URL.Path)
	})}
	ts := startServer(t, srv, false)
	cl := ts.client()
	var conns sync.Map
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("GET", ts.url(fmt.Sprintf("/%d", i)), nil)
			req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
				GotConn: func(ci httptrace.GotConnInfo) { conns.Store(ci.Conn.LocalAddr().String(), true) },
			}))
			resp, err := cl.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(b) != fmt.Sprintf("/%d", i) {
				t.Errorf("got %q", b)
			}
		}()
	}
	wg.Wait()
	count := 0
	conns.Range(func(any, any) bool { count++; return true })
	if count != 1 {
		t.Errorf("%d connections, want 1", count)
	}
}

func TestTrailersBothWays(t *testing.T) {
	ts := startServer(t, &Server{Handler: echoHandler}, false)
	for name, cl := range map[string]*http.Client{"x/net": ts.client(), "net/http": ts.stdClient()} {
		t.Run(name, func(t *testing.T) {
			pr, pw := io.Pipe()
			go func() {
				io.WriteString(pw, "hello")
				pw.Close()
			}()
			req, _ := http.NewRequest("POST", ts.url("/"), pr)
			req.Trailer = http.Header{"Client-Trailer": nil}
			req.Trailer.Set("Client-Trailer", "v1")
			resp, err := cl.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(b) != "hello" {
				t.Fatalf("body %q", b)
			}
			if got := resp.Trailer.Get("Req-Client-Trailer"); got != "v1" {
				t.Errorf("request trailer echoed as %q (%v)", got, resp.Trailer)
			}
			if resp.Trailer.Get("Body-Sum") == "" {
				t.Errorf("declared trailer missing: %v", resp.Trailer)
			}
		})
	}
}

func TestHEAD(t *testing.T) {
	srv := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "0123456789")
	})}
	rc := newRaw(t, srv)
	rc.headers(1, true, ":method", "HEAD", ":scheme", "https", ":path", "/", ":authority", "a")
	f := rc.read().(*http2MetaHeaders)
	if !f.StreamEnded() || f.PseudoValue("status") != "200" {
		t.Fatalf("HEAD response %v", f)
	}
	if cl := fieldValue(f, "content-length"); cl != "10" {
		t.Fatalf("content-length %q", cl)
	}
}

func Test1xx(t *testing.T) {
	srv := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</style.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		w.WriteHeader(http.StatusSwitchingProtocols) // refused
		io.WriteString(w, "done")
	})}
	ts := startServer(t, srv, false)
	var got []int
	var links []string
	req, _ := http.NewRequest("GET", ts.url("/"), nil)
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
		Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
			got = append(got, code)
			links = append(links, h.Get("Link"))
			return nil
		},
	}))
	resp, err := ts.client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !slices.Equal(got, []int{103}) || links[0] == "" || resp.StatusCode != 200 || string(b) != "done" {
		t.Fatalf("1xx %v %v, final %d %q", got, links, resp.StatusCode, b)
	}
}

func TestFlushStreaming(t *testing.T) {
	checkGoroutines(t)
	step := make(chan struct{})
	srv := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for i := range 3 {
			fmt.Fprintf(w, "chunk%d;", i)
			if err := http.NewResponseController(w).Flush(); err != nil {
				t.Error(err)
			}
			<-step
		}
	})}
	ts := startServer(t, srv, false)
	resp, err := ts.client().Get(ts.url("/"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	buf := make([]byte, 64)
	for i := range 3 {
		n, err := resp.Body.Read(buf)
		if err != nil || string(buf[:n]) != fmt.Sprintf("chunk%d;", i) {
			t.Fatalf("read %q %v", buf[:n], err)
		}
		step <- struct{}{}
	}
	if rest, _ := io.ReadAll(resp.Body); len(rest) != 0 {
		t.Fatalf("rest %q", rest)
	}
	if resp.ContentLength != -1 {
		t.Fatalf("streamed response has content-length %d", resp.ContentLength)
	}
}

func TestClientCancelCancelsHandler(t *testing.T) {
	checkGoroutines(t)
	causes := make(chan error, 1)
	srv := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "start")
		w.(http.Flusher).Flush()
		<-r.Context().Done()
		causes <- context.Cause(r.Context())
		_, err := w.Write(make([]byte, 100<<10))
		if err == nil {
			err = http.NewResponseController(w).Flush()
		}
		if err == nil {
			t.Error("write after reset succeeded")
		}
	})}
	ts := startServer(t, srv, false)
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", ts.url("/"), nil)
	resp, err := ts.client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 5)
	io.ReadFull(resp.Body, buf)
	cancel()
	resp.Body.Close()
	select {
	case c := <-causes:
		if !errors.Is(c, ErrStreamReset) {
			t.Fatalf("cause %v", c)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("handler context not cancelled")
	}
}

func TestHandlerPanic(t *testing.T) {
	checkGoroutines(t)
	var sink logSink
	srv := &Server{ErrorLog: log.New(&sink, "", 0), Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/early":
			w.Header().Set("X-Lost", "1")
			io.WriteString(w, "lost")
			panic("boom early")
		case "/late":
			io.WriteString(w, "partial")
			w.(http.Flusher).Flush()
			panic("boom late")
		case "/abort":
			panic(http.ErrAbortHandler)
		}
	})}
	ts := startServer(t, srv, false)
	cl := ts.client()
	resp, err := cl.Get(ts.url("/early"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 500 || len(b) != 0 || resp.Header.Get("X-Lost") != "" {
		t.Fatalf("early panic: %d %q %v", resp.StatusCode, b, resp.Header)
	}
	resp, err = cl.Get(ts.url("/late"))
	if err == nil {
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	if err == nil || !strings.Contains(err.Error(), "INTERNAL_ERROR") {
		t.Fatalf("late panic: %v", err)
	}
	_, err = cl.Get(ts.url("/abort"))
	if err == nil || !strings.Contains(err.Error(), "INTERNAL_ERROR") {
		t.Fatalf("abort: %v", err)
	}
	logs := sink.String()
	if !strings.Contains(logs, "boom early") || !strings.Contains(logs, "boom late") ||
		!strings.Contains(logs, "goroutine") || strings.Contains(logs, "abort") {
		t.Fatalf("log:\n%s", logs)
	}
	// The connection survived.
	resp, err = cl.Get(ts.url("/other"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
}

func TestShutdownGraceful(t *testing.T) {
	checkGoroutines(t)
	started := make(chan struct{})
	release := make(chan struct{})
	srv := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(started)
			<-release
		}
		io.WriteString(w, "ok")
	})}
	ts := startServer(t, srv, false)
	cl := ts.client()
	result := make(chan string, 1)
	go func() {
		resp, err := cl.Get(ts.url("/slow"))
		if err != nil {
			result <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		result <- string(b)
	}()
	<-started
	shut := make(chan error, 1)
	go func() { shut <- srv.Shutdown(context.Background()) }()
	time.Sleep(50 * time.Millisecond)
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned early: %v", err)
	default:
	}
	close(release)
	if got := <-result; got != "ok" {
		t.Fatalf("running stream: %s", got)
	}
	select {
	case err := <-shut:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Shutdown did not return")
	}
	// New connections are closed at once.
	c, err := tls.Dial("tcp", ts.addr, ts.cliConf)
	if err == nil {
		c.SetDeadline(time.Now().Add(5 * time.Second))
		_, err = c.Read(make([]byte, 1))
		c.Close()
	}
	if err == nil {
		t.Fatal("connection after Shutdown served")
	}
}

func TestShutdownContextExpires(t *testing.T) {
	release := make(chan struct{})
	srv := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})}
	rc := newRaw(t, srv)
	rc.get(1)
	time.Sleep(20 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := srv.Shutdown(ctx); err != context.DeadlineExceeded {
		t.Fatalf("Shutdown: %v", err)
	}
	rc.expectGoAway(0)
	srv.Close()
	rc.waitDone()
	close(release)
}

func TestIdleTimeoutAndConnState(t *testing.T) {
	checkGoroutines(t)
	var mu sync.Mutex
	var states []http.ConnState
	srv := &Server{IdleTimeout: 150 * time.Millisecond, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}), ConnState: func(c net.Conn, s http.ConnState) {
		mu.Lock()
		states = append(states, s)
		mu.Unlock()
	}}
	rc := newRaw(t, srv)
	idles := func(n int) func() bool {
		return func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(states) > 0 && states[len(states)-1] == http.StateIdle && len(states) == 1+2*n
		}
	}
	rc.get(1)
	rc.response(1)
	waitFor(t, "idle", idles(1))
	rc.get(3)
	rc.response(3)
	waitFor(t, "idle", idles(2))
	start := time.Now()
	rc.expectGoAway(0)
	rc.waitDone()
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Fatalf("closed after %v", d)
	}
	mu.Lock()
	defer mu.Unlock()
	want := []http.ConnState{http.StateNew, http.StateActive, http.StateIdle, http.StateActive, http.StateIdle, http.StateClosed}
	if !slices.Equal(states, want) {
		t.Fatalf("states %v, want %v", states, want)
	}
}

func TestReadHeaderTimeout(t *testing.T) {
	checkGoroutines(t)
	srv := &Server{ReadHeaderTimeout: 100 * time.Millisecond, ErrorLog: log.New(io.Discard, "", 0)}
	cc, sc := tcpPair(t)
	defer cc.Close()
	done := make(chan struct{})
	go func() { srv.ServeConn(sc); close(done) }()
	io.WriteString(cc, clientPreface[:10]) // and then nothing
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("slow preface not timed out")
	}
}

func TestCloseFailsRunningHandlers(t *testing.T) {
	checkGoroutines(t)
	errs := make(chan error, 2)
	started := make(chan struct{}, 2)
	srv := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		started <- struct{}{}
		if r.URL.Path == "/read" {
			_, err := io.ReadAll(r.Body)
			errs <- err
			return
		}
		// Writes block on the flow-control window (the client gives
		// none), then fail.
		var err error
		for err == nil {
			_, err = w.Write(make([]byte, 32<<10))
		}
		errs <- err
	})}
	rc := newRaw(t, srv, http2Setting(initialWindowSetting, 0))
	rc.get(1)
	rc.headers(3, false, ":method", "POST", ":scheme", "https", ":path", "/read", ":authority", "a")
	<-started
	<-started
	srv.Close()
	for range 2 {
		select {
		case err := <-errs:
			if err == nil {
				t.Fatal("no error after Close")
			}
		case <-time.After(5 * time.Second):
			t.Fatal("handler still blocked after Close")
		}
	}
	rc.waitDone()
}

func TestWriteTimeoutFlowControl(t *testing.T) {
	checkGoroutines(t)
	errc := make(chan error, 1)
	srv := &Server{WriteTimeout: 200 * time.Millisecond, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := w.Write(make([]byte, 64<<10))
		if err == nil {
			err = http.NewResponseController(w).Flush()
		}
		errc <- err
	})}
	rc := newRaw(t, srv, http2Setting(initialWindowSetting, 10))
	rc.get(1)
	rc.expectRST(1, 2) // INTERNAL_ERROR
	if err := <-errc; !errors.Is(err, errDeadline) {
		t.Fatalf("write error %v", err)
	}
}

func TestWriteTimeoutClientNotReading(t *testing.T) {
	checkGoroutines(t)
	var wrote atomic.Int64
	errc := make(chan error, 1)
	srv := &Server{WriteTimeout: 300 * time.Millisecond, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var err error
		for err == nil {
			var n int
			n, err = w.Write(make([]byte, 64<<10))
			wrote.Add(int64(n))
		}
		errc <- err
	})}
	// The client opens every window but never reads: the socket jams.
	rc := newRaw(t, srv, http2Setting(initialWindowSetting, 1<<30))
	rc.fr.WriteWindowUpdate(0, 1<<30)
	rc.get(1)
	select {
	case err := <-errc:
		if err == nil {
			t.Fatal("no error")
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("handler still writing after %d bytes", wrote.Load())
	}
	rc.waitDone()
}

func TestReadTimeout(t *testing.T) {
	checkGoroutines(t)
	errc := make(chan error, 1)
	srv := &Server{ReadTimeout: 100 * time.Millisecond, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(r.Body)
		errc <- err
	})}
	rc := newRaw(t, srv)
	rc.headers(1, false, ":method", "POST", ":scheme", "https", ":path", "/", ":authority", "a")
	rc.fr.WriteData(1, false, []byte("part"))
	select {
	case err := <-errc:
		if !errors.Is(err, errDeadline) {
			t.Fatalf("read error %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("body read not timed out")
	}
	rc.expectRST(1, 0) // the handler returned: NO_ERROR, the client may stop
}

func TestResponseContentLengthAndDate(t *testing.T) {
	srv := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/nodate":
			w.Header()["Date"] = nil
			io.WriteString(w, "x")
		case "/big":
			w.Write(make([]byte, 3*pendSize))
		case "/declared-short":
			w.Header().Set("Content-Length", "10")
			io.WriteString(w, "short")
		case "/conn-specific":
			w.Header().Set("Connection", "close")
			w.Header().Set("Transfer-Encoding", "chunked")
			w.Header().Set("Keep-Alive", "1")
			w.Header().Set("X-Ok", "a\r\nb")
		}
	})}
	rc := newRaw(t, srv)
	check := func(id uint32, path string, want map[string]string) {
		t.Helper()
		rc.headers(id, true, ":method", "GET", ":scheme", "https", ":path", path, ":authority", "a")
		f := rc.readUntil(func(f http2Frame) bool { h, ok := f.(*http2MetaHeaders); return ok && h.StreamID == id })
		h := f.(*http2MetaHeaders)
		for k, v := range want {
			if got := fieldValue(h, k); got != v {
				t.Errorf("%s: %s = %q, want %q", path, k, got, v)
			}
		}
	}
	check(1, "/nodate", map[string]string{"date": "", "content-length": "1"})
	check(3, "/big", map[string]string{"content-length": ""})
	check(5, "/conn-specific", map[string]string{"connection": "", "transfer-encoding": "", "keep-alive": "", "x-ok": "a  b", "content-length": "0"})
	check(7, "/declared-short", map[string]string{"content-length": "10"})
	rc.expectRST(7, 2)
}
