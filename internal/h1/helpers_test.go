package h1

import (
	"bufio"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// testServer serves our Server (or net/http's) on a loopback listener.
type testServer struct {
	t    testing.TB
	ln   net.Listener
	srv  *Server
	wg   sync.WaitGroup
	addr string
}

// startServer serves srv on 127.0.0.1, plain TCP unless tlsConf is set
// (then each connection is handshaken before ServeConn, as the gateway
// does).
func startServer(t testing.TB, srv *Server, tlsConf *tls.Config) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{t: t, ln: ln, srv: srv, addr: ln.Addr().String()}
	ts.wg.Add(1)
	go func() {
		defer ts.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			ts.wg.Add(1)
			go func() {
				defer ts.wg.Done()
				if tlsConf != nil {
					tc := tls.Server(c, tlsConf)
					if err := tc.Handshake(); err != nil {
						c.Close()
						return
					}
					c = tc
				}
				srv.ServeConn(c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		srv.Close()
		ts.wg.Wait()
	})
	return ts
}

// startNetHTTP serves h with net/http's server on 127.0.0.1.
func startNetHTTP(t testing.TB, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: h, ErrorLog: discardLogger()}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
	return ln.Addr().String()
}

func (ts *testServer) dial() net.Conn {
	ts.t.Helper()
	c, err := net.Dial("tcp", ts.addr)
	if err != nil {
		ts.t.Fatal(err)
	}
	ts.t.Cleanup(func() { c.Close() })
	return c
}

// exchange sends raw on a new connection and returns everything the
// server sent until it closed the connection (or 5s passed).
func exchange(t testing.TB, addr, raw string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(c)
	return string(b)
}

// statusOf returns the status code of the first response in raw (0 when
// none).
func statusOf(raw string) int {
	resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(raw)), nil)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// readResponses parses consecutive responses from raw, the first to a
// request with the given method, the others to GETs. A body that ends
// early is kept with a note of the error.
func readResponses(t testing.TB, raw string, method string) []*http.Response {
	t.Helper()
	br := bufio.NewReader(strings.NewReader(raw))
	var out []*http.Response
	for {
		if _, err := br.Peek(1); err != nil {
			return out
		}
		resp, err := http.ReadResponse(br, &http.Request{Method: method})
		if err != nil {
			t.Fatalf("response %d: %v\nraw: %q", len(out), err, raw)
		}
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			b = append(b, " <"+err.Error()+">"...)
		}
		resp.Body = io.NopCloser(strings.NewReader(string(b)))
		out = append(out, resp)
		method = http.MethodGet
	}
}

// getBody sends "GET path" on c and returns the response's body, read through
// br (the connection's reader).
func getBody(t testing.TB, c net.Conn, br *bufio.Reader, path string) string {
	t.Helper()
	io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: a\r\n\r\n")
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	return bodyString(resp)
}

func bodyString(resp *http.Response) string {
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// snapshot is what a handler saw of a request (copied: the request is
// pooled).
type snapshot struct {
	Method           string
	URL              string
	URLParts         url.URL
	Proto            string
	ProtoMajor       int
	ProtoMinor       int
	Header           http.Header
	Host             string
	ContentLength    int64
	TransferEncoding []string
	Close            bool
	RequestURI       string
	Body             string
	BodyErr          string
	Trailer          http.Header
	HasRemoteAddr    bool
	HasTLS           bool
}

func takeSnapshot(r *http.Request) snapshot {
	b, err := io.ReadAll(r.Body)
	s := snapshot{
		Method: r.Method, URL: r.URL.String(), URLParts: *r.URL,
		Proto: r.Proto, ProtoMajor: r.ProtoMajor, ProtoMinor: r.ProtoMinor,
		Header: r.Header.Clone(), Host: r.Host, ContentLength: r.ContentLength,
		TransferEncoding: slices.Clone(r.TransferEncoding), Close: r.Close,
		RequestURI: r.RequestURI, Body: string(b), Trailer: r.Trailer.Clone(),
		HasRemoteAddr: r.RemoteAddr != "", HasTLS: r.TLS != nil,
	}
	s.URLParts.User = nil
	if err != nil {
		s.BodyErr = err.Error()
	}
	if len(s.Header) == 0 {
		s.Header = nil
	}
	if len(s.Trailer) == 0 {
		s.Trailer = nil
	}
	return s
}

// recorder is a handler that snapshots every request and answers 200
// "ok".
type recorder struct {
	mu    sync.Mutex
	snaps []snapshot
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s := takeSnapshot(r)
	rec.mu.Lock()
	rec.snaps = append(rec.snaps, s)
	rec.mu.Unlock()
	w.Header().Set("Content-Type", "text/plain")
	io.WriteString(w, "ok")
}

func (rec *recorder) all() []snapshot {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return slices.Clone(rec.snaps)
}

func (rec *recorder) reset() {
	rec.mu.Lock()
	rec.snaps = nil
	rec.mu.Unlock()
}

func discardLogger() *log.Logger { return log.New(io.Discard, "", 0) }

// logSink collects ErrorLog output.
type logSink struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (l *logSink) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logSink) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func isClosedErr(err error) bool {
	return err != nil && (errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || strings.Contains(err.Error(), "reset"))
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
