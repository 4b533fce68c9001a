package proxy

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"github.com/mtlsgate/mtlsgate/internal/h1"
	"github.com/mtlsgate/mtlsgate/internal/h2"
)

// stallingUpstream answers with a head and part of a body, then stalls
// until the gateway drops the connection, which it reports on the
// returned channel. The proxy sends nothing to the client before the
// body's first buffer is full, so the client sees nothing.
func stallingUpstream(t *testing.T) (*Upstream, <-chan struct{}) {
	sawClose := make(chan struct{}, 1)
	back := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000")
		_, _ = io.WriteString(w, "partial")
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
			sawClose <- struct{}{}
		case <-time.After(10 * time.Second): // the test has failed by now
		}
	}))
	t.Cleanup(back.Close)
	return newTestUpstream(t, back.URL, nil), sawClose
}

func waitUpstreamClose(t *testing.T, sawClose <-chan struct{}) {
	t.Helper()
	select {
	case <-sawClose:
	case <-time.After(5 * time.Second):
		t.Fatal("the gateway kept the stalled upstream connection after the client left")
	}
}

// serveWith serves h on a loopback listener with serveConn per connection.
func serveWith(t *testing.T, serveConn func(net.Conn)) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go serveConn(c)
		}
	}()
	return ln.Addr().String()
}

// TestClientGoneH1AbortsUpstream: behind the h1 server (whose request
// context has connctx's watch slot), a client that disconnects while the
// upstream stalls mid-body ends the upstream exchange.
func TestClientGoneH1AbortsUpstream(t *testing.T) {
	up, sawClose := stallingUpstream(t)
	h := NewHandler(RouteOptions{Route: "r", Upstream: up, OnError: func(w http.ResponseWriter, r *http.Request, f Failure) { w.WriteHeader(f.Status) }})
	srv := &h1.Server{Handler: h}
	addr := serveWith(t, srv.ServeConn)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // the handler waits on the stalled body
	c.Close()
	waitUpstreamClose(t, sawClose)
}

// TestClientGoneH2AbortsUpstream: behind the h2 server, a stream reset
// by the client and a connection closed by the client each end their
// stalled upstream exchange (the stream's watch slot fires on the reset,
// and on the connection's end through the connection).
func TestClientGoneH2AbortsUpstream(t *testing.T) {
	for _, how := range []string{"reset stream", "close connection"} {
		t.Run(how, func(t *testing.T) {
			up, sawClose := stallingUpstream(t)
			h := NewHandler(RouteOptions{Route: "r", Upstream: up, OnError: func(w http.ResponseWriter, r *http.Request, f Failure) { w.WriteHeader(f.Status) }})
			srv := &h2.Server{Handler: h}
			addr := serveWith(t, srv.ServeConn)
			conns := make(chan net.Conn, 1)
			tr := &http2.Transport{AllowHTTP: true, DialTLSContext: func(ctx context.Context, network, a string, _ *tls.Config) (net.Conn, error) {
				c, err := net.Dial(network, a)
				if err == nil {
					conns <- c
				}
				return c, err
			}}
			defer tr.CloseIdleConnections()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+addr+"/", nil)
			go func() {
				time.Sleep(200 * time.Millisecond) // the handler waits on the stalled body
				if how == "reset stream" {
					cancel() // RST_STREAM(CANCEL)
				} else {
					(<-conns).Close()
				}
			}()
			if resp, err := tr.RoundTrip(req); err == nil {
				resp.Body.Close()
			}
			waitUpstreamClose(t, sawClose)
		})
	}
}
