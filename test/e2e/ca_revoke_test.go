package e2e

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mtlsgate/mtlsgate/internal/store"
)

// Instant revocation and auto-renewal by the built-in CA inside a running
// gateway, with Go clients that keep their connections open.

// pollResult is what one open connection saw after a revocation.
type pollResult struct {
	proto     int            // HTTP major version of the refusal
	status    int            // status of the first non-200 answer (0: error)
	at        time.Time      // when it arrived
	reused    bool           // it came over the connection opened before
	close     bool           // the response announced Connection: close
	ctype     string         // its Content-Type
	problem   map[string]any // its problem+json body
	err       error
	requests  int // requests sent
	dialsThen int // connections dialled by then
}

// pollUntilRefused sends GET url every 50ms on c (whose connection is
// already open) until an answer is not 200, or until stop.
func pollUntilRefused(c *http.Client, ct *connTracker, url string, stop time.Time) pollResult {
	var res pollResult
	for time.Now().Before(stop) {
		var reused bool
		ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
			GotConn: func(i httptrace.GotConnInfo) { reused = i.Reused },
		})
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		res.requests++
		resp, err := c.Do(req)
		if err != nil {
			res.err, res.at, res.dialsThen = err, time.Now(), ct.dials()
			return res
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			res.proto, res.status, res.at, res.reused, res.close = resp.ProtoMajor, resp.StatusCode, time.Now(), reused, resp.Close
			res.ctype, res.dialsThen = resp.Header.Get("Content-Type"), ct.dials()
			_ = json.Unmarshal(body, &res.problem)
			return res
		}
		time.Sleep(50 * time.Millisecond)
	}
	res.err = fmt.Errorf("still 200 after %d requests", res.requests)
	return res
}

// TestInstantRevocation: `ca revoke --cn alice` against a CA a gateway
// serves applies within a second (the product requirement) to connections
// already open, over HTTP/1.1 keep-alive and HTTP/2: the next request on
// the same connection gets 403 client_cert_revoked and the connection is
// closed. New handshakes as alice, full or resumed, are refused and logged
// with reason_code revoked; bob is still refused as not allowed, not as
// revoked; the admin metrics count both kinds of refusal.
func TestInstantRevocation(t *testing.T) {
	t.Parallel()
	needTool(t, "curl")
	s := runInit(t) // default revocation_poll (250ms)
	g := serveInit(t, s, nil)
	url := "https://" + s.listen + "/api/orders"
	aliceTLS := func() *tls.Config {
		return tlsConfigFor(t, s.path("pki", "root.pem"), s.path("clients", "alice-chain.pem"), s.path("clients", "alice.key"))
	}
	h1t, h2t := &connTracker{}, &connTracker{}
	clients := []struct {
		name  string
		proto int
		c     *http.Client
		ct    *connTracker
	}{{"HTTP/1.1", 1, trackedClient(aliceTLS(), false, h1t), h1t}, {"HTTP/2", 2, trackedClient(aliceTLS(), true, h2t), h2t}}
	for _, cl := range clients {
		defer cl.c.CloseIdleConnections()
		resp, err := cl.c.Get(url)
		if err != nil {
			t.Fatalf("%s: alice before revocation: %v", cl.name, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.ProtoMajor != cl.proto {
			t.Fatalf("%s: alice before revocation: %s over HTTP/%d", cl.name, resp.Status, resp.ProtoMajor)
		}
	}
	// A client that resumes TLS sessions: its second connection resumes.
	cache := tls.NewLRUClientSessionCache(4)
	resumeTLS := aliceTLS()
	resumeTLS.ClientSessionCache = cache
	resumer := &http.Client{Transport: &http.Transport{TLSClientConfig: resumeTLS, DisableKeepAlives: true}, Timeout: 10 * time.Second}
	resumed := false
	for i := 0; i < 2; i++ {
		resp, err := resumer.Get(url)
		if err != nil {
			t.Fatalf("alice (session cache) before revocation: %v", err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		resumed = resp.TLS.DidResume
	}

	out := caRun(t, s.path("pki"), "revoke", "--cn", "alice")
	revokedAt := time.Now()
	if !strings.Contains(out, "revoked ") {
		t.Fatalf("ca revoke --cn alice:\n%s", out)
	}
	// The requirement is one second from the revocation; 250ms of slack
	// covers this test's 50ms polling and loopback round trips. This is
	// the only assertion on wall-clock speed in the suite's CA tests.
	const budget = time.Second + 250*time.Millisecond
	results := make([]pollResult, len(clients))
	var wg sync.WaitGroup
	for i, cl := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = pollUntilRefused(cl.c, cl.ct, url, revokedAt.Add(5*time.Second))
		}()
	}
	wg.Wait()
	for i, cl := range clients {
		r := results[i]
		t.Logf("%s: HTTP %d after %v (%d requests)", cl.name, r.status, r.at.Sub(revokedAt).Round(time.Millisecond), r.requests)
		switch {
		case r.status != 403:
			t.Errorf("%s: after revocation, want 403 on the open connection; got status %d, error %v after %d requests", cl.name, r.status, r.err, r.requests)
			continue
		case r.at.Sub(revokedAt) > budget:
			t.Errorf("%s: revocation applied %v after `ca revoke` exited; the requirement is 1s (+250ms test slack)", cl.name, r.at.Sub(revokedAt))
		}
		if !r.reused || r.dialsThen != 1 || r.proto != cl.proto {
			t.Errorf("%s: the 403 did not come over the connection opened before (reused %v, %d connections dialled, HTTP/%d)", cl.name, r.reused, r.dialsThen, r.proto)
		}
		if r.problem["reason"] != "client_cert_revoked" || !strings.HasPrefix(r.ctype, "application/problem+json") {
			t.Errorf("%s: 403 %s %v, want problem+json reason client_cert_revoked", cl.name, r.ctype, r.problem)
		}
		if cl.name == "HTTP/1.1" && !r.close {
			t.Errorf("HTTP/1.1: the 403 does not announce Connection: close")
		}
	}
	// HTTP/2 has no per-response close: the gateway must end the
	// connection itself (a GOAWAY, on which the client closes it, or a
	// close). Nothing else closes it here: the client has no idle timeout.
	deadline := time.Now().Add(3 * time.Second)
	for h2t.dials() > 0 && !h2t.conn(0).closed() && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if h2t.dials() > 0 && !h2t.conn(0).closed() {
		t.Errorf("HTTP/2: the connection is still open 3s after the 403")
	}
	// After the refusal alice needs a new connection, and its handshake is
	// refused.
	for _, cl := range clients {
		before := cl.ct.dials()
		resp, err := cl.c.Get(url)
		if err == nil {
			resp.Body.Close()
			t.Errorf("%s: alice's next request after the 403: %s, want a refused handshake", cl.name, resp.Status)
		}
		if cl.ct.dials() == before {
			t.Errorf("%s: the request after the 403 reused the refused connection", cl.name)
		}
	}
	t.Logf("TLS session resumption before revocation: %v", resumed)
	if resp, err := resumer.Get(url); err == nil {
		resp.Body.Close()
		t.Errorf("alice with a cached TLS session (resumption worked before revocation: %v) after revocation: %s, want a refused handshake", resumed, resp.Status)
	}

	if r := s.curlAs(t, "alice", "/api/orders"); r.exit == 0 || r.status != 0 {
		t.Errorf("curl as alice after revocation: want a refused handshake, got %s", r)
	}
	line := g.waitLog(tenSeconds, "handshake refused as revoked", func(m map[string]any) bool {
		return m["msg"] == "tls handshake failed" && m["reason_code"] == "revoked"
	})
	if reason, _ := line["reason"].(string); line != nil && (!strings.Contains(reason, "CN=alice") || !strings.Contains(reason, "revoked")) {
		t.Errorf("handshake failure reason %q does not say alice is revoked", reason)
	}
	expectProblem(t, "bob after alice's revocation", s.curlAs(t, "bob", "/api/orders"), 403, "not_allowed")

	deadline = time.Now().Add(5 * time.Second)
	for {
		r := runCurl(t, "http://"+s.admin+"/metrics")
		refused, ok1 := metricValue(r.body, "mtlsgate_revoked_requests_total", nil)
		hs, ok2 := metricValue(r.body, "mtlsgate_tls_handshake_failures_total", map[string]string{"listener": "public", "reason": "revoked"})
		if ok1 && ok2 && refused >= 2 && hs >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("metrics: revoked requests %v (present %v), want >= 2; revoked handshakes %v (present %v), want >= 1:\n%s", refused, ok1, hs, ok2, r)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestAutoRenew: a gateway whose listener certificate was issued by its
// built-in CA for 12 seconds, with auto_renew on, renews it (logged, new
// serial on disk and on new connections, "renew" in the CA's audit log)
// while requests on new and kept-alive connections keep succeeding.
func TestAutoRenew(t *testing.T) {
	t.Parallel()
	caDir, work := newCA(t)
	issue := func(name string, args ...string) {
		caRun(t, caDir, append([]string{"issue", "--out", filepath.Join(work, name)}, args...)...)
	}
	issue("gw", "--profile", "server", "--cn", "localhost", "--san", "ip:127.0.0.1,dns:localhost", "--ttl", "12s")
	issue("echo", "--profile", "server", "--cn", "echo", "--san", "ip:127.0.0.1")
	issue("gw-up", "--profile", "upstream", "--cn", "gw-up")
	issue("alice", "--profile", "client", "--cn", "alice")
	echoAddr := freePort(t)
	g := startGateway(t, work, `listeners:
  - name: public
    address: 127.0.0.1:0
    tls: {cert: gw-chain.pem, key: gw.key, client_ca: pki/root.pem, client_auth: request}
  - name: pki
    address: 127.0.0.1:0
ca: {dir: pki, serve_on: pki, auto_renew: true}
upstreams:
  - name: orders
    url: https://`+echoAddr+`
    tls: {cert: gw-up-chain.pem, key: gw-up.key, ca: pki/root.pem}
routes:
  - {name: api, match: {path_prefix: /api/}, upstream: orders, client_cert: required}
echo_servers:
  - {name: orders, address: `+echoAddr+`, cert: echo-chain.pem, key: echo.key, client_ca: pki/root.pem, allow_cn: [gw-up]}
`, "public", "pki")
	certFile := filepath.Join(work, "gw-chain.pem")
	first := readCerts(t, certFile)[0].SerialNumber
	url := g.URL("/api/orders")
	cfg := tlsConfigFor(t, filepath.Join(caDir, "root.pem"), filepath.Join(work, "alice-chain.pem"), filepath.Join(work, "alice.key"))
	kept := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}, Timeout: 10 * time.Second}
	defer kept.CloseIdleConnections()
	fresh := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true}, Timeout: 10 * time.Second}
	var failures []string
	get := func(c *http.Client) *tls.ConnectionState {
		resp, err := c.Get(url)
		if err != nil {
			failures = append(failures, err.Error())
			return nil
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			failures = append(failures, resp.Status+" "+string(b))
		}
		return resp.TLS
	}
	// Until the gateway presents the serial now on disk, which is not the
	// first: a 12s certificate is due at about 8s.
	deadline := time.Now().Add(25 * time.Second)
	for {
		get(kept)
		cs := get(fresh)
		disk := readCerts(t, certFile)
		if cs != nil && disk[0].SerialNumber.Cmp(first) != 0 && cs.PeerCertificates[0].SerialNumber.Cmp(disk[0].SerialNumber) == 0 {
			if len(disk) != 2 {
				t.Errorf("renewed %s holds %d certificates, want the leaf and the issuing CA like before", certFile, len(disk))
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no renewed certificate served within 25s (disk serial %x, first %x); stderr:\n%s", disk[0].SerialNumber, first, g.stderr.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	firstHex := store.SerialHex(first)
	line := g.waitLog(tenSeconds, "renewal", func(m map[string]any) bool {
		return m["msg"] == "certificate renewed by the built-in CA" && m["old_serial"] == firstHex
	})
	if line != nil && line["target"] != "listener public" {
		t.Errorf("renewal logged for target %v, want listener public", line["target"])
	}
	for i := 0; i < 3; i++ {
		get(kept)
		get(fresh)
	}
	if len(failures) > 0 {
		t.Errorf("%d requests failed around the renewal: %v", len(failures), failures)
	}
	found := false
	for _, e := range caAudit(t, caDir) {
		if e.Action == "renew" && e.Actor == "serve" && strings.Contains(e.Detail, "replaces "+firstHex) {
			found = true
		}
	}
	if !found {
		t.Errorf("ca audit has no renew of %s by serve:\n%s", firstHex, caRun(t, caDir, "audit"))
	}
	if n := g.countLogs("reload failed; still serving the previous configuration"); n > 0 {
		t.Errorf("the renewal caused %d failed reloads:\n%s", n, g.stderr.String())
	}
	if key, err := os.Stat(filepath.Join(work, "gw.key")); err == nil && key.Mode().Perm() != 0o600 {
		t.Errorf("renewed gw.key has mode %v, want 0600", key.Mode().Perm())
	}
}
