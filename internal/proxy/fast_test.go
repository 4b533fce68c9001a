package proxy

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// countingServer is an upstream that counts the connections it accepted.
func countingServer(t *testing.T, h http.HandlerFunc) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, &conns
}

func newTestUpstream(t *testing.T, rawURL string, mod func(*UpstreamOptions)) *Upstream {
	t.Helper()
	u, _ := url.Parse(rawURL)
	o := UpstreamOptions{Name: "up", URL: u, DialTimeout: time.Second, ResponseHeaderTimeout: 2 * time.Second,
		IdleConnTimeout: time.Minute, MaxIdleConnsPerHost: 8}
	if mod != nil {
		mod(&o)
	}
	up, err := NewUpstream(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(up.Close)
	return up
}

func do(t *testing.T, up *Upstream, method, target string, body io.Reader) (*http.Response, string, error) {
	t.Helper()
	req, err := http.NewRequest(method, target, body)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := up.Transport.RoundTrip(req)
	if err != nil {
		return nil, "", err
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b), nil
}

func TestFastTransportReusesConnections(t *testing.T) {
	srv, conns := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/chunked":
			w.(http.Flusher).Flush()
			_, _ = io.WriteString(w, "part1")
			w.(http.Flusher).Flush()
			_, _ = io.WriteString(w, "part2")
		case "/empty":
			w.WriteHeader(http.StatusNoContent)
		case "/hints":
			w.Header().Set("Link", "</a.css>; rel=preload")
			w.WriteHeader(http.StatusEarlyHints)
			_, _ = io.WriteString(w, "after hints")
		default:
			_, _ = io.WriteString(w, "hello "+r.Method)
		}
	})
	up := newTestUpstream(t, srv.URL, nil)
	for i := 0; i < 5; i++ {
		for _, tc := range []struct{ method, path, want string }{
			{"GET", "/", "hello GET"}, {"HEAD", "/", ""}, {"GET", "/chunked", "part1part2"},
			{"DELETE", "/empty", ""}, {"GET", "/hints", "after hints"},
		} {
			resp, body, err := do(t, up, tc.method, srv.URL+tc.path, nil)
			if err != nil {
				t.Fatalf("%s %s: %v", tc.method, tc.path, err)
			}
			if body != tc.want || resp.StatusCode >= 300 {
				t.Fatalf("%s %s: %d %q, want %q", tc.method, tc.path, resp.StatusCode, body, tc.want)
			}
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("%d upstream connections for sequential requests, want 1 (reuse)", n)
	}
}

func TestFastTransportBodiesGoToFallback(t *testing.T) {
	srv, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		_, _ = io.WriteString(w, "got "+string(b))
	})
	up := newTestUpstream(t, srv.URL, nil)
	_, body, err := do(t, up, "POST", srv.URL, strings.NewReader("payload"))
	if err != nil || body != "got payload" {
		t.Fatalf("POST with body: %q %v", body, err)
	}
}

func TestFastTransportRetriesIdleCloseOnlyWhenReplayable(t *testing.T) {
	srv, conns := countingServer(t, func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") })
	up := newTestUpstream(t, srv.URL, nil)
	if _, _, err := do(t, up, "GET", srv.URL, nil); err != nil {
		t.Fatal(err)
	}
	// The upstream drops its idle connections behind the pool's back.
	srv.CloseClientConnections()
	time.Sleep(50 * time.Millisecond)
	if _, body, err := do(t, up, "GET", srv.URL, nil); err != nil || body != "ok" {
		t.Fatalf("GET after idle close must be retried: %q %v", body, err)
	}
	if n := conns.Load(); n != 2 {
		t.Errorf("connections = %d, want 2", n)
	}
	srv.CloseClientConnections()
	time.Sleep(50 * time.Millisecond)
	if _, _, err := do(t, up, "POST", srv.URL, nil); err == nil {
		t.Log("POST after idle close succeeded (the close raced the write); not retried either way")
	}
}

func TestFastTransportEarlyCloseDropsConnection(t *testing.T) {
	big := strings.Repeat("x", 1<<20)
	srv, conns := countingServer(t, func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, big) })
	up := newTestUpstream(t, srv.URL, nil)
	req, _ := http.NewRequest("GET", srv.URL, nil)
	resp, err := up.Transport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 10)
	_, _ = resp.Body.Read(buf)
	resp.Body.Close() // not drained: the connection must not be reused
	if _, _, err := do(t, up, "GET", srv.URL, nil); err != nil {
		t.Fatal(err)
	}
	if n := conns.Load(); n != 2 {
		t.Errorf("connections = %d, want 2 (early-closed one not reused)", n)
	}
}

func TestFastTransportTimeoutAndCancel(t *testing.T) {
	release := make(chan struct{})
	srv, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	up := newTestUpstream(t, srv.URL, func(o *UpstreamOptions) { o.ResponseHeaderTimeout = 100 * time.Millisecond })
	_, _, err := do(t, up, "GET", srv.URL, nil)
	if f := Classify("up", err); f.Status != http.StatusGatewayTimeout {
		t.Fatalf("slow upstream: %v classified %+v, want 504", err, f)
	}
	up2 := newTestUpstream(t, srv.URL, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL, nil)
	_, err = up2.Transport.RoundTrip(req)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("cancelled request: err %v, want the context's error", err)
	}
}

func TestFastTransportConnectionClose(t *testing.T) {
	srv, conns := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		_, _ = io.WriteString(w, "bye")
	})
	up := newTestUpstream(t, srv.URL, nil)
	for i := 0; i < 3; i++ {
		if _, body, err := do(t, up, "GET", srv.URL, nil); err != nil || body != "bye" {
			t.Fatalf("%q %v", body, err)
		}
	}
	if n := conns.Load(); n != 3 {
		t.Errorf("connections = %d, want 3 (Connection: close honoured)", n)
	}
}

func TestClassifyRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	up := newTestUpstream(t, "http://"+addr, nil)
	_, _, err = do(t, up, "GET", "http://"+addr+"/", nil)
	if f := Classify("up", err); f.Reason != ReasonRefused || f.Status != 502 {
		t.Fatalf("refused: %v -> %+v", err, f)
	}
}

func TestFastTransportReapsIdleAndRetires(t *testing.T) {
	srv, conns := countingServer(t, func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") })
	up := newTestUpstream(t, srv.URL, func(o *UpstreamOptions) { o.IdleConnTimeout = 50 * time.Millisecond })
	ft := up.Transport.(*fastTransport)
	if _, _, err := do(t, up, "GET", srv.URL, nil); err != nil {
		t.Fatal(err)
	}
	ft.reap(time.Now().Add(time.Second))
	ft.mu.Lock()
	n := len(ft.idle)
	ft.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d idle connections after reaping, want 0", n)
	}
	if _, _, err := do(t, up, "GET", srv.URL, nil); err != nil {
		t.Fatal(err)
	}
	up.Close()
	if _, _, err := do(t, up, "GET", srv.URL, nil); err != nil {
		t.Fatal(err)
	}
	ft.mu.Lock()
	n = len(ft.idle)
	ft.mu.Unlock()
	if n != 0 || conns.Load() != 3 {
		t.Fatalf("retired transport kept %d idle connections (dialled %d)", n, conns.Load())
	}
}

// TestFastHandlerClientGoneWhileUpstreamStalls: a client that gives up
// while the upstream stalls mid-body must release the handler and the
// upstream connection.
func TestFastHandlerClientGoneWhileUpstreamStalls(t *testing.T) {
	upstreamSawClose := make(chan struct{})
	back := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000")
		_, _ = io.WriteString(w, "partial")
		w.(http.Flusher).Flush()
		<-r.Context().Done() // stall until the gateway drops the connection
		close(upstreamSawClose)
	}))
	defer back.Close()
	up := newTestUpstream(t, back.URL, nil)
	h := NewHandler(RouteOptions{Route: "r", Upstream: up, OnError: func(w http.ResponseWriter, r *http.Request, f Failure) { w.WriteHeader(f.Status) }})
	gw := httptest.NewServer(h)
	defer gw.Close()
	c := &http.Client{Timeout: 300 * time.Millisecond}
	if resp, err := c.Get(gw.URL + "/"); err == nil {
		_, _ = io.ReadAll(resp.Body) // times out mid-body
		resp.Body.Close()
	}
	select {
	case <-upstreamSawClose:
	case <-time.After(5 * time.Second):
		t.Fatal("the gateway kept the stalled upstream connection after the client left")
	}
}

// TestFastTransportKeptDeadline: a pooled connection keeps the read
// deadline of its last response head (to save timer updates); when that
// deadline passes while it is idle, the connection is still reused, and
// the next slow response still times out.
func TestFastTransportKeptDeadline(t *testing.T) {
	var slow atomic.Bool
	srv, conns := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		if slow.Load() {
			time.Sleep(400 * time.Millisecond)
		}
		_, _ = io.WriteString(w, "ok")
	})
	up := newTestUpstream(t, srv.URL, func(o *UpstreamOptions) { o.ResponseHeaderTimeout = 150 * time.Millisecond })
	for i := 0; i < 3; i++ {
		if _, body, err := do(t, up, "GET", srv.URL, nil); err != nil || body != "ok" {
			t.Fatalf("request %d: %q, %v", i, body, err)
		}
		time.Sleep(200 * time.Millisecond) // the kept deadline passes
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("%d upstream connections, want 1: an expired kept deadline made the pool drop it", n)
	}
	slow.Store(true)
	_, _, err := do(t, up, "GET", srv.URL, nil)
	if f := Classify("up", err); f.Status != http.StatusGatewayTimeout {
		t.Fatalf("slow upstream: %v classified %+v, want 504", err, f)
	}
}
