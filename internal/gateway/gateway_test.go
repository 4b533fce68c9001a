package gateway

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mtlsgate/mtlsgate/internal/identity"
	"github.com/mtlsgate/mtlsgate/internal/testpki"
)

func TestStatuses(t *testing.T) {
	e := newEnv(t)
	e.start(baseConfig)
	alice := e.clients.Issue(t, testpki.Options{CN: "alice"})
	bob := e.clients.Issue(t, testpki.Options{CN: "bob"})
	for _, h2 := range []bool{false, true} {
		anon, a, b := e.client(nil, h2, nil), e.client(alice, h2, nil), e.client(bob, h2, nil)
		r := e.get(anon, e.url("/secure/x"), nil)
		expectStatus(t, "no cert", r, 401)
		if reason(r) != "client_cert_required" {
			t.Errorf("401 reason %q", reason(r))
		}
		expectStatus(t, "alice", e.get(a, e.url("/secure/x"), nil), 200)
		r = e.get(b, e.url("/secure/x"), nil)
		expectStatus(t, "bob", r, 403)
		if !strings.Contains(r.body, "CN=bob") || strings.Contains(r.body, "alice") {
			t.Errorf("403 must name the identity seen and never the policy: %s", r.body)
		}
		expectStatus(t, "any verified cert", e.get(b, e.url("/any/x"), nil), 200)
		expectStatus(t, "no route", e.get(a, e.url("/nowhere"), nil), 404)
		req, _ := http.NewRequest("POST", e.url("/secure/x"), nil)
		resp, err := a.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 405 || resp.Header.Get("Allow") != "GET" {
			t.Errorf("POST: %d Allow=%q, want 405 Allow=GET", resp.StatusCode, resp.Header.Get("Allow"))
		}
		// Path normalisation: ../ cannot escape into another route.
		expectStatus(t, "dot-dot", e.get(anon, e.url("/any/../secure/x"), nil), 401)
	}
}

func TestForwardedIdentityAndStripping(t *testing.T) {
	e := newEnv(t)
	e.start(baseConfig)
	alice := e.clients.Issue(t, testpki.Options{CN: "alice"})
	r := e.get(e.client(alice, false, nil), e.url("/secure/x"), map[string]string{
		"Client-Cert": ":Zm9yZ2Vk:", "X-Client-Cert-Subject": "CN=admin", "X-Forwarded-For": "6.6.6.6",
	})
	expectStatus(t, "alice", r, 200)
	h := <-e.seen
	c, err := identity.ParseClientCert(h.Get("Client-Cert"))
	if err != nil || !c.Equal(alice.Cert) {
		t.Fatalf("upstream Client-Cert is not alice's certificate: %v %q", err, h.Get("Client-Cert"))
	}
	if len(h.Values("Client-Cert")) != 1 || h.Get("X-Client-Cert-Subject") != "" {
		t.Errorf("spoofed headers reached upstream: %v", h)
	}
	if got := h.Get("X-Forwarded-For"); got != "127.0.0.1" {
		t.Errorf("X-Forwarded-For = %q, want 127.0.0.1 only", got)
	}
	if !strings.HasPrefix(h.Get("Forwarded"), "for=127.0.0.1;") {
		t.Errorf("Forwarded = %q", h.Get("Forwarded"))
	}
}

// TestHTTP2ConnectionReuseAcrossHosts reuses one HTTP/2 connection, opened
// with SNI open.example.com (no certificate needed), for a request to
// strict.example.com: the gateway must answer 421.
func TestHTTP2ConnectionReuseAcrossHosts(t *testing.T) {
	e := newEnv(t)
	e.start(baseConfig)
	bob := e.clients.Issue(t, testpki.Options{CN: "bob"})
	addr := e.g.Addr("public")
	c := e.client(bob, true, func(tc *tls.Config) { tc.ServerName = "open.example.com" })
	tr := c.Transport.(*http.Transport)
	tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", addr)
	}
	_, port, _ := net.SplitHostPort(addr)
	open := "https://open.example.com:" + port + "/x"
	expectStatus(t, "open host", e.get(c, open, nil), 200)
	r := e.get(c, open, map[string]string{"Host": "strict.example.com:" + port})
	expectStatus(t, "strict host on open connection", r, 421)
	if reason(r) != "misdirected" {
		t.Errorf("reason %q", reason(r))
	}
}

func TestResumedSessionKeepsIdentityAndHonoursTrustChanges(t *testing.T) {
	e := newEnv(t)
	e.start(baseConfig)
	alice := e.clients.Issue(t, testpki.Options{CN: "alice"})
	cache := tls.NewLRUClientSessionCache(8)
	newClient := func() *http.Client {
		return e.client(alice, false, func(tc *tls.Config) { tc.ClientSessionCache = cache })
	}
	c1 := newClient()
	expectStatus(t, "first", e.get(c1, e.url("/secure/x"), nil), 200)
	c1.Transport.(*http.Transport).CloseIdleConnections()
	// A new connection resumes the session: the identity must still be known.
	var resumed bool
	c2 := e.client(alice, false, func(tc *tls.Config) {
		tc.ClientSessionCache = cache
		tc.VerifyConnection = func(cs tls.ConnectionState) error { resumed = cs.DidResume; return nil }
	})
	expectStatus(t, "resumed", e.get(c2, e.url("/secure/x"), nil), 200)
	if !resumed {
		t.Fatal("session was not resumed; the test proves nothing")
	}
	c2.Transport.(*http.Transport).CloseIdleConnections()
	// Replace the client CA: sessions from the old CA must not resume into
	// an authenticated state.
	other := testpki.NewRootCA(t, "Other Root")
	other.WriteCA(t, e.dir, "clients-ca")
	if err := e.g.Reload(); err != nil {
		t.Fatal(err)
	}
	c3 := newClient()
	r := e.get(c3, e.url("/secure/x"), nil)
	if r.status == 200 {
		t.Fatalf("resumed session from a removed CA was let in: %s", r.body)
	}
}

func TestReloadFailureKeepsServing(t *testing.T) {
	e := newEnv(t)
	e.start(baseConfig)
	alice := e.clients.Issue(t, testpki.Options{CN: "alice"})
	c := e.client(alice, false, nil)
	expectStatus(t, "before", e.get(c, e.url("/secure/x"), nil), 200)
	testpki.WriteFile(t, e.dir, "server.pem", []byte("garbage"))
	if err := e.g.Reload(); err == nil || !strings.Contains(err.Error(), "listeners[0].tls.cert") {
		t.Fatalf("reload of a broken cert: err = %v, want an error naming listeners[0].tls.cert", err)
	}
	c.Transport.(*http.Transport).CloseIdleConnections()
	expectStatus(t, "after failed reload", e.get(c, e.url("/secure/x"), nil), 200)
	if !strings.Contains(e.logs.String(), "reload failed") {
		t.Error("failed reload not logged")
	}
}

func TestHandshakeFailureReasons(t *testing.T) {
	e := newEnv(t)
	e.start(strings.Replace(baseConfig, "client_auth: request", "client_auth: require", 1))
	expired := e.clients.Issue(t, testpki.Options{CN: "old", NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour)})
	stranger := testpki.NewRootCA(t, "Stranger CA").Issue(t, testpki.Options{CN: "mallory"})
	serverOnly := e.clients.Issue(t, testpki.Options{CN: "srv", EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	cases := []struct {
		leaf *testpki.Leaf
		code string
		want string
	}{
		{nil, "no_client_cert", "no client certificate sent; listener public requires one"},
		{expired, "expired", "client certificate CN=old expired"},
		{stranger, "unknown_ca", "client certificate CN=mallory issued by CN=Stranger CA, which is not in client_ca clients-ca.pem"},
		{serverOnly, "bad_key_usage", "not valid for client authentication"},
	}
	for _, tc := range cases {
		r := e.get(e.client(tc.leaf, false, nil), e.url("/any/"), nil)
		if r.status != -1 {
			t.Errorf("%s: handshake should fail, got %d", tc.code, r.status)
		}
	}
	deadline := time.Now().Add(3 * time.Second)
	for _, tc := range cases {
		for !strings.Contains(e.logs.String(), tc.want) && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		logs := e.logs.String()
		if !strings.Contains(logs, tc.want) || !strings.Contains(logs, `"reason_code":"`+tc.code+`"`) {
			t.Errorf("log lacks %q / code %s:\n%s", tc.want, tc.code, logs)
		}
	}
}

// TestTrustChangeAppliesToOpenConnections removes the client CA by reload
// while a keep-alive connection stays open: its next request must no
// longer be authenticated.
func TestTrustChangeAppliesToOpenConnections(t *testing.T) {
	e := newEnv(t)
	e.start(baseConfig)
	alice := e.clients.Issue(t, testpki.Options{CN: "alice"})
	var conns int
	c := e.client(alice, false, func(tc *tls.Config) {
		tc.VerifyConnection = func(tls.ConnectionState) error { conns++; return nil }
	})
	expectStatus(t, "before", e.get(c, e.url("/secure/x"), nil), 200)
	testpki.NewRootCA(t, "Other Root").WriteCA(t, e.dir, "clients-ca")
	if err := e.g.Reload(); err != nil {
		t.Fatal(err)
	}
	r := e.get(c, e.url("/secure/x"), nil)
	if conns != 1 {
		t.Fatalf("the client opened %d connections; the test needs the same one reused", conns)
	}
	expectStatus(t, "same connection after the CA was removed", r, 401)
}

// TestLoopbackAddr decides the warning for an admin listener without a
// token that others can reach.
func TestLoopbackAddr(t *testing.T) {
	for _, tc := range []struct {
		addr net.Addr
		want bool
	}{
		{&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9090}, true},
		{&net.TCPAddr{IP: net.IPv6loopback, Port: 9090}, true},
		{&net.TCPAddr{IP: net.IPv4zero, Port: 9090}, false},
		{&net.TCPAddr{IP: net.IPv6unspecified, Port: 9090}, false},
		{&net.TCPAddr{IP: net.IPv4(10, 0, 0, 1), Port: 9090}, false},
		{&net.UnixAddr{Name: "/run/admin.sock", Net: "unix"}, false},
	} {
		if got := loopbackAddr(tc.addr); got != tc.want {
			t.Errorf("%v: %v, want %v", tc.addr, got, tc.want)
		}
	}
}
