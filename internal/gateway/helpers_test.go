package gateway

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mtlsgate/mtlsgate/internal/testpki"
)

// env is a gateway under test with its PKI and an upstream.
type env struct {
	t        testing.TB
	dir      string
	root     *testpki.CA
	clients  *testpki.CA
	server   *testpki.Leaf
	upstream *httptest.Server
	seen     chan http.Header
	g        *Gateway
	logs     *syncBuffer
	cancel   context.CancelFunc
	done     chan error
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// newEnv writes PKI files and an http upstream that echoes identity headers.
func newEnv(t *testing.T) *env { return newEnvTB(t) }

func newBenchEnv(b *testing.B) *env {
	e := newEnvTB(b)
	e.start(baseConfig)
	return e
}

func newEnvTB(t testing.TB) *env {
	t.Helper()
	e := &env{t: t, dir: t.TempDir(), seen: make(chan http.Header, 100), logs: &syncBuffer{}}
	e.root = testpki.NewRootCA(t, "Test Server Root")
	e.clients = testpki.NewRootCA(t, "Test Clients Root")
	e.server = e.root.Issue(t, testpki.Options{CN: "localhost", DNS: []string{"localhost", "strict.example.com", "open.example.com"}, IPs: []net.IP{net.ParseIP("127.0.0.1")}})
	e.server.WriteLeaf(t, e.dir, "server")
	e.clients.WriteCA(t, e.dir, "clients-ca")
	e.upstream = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case e.seen <- r.Header.Clone():
		default:
		}
		_, _ = io.WriteString(w, "upstream ok "+r.URL.Path)
	}))
	t.Cleanup(e.upstream.Close)
	return e
}

// start writes cfg (with {{UPSTREAM}} replaced) and runs the gateway.
func (e *env) start(cfg string) {
	e.t.Helper()
	path := e.writeConfig(cfg)
	g, err := New(Options{ConfigPath: path, Logger: slog.New(slog.NewJSONHandler(e.logs, nil)), DrainTimeout: 2 * time.Second})
	if err != nil {
		e.t.Fatalf("New: %v", err)
	}
	e.g = g
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	e.done = make(chan error, 1)
	go func() { e.done <- g.Run(ctx) }()
	deadline := time.Now().Add(5 * time.Second)
	for g.Addr("public") == "" {
		if time.Now().After(deadline) {
			e.t.Fatal("gateway did not start")
		}
		time.Sleep(10 * time.Millisecond)
	}
	e.t.Cleanup(func() {
		cancel()
		select {
		case <-e.done:
		case <-time.After(5 * time.Second):
			e.t.Error("gateway did not stop")
		}
	})
}

func (e *env) writeConfig(cfg string) string {
	e.t.Helper()
	cfg = strings.ReplaceAll(cfg, "{{UPSTREAM}}", e.upstream.URL)
	path := filepath.Join(e.dir, "mtlsgate.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		e.t.Fatal(err)
	}
	return path
}

// client returns an HTTP client presenting leaf (nil: none) to the gateway.
func (e *env) client(leaf *testpki.Leaf, h2 bool, mod func(*tls.Config)) *http.Client {
	pool := x509.NewCertPool()
	pool.AddCert(e.root.Cert)
	tc := &tls.Config{RootCAs: pool, ServerName: "localhost"}
	if leaf != nil {
		// Always send the certificate, even when its issuer is not among the
		// server's acceptable CAs (as curl does), so refusals can be tested.
		c := leaf.TLSCertificate()
		tc.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &c, nil }
	}
	if mod != nil {
		mod(tc)
	}
	tr := &http.Transport{TLSClientConfig: tc, ForceAttemptHTTP2: h2}
	e.t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

func (e *env) url(path string) string { return "https://" + e.g.Addr("public") + path }

type result struct {
	status int
	body   string
	prob   map[string]any
}

func (e *env) get(c *http.Client, url string, hdr map[string]string) result {
	e.t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		return result{status: -1, body: err.Error()}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	r := result{status: resp.StatusCode, body: string(b)}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/problem+json") {
		_ = json.Unmarshal(b, &r.prob)
	}
	return r
}

const baseConfig = `listeners:
  - name: public
    address: 127.0.0.1:0
    tls:
      cert: server.pem
      key: server.key
      client_ca: clients-ca.pem
      client_auth: request
upstreams:
  - name: up
    url: {{UPSTREAM}}
routes:
  - name: secure
    match: {path_prefix: /secure/, methods: [GET]}
    upstream: up
    client_cert: required
    allow:
      - cn: alice
  - name: strict
    match: {host: strict.example.com, path_prefix: /}
    upstream: up
    client_cert: required
    allow:
      - cn: alice
  - name: open
    match: {host: open.example.com, path_prefix: /}
    upstream: up
    client_cert: none
  - name: any-cert
    match: {path_prefix: /any/}
    upstream: up
    client_cert: required
`

func expectStatus(t testing.TB, what string, r result, want int) {
	t.Helper()
	if r.status != want {
		t.Fatalf("%s: status %d, want %d (body: %s)", what, r.status, want, r.body)
	}
}

func reason(r result) string { return fmt.Sprint(r.prob["reason"]) }
