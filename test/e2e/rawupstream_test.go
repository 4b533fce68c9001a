package e2e

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"sync"
	"testing"

	"github.com/mtlsgate/mtlsgate/internal/testpki"
)

// rawUpstream is an mTLS upstream that writes its HTTP/1.1 responses by
// hand, to play a misbehaving backend. respond returns the bytes to write
// for a request (written in one call). Safe for concurrent use.
type rawUpstream struct {
	ln   net.Listener
	wg   sync.WaitGroup
	mu   sync.Mutex
	seen []string // request-targets in arrival order
}

func newRawUpstream(t testing.TB, p *pki, respond func(*http.Request) string) *rawUpstream {
	t.Helper()
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &rawUpstream{ln: tls.NewListener(inner, &tls.Config{
		Certificates: []tls.Certificate{p.backend.TLSCertificate()},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    p.gwClientCA.Pool(),
		MinVersion:   tls.VersionTLS12,
	})}
	u.wg.Add(1)
	go func() {
		defer u.wg.Done()
		for {
			c, err := u.ln.Accept()
			if err != nil {
				return
			}
			u.wg.Add(1)
			go func() {
				defer u.wg.Done()
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					u.mu.Lock()
					u.seen = append(u.seen, req.RequestURI)
					u.mu.Unlock()
					if _, err := c.Write([]byte(respond(req))); err != nil {
						return
					}
				}
			}()
		}
	}()
	t.Cleanup(func() { u.ln.Close(); u.wg.Wait() })
	return u
}

// URL is the upstream's base URL.
func (u *rawUpstream) URL() string { return "https://" + u.ln.Addr().String() }

// rawResponse renders a minimal HTTP/1.1 200 response.
func rawResponse(body string) string {
	return fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
}

// TestRegressionUpstreamResponseQueuePoisoning — regression test (security) for a gateway bug found by this suite and fixed.
//
// An upstream response whose Content-Length is shorter than what the
// upstream actually wrote (a real bug class: lengths counted in characters,
// not bytes, or a HEAD/204 handler that writes a body) leaves bytes on the
// pooled upstream connection. When those bytes are a complete HTTP
// response — e.g. attacker-controlled content reflected in such a body —
// the body-less fast path serves them as the answer to the next request on
// that connection, which can be another client's: a cross-client response
// injection, and every later response on the connection is shifted by one
// (each client gets the previous request's answer). internal/proxy/fast.go
// release/put (lines ~273, ~148) pool the connection without checking that
// nothing is left in pc.br, and flushAndRead's Peek(1) then returns the
// stale bytes at once. net/http's
// Transport closes a connection that receives data while idle
// ("Unsolicited response received on idle HTTP channel"), so the build
// before the fast path answers the victim with the upstream's real
// response.
func TestRegressionUpstreamResponseQueuePoisoning(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	up := newRawUpstream(t, p, func(r *http.Request) string {
		if r.URL.Path == "/api/any/poison" {
			return "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok" + rawResponse("INJECTED for whoever comes next")
		}
		return rawResponse("upstream ok " + r.URL.Path)
	})
	g := startGateway(t, p.dir, fill(baseConfig, map[string]string{"UPSTREAM": up.URL()}))
	e := &env{t: t, p: p, g: g}
	mallory := p.client(t, "mallory", testpki.Options{CN: "mallory"})
	victim := p.client(t, "victim", testpki.Options{CN: "victim"})

	for _, proto := range []string{"--http1.1", "--http2"} {
		expect(t, "warm-up", e.curl(&victim, "/api/any/warm", proto), 200)
		expect(t, "mallory's poisoned response", e.curl(&mallory, "/api/any/poison", proto), 200)
		for i := 0; i < 2; i++ {
			path := fmt.Sprintf("/api/any/victim/%s/%d", proto[2:], i)
			r := e.curl(&victim, path, proto)
			if r.body != "upstream ok "+path {
				t.Errorf("victim's GET %s (%s) was answered with %q (status %d), not the upstream's response to it",
					path, proto[2:], r.body, r.status)
			}
		}
	}
}
