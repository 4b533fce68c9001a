package e2e

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mtlsgate/mtlsgate/internal/testpki"
)

// writeAtomic replaces dir/name with data the way secret managers do:
// write a temporary file in the same directory, then rename it over.
func writeAtomic(t testing.TB, dir, name string, data []byte) {
	t.Helper()
	f, err := os.CreateTemp(dir, "."+name+".tmp-*")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := f.Chmod(0o600); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(f.Name(), filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
}

// serverSerial opens a new TLS connection to addr and returns the serial
// of the certificate the gateway presents.
func serverSerial(t testing.TB, p *pki, addr string) *big.Int {
	t.Helper()
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 5 * time.Second}, Config: p.tlsClientConfig(nil, "localhost")}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		t.Fatalf("TLS dial %s: %v", addr, err)
	}
	defer c.Close()
	return c.(*tls.Conn).ConnectionState().PeerCertificates[0].SerialNumber
}

// loadResult is what the load generator saw.
type loadResult struct {
	requests, failures atomic.Int64
	mu                 sync.Mutex
	errors             []string
	serials            map[string]bool // server cert serials seen on new connections
}

func (lr *loadResult) fail(msg string) {
	lr.failures.Add(1)
	lr.mu.Lock()
	if len(lr.errors) < 10 {
		lr.errors = append(lr.errors, msg)
	}
	lr.mu.Unlock()
}

// runLoad sends GET url from four goroutines until ctx ends or max
// requests were sent: one HTTP/1.1 keep-alive client, one HTTP/2 client,
// and two that open a new connection per request.
func runLoad(ctx context.Context, p *pki, leaf *testpki.Leaf, url string, max int64) *loadResult {
	lr := &loadResult{serials: map[string]bool{}}
	newClient := func(h2, keepAlive bool) *http.Client {
		tr := &http.Transport{TLSClientConfig: p.tlsClientConfig(leaf, "localhost"), DisableKeepAlives: !keepAlive,
			ForceAttemptHTTP2: h2, MaxIdleConnsPerHost: 4}
		if !h2 {
			tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
		}
		return &http.Client{Transport: tr, Timeout: 10 * time.Second}
	}
	clients := []*http.Client{newClient(false, true), newClient(true, true), newClient(false, false), newClient(false, false)}
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.CloseIdleConnections()
			for ctx.Err() == nil && lr.requests.Add(1) <= max {
				resp, err := c.Get(url)
				if err != nil {
					lr.fail(fmt.Sprintf("client %d: %v", i, err))
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					lr.fail(fmt.Sprintf("client %d: HTTP %d", i, resp.StatusCode))
				}
				if i >= 2 && resp.TLS != nil {
					lr.mu.Lock()
					lr.serials[resp.TLS.PeerCertificates[0].SerialNumber.String()] = true
					lr.mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if n := lr.requests.Load(); n > max {
		lr.requests.Store(max)
	}
	return lr
}

// waitCount waits until the gateway logged msg more than before times.
func waitCount(t testing.TB, g *gatewayProc, msg string, before int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for g.countLogs(msg) <= before {
		if time.Now().After(deadline) {
			t.Fatalf("gateway did not log %q within 10s; stderr:\n%s", msg, g.stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestReloadUnderLoad rotates the listener certificate five times (new key
// and certificate written atomically, then SIGHUP) while four clients send
// requests on kept-alive and new connections: no request may fail, and new
// connections see the new certificate. Then a reload with a broken
// certificate file fails loudly and changes nothing.
func TestReloadUnderLoad(t *testing.T) {
	t.Parallel()
	e := newEnv(t, baseConfig, nil)
	alice := e.p.client(t, "alice", testpki.Options{CN: "alice", OU: []string{"payments"}})
	issue := func() *testpki.Leaf {
		return e.p.serverCA.Issue(t, testpki.Options{CN: "localhost", DNS: []string{"localhost"}, IPs: []net.IP{net.ParseIP("127.0.0.1")}})
	}
	addr := e.g.Addr("public")
	if got := serverSerial(t, e.p, addr); got.Cmp(e.p.server.Cert.SerialNumber) != 0 {
		t.Fatalf("initial serial %x, want %x", got, e.p.server.Cert.SerialNumber)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	done := make(chan *loadResult)
	go func() { done <- runLoad(ctx, e.p, alice.leaf, e.g.URL("/api/secure/load"), 20000) }()

	var current *testpki.Leaf
	for i := 0; i < 5; i++ {
		time.Sleep(400 * time.Millisecond)
		current = issue()
		before := e.g.countLogs("configuration reloaded")
		// The key first, so a watcher-triggered reload between the two
		// renames fails (and keeps the old pair) rather than mixing them.
		writeAtomic(t, e.p.dir, "gateway.key", current.KeyPEM(t))
		writeAtomic(t, e.p.dir, "gateway.pem", current.ChainPEM())
		e.g.Signal(syscall.SIGHUP)
		waitCount(t, e.g, "configuration reloaded", before)
	}
	lr := <-done
	n, failed := lr.requests.Load(), lr.failures.Load()
	t.Logf("%d requests, %d failed, %d server serials seen on new connections", n, failed, len(lr.serials))
	if failed != 0 {
		t.Errorf("%d of %d requests failed during certificate rotation; first errors:\n%s", failed, n, strings.Join(lr.errors, "\n"))
	}
	if n < 100 {
		t.Errorf("only %d requests were sent; the test proves little", n)
	}
	if len(lr.serials) < 2 {
		t.Errorf("new connections saw %d server certificate(s) during the run; want the rotation to show", len(lr.serials))
	}
	// A reload triggered by the file watcher for an earlier rotation may
	// have been the one counted above; the SIGHUP reload follows promptly.
	deadline := time.Now().Add(5 * time.Second)
	for got := serverSerial(t, e.p, addr); got.Cmp(current.Cert.SerialNumber) != 0; got = serverSerial(t, e.p, addr) {
		if time.Now().After(deadline) {
			t.Fatalf("after rotation the gateway serves serial %x, want the last one %x", got, current.Cert.SerialNumber)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// A broken certificate: the reload fails, the old certificate stays.
	before := e.g.countLogs("reload failed; still serving the previous configuration")
	writeAtomic(t, e.p.dir, "gateway.pem", []byte("-----BEGIN CERTIFICATE-----\ngarbage\n-----END CERTIFICATE-----\n"))
	e.g.Signal(syscall.SIGHUP)
	waitCount(t, e.g, "reload failed; still serving the previous configuration", before)
	line := e.g.waitLog(tenSeconds, "reload failed naming the file", func(m map[string]any) bool {
		s, _ := m["error"].(string)
		return m["msg"] == "reload failed; still serving the previous configuration" && m["level"] == "ERROR" &&
			strings.Contains(s, "listeners[0].tls.cert") && strings.Contains(s, "gateway.pem")
	})
	if line == nil {
		t.Errorf("reload failure does not name listeners[0].tls.cert and gateway.pem")
	}
	if got := serverSerial(t, e.p, addr); got.Cmp(current.Cert.SerialNumber) != 0 {
		t.Errorf("after a failed reload the gateway serves serial %x, want %x", got, current.Cert.SerialNumber)
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel2()
	lr = runLoad(ctx2, e.p, alice.leaf, e.g.URL("/api/secure/after"), 200)
	if lr.failures.Load() != 0 || lr.requests.Load() == 0 {
		t.Errorf("after a failed reload: %d of %d requests failed: %v", lr.failures.Load(), lr.requests.Load(), lr.errors)
	}
}

// TestReloadAppliesToOpenConnections: a policy change takes effect for the
// next request, also on connections opened before the reload (HTTP/1.1
// keep-alive and HTTP/2), whether it is triggered by SIGHUP or by the file
// watcher noticing the config file was replaced.
func TestReloadAppliesToOpenConnections(t *testing.T) {
	t.Parallel()
	e := newEnv(t, baseConfig, nil)
	alice := e.p.client(t, "alice", testpki.Options{CN: "alice", OU: []string{"payments"}})
	clients := map[string]*http.Client{}
	for name, h2 := range map[string]bool{"http1.1": false, "http2": true} {
		tr := &http.Transport{TLSClientConfig: e.p.tlsClientConfig(alice.leaf, "localhost"), ForceAttemptHTTP2: h2, MaxConnsPerHost: 1}
		if !h2 {
			tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
		}
		t.Cleanup(tr.CloseIdleConnections)
		clients[name] = &http.Client{Transport: tr, Timeout: 10 * time.Second}
	}
	// status sends GET on each client; after the first call every request
	// must reuse the connection opened then.
	first := true
	status := func(want int) {
		t.Helper()
		for name, c := range clients {
			var reused bool
			ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
				GotConn: func(i httptrace.GotConnInfo) { reused = i.Reused },
			})
			req, _ := http.NewRequestWithContext(ctx, "GET", e.g.URL("/api/secure/r"), nil)
			resp, err := c.Do(req)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if !first && !reused {
				t.Errorf("%s: the request did not reuse the connection opened before the reload", name)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != want {
				t.Errorf("%s: HTTP %d, want %d", name, resp.StatusCode, want)
			}
		}
		first = false
	}
	status(200)

	// SIGHUP: alice is no longer allowed.
	cfg := fill(baseConfig, map[string]string{"UPSTREAM": e.up.URL()})
	denyAlice := strings.Replace(cfg, "- {cn: alice, ou: payments}", "- {cn: bob, ou: payments}", 1)
	if denyAlice == cfg {
		t.Fatal("config edit did not apply")
	}
	before := e.g.countLogs("configuration reloaded")
	writeAtomic(t, e.p.dir, "mtlsgate.yaml", []byte(denyAlice))
	e.g.Signal(syscall.SIGHUP)
	waitCount(t, e.g, "configuration reloaded", before)
	status(403)

	// The file watcher alone: alice is allowed again.
	before = e.g.countLogs("configuration reloaded")
	writeAtomic(t, e.p.dir, "mtlsgate.yaml", []byte(cfg))
	waitCount(t, e.g, "configuration reloaded", before)
	status(200)
	if n := e.g.countLogs("referenced file changed; reloading"); n == 0 {
		t.Errorf("the last reload was not triggered by the file watcher")
	}
}
