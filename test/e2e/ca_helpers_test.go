package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Helpers for the built-in CA tests (ca_test.go): they drive `mtlsgate
// init`, `mtlsgate ca ...` and openssl as an operator would, and read the
// results back through the same tools.

const cliTimeout = 30 * time.Second

// mustRun runs mtlsgate with args and fails the test unless it exits 0; it
// returns stdout. Its stderr must not show a crash either way.
func mustRun(t testing.TB, args ...string) string {
	t.Helper()
	code, out, errOut := runBinary(t, cliTimeout, args...)
	checkNoCrash(t, "mtlsgate "+strings.Join(args, " "), out+errOut)
	if code != 0 {
		t.Fatalf("mtlsgate %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// mustFail runs mtlsgate with args and fails the test unless it exits
// non-zero without crashing; it returns stdout and stderr.
func mustFail(t testing.TB, args ...string) (stdout, stderr string) {
	t.Helper()
	code, out, errOut := runBinary(t, cliTimeout, args...)
	checkNoCrash(t, "mtlsgate "+strings.Join(args, " "), out+errOut)
	if code == 0 {
		t.Fatalf("mtlsgate %s: exit 0, want a failure\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), out, errOut)
	}
	return out, errOut
}

// caRun runs `mtlsgate ca SUB ARGS --dir dir` and returns stdout.
func caRun(t testing.TB, dir string, args ...string) string {
	t.Helper()
	return mustRun(t, append(append([]string{"ca"}, args...), "--dir", dir)...)
}

// caFail runs `mtlsgate ca SUB ARGS --dir dir`, which must fail; it returns
// stderr.
func caFail(t testing.TB, dir string, args ...string) string {
	t.Helper()
	_, errOut := mustFail(t, append(append([]string{"ca"}, args...), "--dir", dir)...)
	return errOut
}

// runOpenSSL runs openssl with args and returns its combined output and
// error; openssl ocsp and crl print verdicts on both streams.
func runOpenSSL(t testing.TB, args ...string) (string, error) {
	t.Helper()
	return runTool(t, needTool(t, "openssl"), args...)
}

// runTool runs an external program (60s limit) and returns its combined
// output and error.
func runTool(t testing.TB, bin string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%s %v did not finish in 60s:\n%s", bin, args, out.String())
	}
	return out.String(), err
}

// mustOpenSSL is runOpenSSL that fails the test on a non-zero exit.
func mustOpenSSL(t testing.TB, args ...string) string {
	t.Helper()
	out, err := runOpenSSL(t, args...)
	if err != nil {
		t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// opensslSerial returns a certificate's serial as `openssl x509 -serial`
// prints it, without the "serial=" prefix (upper-case hex, no colons).
func opensslSerial(t testing.TB, certFile string) string {
	t.Helper()
	out := strings.TrimSpace(mustOpenSSL(t, "x509", "-noout", "-serial", "-in", certFile))
	s, ok := strings.CutPrefix(out, "serial=")
	if !ok {
		t.Fatalf("openssl x509 -serial printed %q", out)
	}
	return s
}

// withColons writes hex as openssl x509 -text does: "0A:1B:...".
func withColons(hex string) string {
	var parts []string
	for i := 0; i+2 <= len(hex); i += 2 {
		parts = append(parts, hex[i:i+2])
	}
	return strings.Join(parts, ":")
}

// readCerts parses every CERTIFICATE block of a PEM file.
func readCerts(t testing.TB, file string) []*x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var out []*x509.Certificate
	for b, rest := pem.Decode(data); b != nil; b, rest = pem.Decode(rest) {
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		t.Fatalf("%s: no certificate", file)
	}
	return out
}

// checkMode fails the test unless file has permission bits want.
func checkMode(t testing.TB, file string, want os.FileMode) {
	t.Helper()
	fi, err := os.Stat(file)
	if err != nil {
		t.Error(err)
		return
	}
	if got := fi.Mode().Perm(); got != want {
		t.Errorf("%s: mode %v, want %v", file, got, want)
	}
}

// caCert is one entry of `ca list --json`.
type caCert struct {
	Serial   string    `json:"serial"`
	CN       string    `json:"cn"`
	Profile  string    `json:"profile"`
	NotAfter time.Time `json:"not_after"`
	Status   string    `json:"status"`
	Reason   string    `json:"reason"`
}

// caList runs `ca list --json` with extra flags.
func caList(t testing.TB, dir string, flags ...string) []caCert {
	t.Helper()
	out := caRun(t, dir, append([]string{"list", "--json"}, flags...)...)
	var certs []caCert
	if err := json.Unmarshal([]byte(out), &certs); err != nil {
		t.Fatalf("ca list --json %v: %v\n%s", flags, err, out)
	}
	return certs
}

// caAuditEntry is one line of `ca audit --json` (field names matched
// case-insensitively).
type caAuditEntry struct {
	Actor, Action, Serial, Detail string
}

func caAudit(t testing.TB, dir string) []caAuditEntry {
	t.Helper()
	out := caRun(t, dir, "audit", "--json")
	var entries []caAuditEntry
	dec := json.NewDecoder(strings.NewReader(out))
	for dec.More() {
		var e caAuditEntry
		if err := dec.Decode(&e); err != nil {
			t.Fatalf("ca audit --json: %v\n%s", err, out)
		}
		entries = append(entries, e)
	}
	return entries
}

// initSetup is a directory made by `mtlsgate init` and its addresses.
type initSetup struct {
	dir                          string
	listen, pki, admin, upstream string
}

func (s initSetup) path(elem ...string) string {
	return filepath.Join(append([]string{s.dir}, elem...)...)
}

// initFlags gives init a free port for each of its four addresses.
func initFlags(t testing.TB, dir string) (initSetup, []string) {
	s := initSetup{dir: dir, listen: freePort(t), pki: freePort(t), admin: freePort(t), upstream: freePort(t)}
	return s, []string{"--listen", s.listen, "--pki-listen", s.pki, "--admin", s.admin, "--upstream", s.upstream}
}

// runInit runs `mtlsgate init` into a new t.TempDir()/demo.
func runInit(t testing.TB) initSetup {
	t.Helper()
	s, flags := initFlags(t, filepath.Join(t.TempDir(), "demo"))
	mustRun(t, append([]string{"init", s.dir}, flags...)...)
	return s
}

// serveInit serves an init setup's mtlsgate.yaml, rewritten by edit when
// not nil, and waits for the public and pki listeners.
func serveInit(t testing.TB, s initSetup, edit func(string) string) *gatewayProc {
	t.Helper()
	data, err := os.ReadFile(s.path("mtlsgate.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	yaml := string(data)
	if edit != nil {
		yaml = edit(yaml)
	}
	return startGateway(t, s.dir, yaml, "public", "pki")
}

// curlAs calls the setup's gateway at path as client ("alice", "bob" or ""
// for no certificate).
func (s initSetup) curlAs(t testing.TB, client, path string, extra ...string) curlResult {
	t.Helper()
	args := []string{"--cacert", s.path("pki", "root.pem")}
	if client != "" {
		args = append(args, "--cert", s.path("clients", client+"-chain.pem"), "--key", s.path("clients", client+".key"))
	}
	return runCurl(t, append(append(args, extra...), "https://"+s.listen+path)...)
}

// tlsConfigFor is a Go client config trusting root (a PEM file) and
// presenting the certificate chain and key in certFile/keyFile.
func tlsConfigFor(t testing.TB, root, certFile, keyFile string) *tls.Config {
	t.Helper()
	pool := x509.NewCertPool()
	for _, c := range readCerts(t, root) {
		pool.AddCert(c)
	}
	cfg := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	if certFile != "" {
		kp, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Certificates = []tls.Certificate{kp}
	}
	return cfg
}

// connTracker counts the TCP connections an http.Transport dials and
// records, per connection, whether it has been closed: a read failed (the
// peer closed it) or the client closed it (e.g. on an HTTP/2 GOAWAY).
type connTracker struct {
	mu    sync.Mutex
	conns []*trackedConn
}

type trackedConn struct {
	net.Conn
	readErr atomic.Bool
}

func (c *trackedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if err != nil {
		c.readErr.Store(true)
	}
	return n, err
}

// Close records the client closing the connection (after the server's
// GOAWAY or TLS close_notify, the transport closes it without another read
// of the socket).
func (c *trackedConn) Close() error {
	c.readErr.Store(true)
	return c.Conn.Close()
}

func (c *trackedConn) closed() bool { return c.readErr.Load() }

func (ct *connTracker) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	tc := &trackedConn{Conn: c}
	ct.mu.Lock()
	ct.conns = append(ct.conns, tc)
	ct.mu.Unlock()
	return tc, nil
}

func (ct *connTracker) dials() int {
	ct.mu.Lock()
	defer ct.mu.Unlock()
	return len(ct.conns)
}

func (ct *connTracker) conn(i int) *trackedConn {
	ct.mu.Lock()
	defer ct.mu.Unlock()
	return ct.conns[i]
}

// trackedClient is an http.Client over TLS config cfg, speaking HTTP/2
// when h2 is set and HTTP/1.1 (keep-alive) otherwise, whose connections
// ct tracks.
func trackedClient(cfg *tls.Config, h2 bool, ct *connTracker) *http.Client {
	tr := &http.Transport{TLSClientConfig: cfg, DialContext: ct.dial, ForceAttemptHTTP2: h2, MaxIdleConnsPerHost: 1}
	if !h2 {
		tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	}
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// listenersReady is a startProc readiness check: every listener in names
// has logged its bound address (recorded in g.addrs).
func listenersReady(names ...string) func(*gatewayProc) bool {
	return func(g *gatewayProc) bool {
		for _, m := range g.stderr.JSON() {
			if m["msg"] == "listening" {
				name, _ := m["listener"].(string)
				addr, _ := m["address"].(string)
				g.addrs[name] = addr
			}
		}
		for _, n := range names {
			if g.addrs[n] == "" {
				return false
			}
		}
		return true
	}
}
