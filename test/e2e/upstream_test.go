package e2e

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mtlsgate/mtlsgate/internal/testpki"
)

// seenRequest is what the upstream received from the gateway.
type seenRequest struct {
	Method     string
	Host       string
	Path       string
	RequestURI string // as received on the wire
	Header     http.Header
	Body       string
	// Peer is the client certificate the gateway presented to the upstream.
	Peer *x509.Certificate
}

// upstream is an in-process HTTPS server that, like a real service behind
// the gateway, requires a client certificate issued by the CA it trusts
// (normally the gateway-client CA). It records every request. Safe for
// concurrent use.
type upstream struct {
	srv   *httptest.Server
	mu    sync.Mutex
	last  *seenRequest
	count atomic.Int64
}

// newUpstream starts an upstream serving p.backend and trusting clientCA
// for client certificates (p.gwClientCA to accept the gateway; another CA
// to refuse it). A request whose path ends in "/slow" is answered after a
// second; one with "X-Test-Hop: 1" gets a response naming X-Hop-Secret as a
// hop-by-hop header (Connection: X-Hop-Secret), which must not reach the
// client.
func newUpstream(t testing.TB, p *pki, clientCA *testpki.CA) *upstream {
	t.Helper()
	return newUpstreamWith(t, p, clientCA, nil)
}

// newUpstreamWith is newUpstream with a hook to adjust the server (timeouts)
// before it starts.
func newUpstreamWith(t testing.TB, p *pki, clientCA *testpki.CA, adjust func(*http.Server)) *upstream {
	t.Helper()
	u := &upstream{}
	u.srv = httptest.NewUnstartedServer(http.HandlerFunc(u.serve))
	u.srv.TLS = &tls.Config{
		Certificates: []tls.Certificate{p.backend.TLSCertificate()},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    clientCA.Pool(),
		MinVersion:   tls.VersionTLS12,
	}
	// Refused handshakes are expected in some tests; keep them out of the
	// test output.
	u.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	if adjust != nil {
		adjust(u.srv.Config)
	}
	u.srv.StartTLS()
	t.Cleanup(u.srv.Close)
	return u
}

func (u *upstream) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	s := &seenRequest{Method: r.Method, Host: r.Host, Path: r.URL.Path, RequestURI: r.RequestURI,
		Header: r.Header.Clone(), Body: string(body)}
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		s.Peer = r.TLS.PeerCertificates[0]
	}
	u.mu.Lock()
	u.last = s
	u.mu.Unlock()
	u.count.Add(1)
	if len(r.URL.Path) >= 5 && r.URL.Path[len(r.URL.Path)-5:] == "/slow" {
		time.Sleep(time.Second)
	}
	if r.Header.Get("X-Test-Hop") != "" {
		w.Header().Set("Connection", "X-Hop-Secret")
		w.Header().Set("X-Hop-Secret", "must-not-pass")
		w.Header().Set("Keep-Alive", "timeout=5")
	}
	w.Header().Set("X-Upstream", "orders")
	w.Header().Set("Content-Type", "text/plain")
	if q := r.URL.Query(); q.Has("status") || q.Has("size") {
		shapedResponse(w, q)
		return
	}
	_, _ = io.WriteString(w, "upstream ok "+r.URL.Path+"\n")
}

// shapedResponse answers as the query asks: early=1 sends 103 Early Hints
// first, status=N sets the status, size=N sends N bytes ('x'), chunked=1
// streams them without Content-Length in 16 KiB flushes, trailer=1 adds an
// X-Checksum trailer.
func shapedResponse(w http.ResponseWriter, q url.Values) {
	status, _ := strconv.Atoi(q.Get("status"))
	if status == 0 {
		status = 200
	}
	size, _ := strconv.Atoi(q.Get("size"))
	if q.Get("early") == "1" {
		w.Header().Set("Link", "</style.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
	}
	if q.Get("trailer") == "1" {
		w.Header().Set("Trailer", "X-Checksum")
	}
	if q.Get("chunked") != "1" && status != 204 && status != 304 {
		w.Header().Set("Content-Length", strconv.Itoa(size))
	}
	w.WriteHeader(status)
	chunk := bytes.Repeat([]byte("x"), 16<<10)
	for left := size; left > 0; left -= len(chunk) {
		n := min(left, len(chunk))
		if _, err := w.Write(chunk[:n]); err != nil {
			return
		}
		if q.Get("chunked") == "1" {
			http.NewResponseController(w).Flush()
		}
	}
	if q.Get("trailer") == "1" {
		w.Header().Set("X-Checksum", "size-"+strconv.Itoa(size))
	}
}

// URL is the upstream's base URL (https://127.0.0.1:PORT).
func (u *upstream) URL() string { return u.srv.URL }

// Last returns the last request received, or nil.
func (u *upstream) Last() *seenRequest {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.last
}

// Reset forgets the last request.
func (u *upstream) Reset() {
	u.mu.Lock()
	u.last = nil
	u.mu.Unlock()
}
