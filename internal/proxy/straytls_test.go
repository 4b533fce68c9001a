package proxy

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mtlsgate/mtlsgate/internal/testpki"
)

// holdConn keeps what is written while hold is set and sends it in one
// write on flush, so that two TLS records reach the peer in one segment.
type holdConn struct {
	net.Conn
	mu   sync.Mutex
	hold bool
	buf  []byte
}

func (c *holdConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.hold {
		c.buf = append(c.buf, p...)
		return len(p), nil
	}
	return c.Conn.Write(p)
}

func (c *holdConn) flush() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.hold = false
	_, err := c.Conn.Write(c.buf)
	c.buf = nil
	return err
}

// TestFastTransportStrayTLSRecord: an upstream sends, after a complete
// response, a second TLS record in the same TCP segment (here: the rest of
// a body longer than its Content-Length). crypto/tls has read that record
// already, so neither the buffered-bytes check nor the idle peek at the
// socket sees it; pooled, the connection would hand those bytes to the
// next request as its response. The connection must not be reused, with
// or without a response-header timeout (which moves read deadlines).
func TestFastTransportStrayTLSRecord(t *testing.T) {
	for _, timeout := range []time.Duration{2 * time.Second, 0} {
		t.Run(timeout.String(), func(t *testing.T) { testStrayTLSRecord(t, timeout) })
	}
}

func testStrayTLSRecord(t *testing.T, respHeaderTimeout time.Duration) {
	ca := testpki.NewRootCA(t, "Upstream CA")
	leaf := ca.Issue(t, testpki.Options{CN: "up.internal", DNS: []string{"up.internal"}})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var conns atomic.Int32
	go func() {
		for {
			raw, err := ln.Accept()
			if err != nil {
				return
			}
			first := conns.Add(1) == 1
			go func() {
				hc := &holdConn{Conn: raw}
				tc := tls.Server(hc, &tls.Config{Certificates: []tls.Certificate{leaf.TLSCertificate()}})
				defer tc.Close()
				br := bufio.NewReader(tc)
				for {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					if first {
						hc.mu.Lock()
						hc.hold = true
						hc.mu.Unlock()
						io.WriteString(tc, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst")
						io.WriteString(tc, "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nstray!")
						if hc.flush() != nil {
							return
						}
						continue
					}
					io.WriteString(tc, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"+req.URL.Path[1:])
				}
			}()
		}
	}()
	u, _ := url.Parse("https://" + ln.Addr().String())
	up, err := NewUpstream(UpstreamOptions{Name: "up", URL: u, RootCAs: ca.Pool(), ServerName: "up.internal",
		DialTimeout: time.Second, ResponseHeaderTimeout: respHeaderTimeout, IdleConnTimeout: time.Minute, MaxIdleConnsPerHost: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	if _, body, err := do(t, up, "GET", u.String()+"/first", nil); err != nil || body != "first" {
		t.Fatalf("first: %q, %v", body, err)
	}
	time.Sleep(20 * time.Millisecond) // pooled (or not) by now
	_, body, err := do(t, up, "GET", u.String()+"/secnd", nil)
	if err != nil || body != "secnd" {
		t.Fatalf("second request got %q, %v: the stray record of the first connection was taken for its response", body, err)
	}
	if n := conns.Load(); n != 2 {
		t.Errorf("%d upstream connections, want 2 (the first one must not be reused)", n)
	}
}

// TestClientConfigServerName: without a configured server name, the
// dialled host is verified, as tls.Dialer does; the shared configuration
// is left alone.
func TestClientConfigServerName(t *testing.T) {
	shared := &tls.Config{}
	tr := &fastTransport{addr: "up.internal:8443", tlsConfig: shared}
	if got := tr.clientConfig().ServerName; got != "up.internal" {
		t.Errorf("server name %q, want up.internal", got)
	}
	if shared.ServerName != "" {
		t.Error("the shared configuration was changed")
	}
	shared.ServerName = "named.internal"
	if got := tr.clientConfig(); got != shared {
		t.Errorf("a configured server name was not kept: %q", got.ServerName)
	}
}

// TestFastTransportReusesTLSConnections: after the stray-record check
// (a held read through crypto/tls) a TLS upstream connection is still
// reused, with or without a configured server name and a response-header
// timeout: the check must not leave an error on the connection.
func TestFastTransportReusesTLSConnections(t *testing.T) {
	ca := testpki.NewRootCA(t, "Upstream CA")
	leaf := ca.Issue(t, testpki.Options{CN: "127.0.0.1", IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	for _, tc := range []struct {
		name       string
		serverName string
		timeout    time.Duration
	}{{"server name and timeout", "127.0.0.1", 2 * time.Second}, {"neither", "", 0}} {
		t.Run(tc.name, func(t *testing.T) {
			var conns atomic.Int32
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, "hello "+r.URL.Path)
			}))
			srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
				if s == http.StateNew {
					conns.Add(1)
				}
			}
			srv.TLS = &tls.Config{Certificates: []tls.Certificate{leaf.TLSCertificate()}}
			srv.StartTLS()
			defer srv.Close()
			u, _ := url.Parse(srv.URL)
			up, err := NewUpstream(UpstreamOptions{Name: "up", URL: u, RootCAs: ca.Pool(), ServerName: tc.serverName,
				DialTimeout: time.Second, ResponseHeaderTimeout: tc.timeout, IdleConnTimeout: time.Minute, MaxIdleConnsPerHost: 4})
			if err != nil {
				t.Fatal(err)
			}
			defer up.Close()
			for i := range 5 {
				path := fmt.Sprintf("/r%d", i)
				if _, body, err := do(t, up, "GET", srv.URL+path, nil); err != nil || body != "hello "+path {
					t.Fatalf("request %d: %q, %v", i, body, err)
				}
			}
			if n := conns.Load(); n != 1 {
				t.Errorf("%d upstream connections for 5 sequential requests, want 1", n)
			}
		})
	}
}
