package gateway

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mtlsgate/mtlsgate/internal/ca"
	"github.com/mtlsgate/mtlsgate/internal/store"
)

const testToken = "0123456789abcdef0123456789abcdef"

const caConfig = `listeners:
  - name: public
    address: 127.0.0.1:0
    tls:
      cert: server.pem
      key: server.key
      client_ca: pki/root.pem
      client_auth: request
  - name: pki
    address: 127.0.0.1:0
admin:
  address: 127.0.0.1:0
  api_token_file: admin.token
ca:
  dir: pki
  serve_on: pki
  revocation_poll: 20ms
upstreams:
  - name: up
    url: {{UPSTREAM}}
routes:
  - name: secure
    match: {path_prefix: /secure/}
    upstream: up
    client_cert: required
`

// caEnv is a gateway serving a built-in CA whose clients it trusts.
func caEnv(t *testing.T) (*env, *ca.Authority) {
	e := newEnv(t)
	dir := filepath.Join(e.dir, "pki")
	if _, err := ca.Init(dir, ca.InitOptions{Actor: "test"}); err != nil {
		t.Fatal(err)
	}
	a, err := ca.Open(dir, ca.Options{Actor: "test-cli"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	if err := os.WriteFile(filepath.Join(e.dir, "admin.token"), []byte(testToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e.start(caConfig)
	return e, a
}

// caClient returns a client presenting a certificate the CA issues now.
func caClient(t *testing.T, e *env, a *ca.Authority, cn string, h2 bool) (*http.Client, *x509.Certificate) {
	iss, err := a.Issue(context.Background(), ca.IssueRequest{Profile: "client", CN: cn})
	if err != nil {
		t.Fatal(err)
	}
	cert := tls.Certificate{Certificate: [][]byte{iss.Cert.Raw, a.Intermediate().Raw}, PrivateKey: iss.Key, Leaf: iss.Cert}
	return e.client(nil, h2, func(tc *tls.Config) { tc.Certificates = []tls.Certificate{cert} }), iss.Cert
}

func TestCARevocationClosesOpenConnections(t *testing.T) {
	e, a := caEnv(t)
	for _, h2 := range []bool{false, true} {
		name := map[bool]string{false: "http1", true: "http2"}[h2]
		t.Run(name, func(t *testing.T) {
			c, cert := caClient(t, e, a, "alice-"+name, h2)
			expectStatus(t, "before revoke", e.get(c, e.url("/secure/x"), nil), 200)
			// Revoke from "another process" (a second Authority on the
			// same store), as the CLI does.
			if _, err := a.Revoke(context.Background(), store.SerialHex(cert.SerialNumber), 1); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(2 * time.Second)
			var r result
			reused := false
			for time.Now().Before(deadline) {
				req, _ := http.NewRequest("GET", e.url("/secure/x"), nil)
				req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { reused = i.Reused }}))
				resp, err := c.Do(req)
				if err != nil {
					t.Fatalf("request on the open connection failed instead of answering 403: %v", err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				r = result{status: resp.StatusCode, body: string(body)}
				if r.status == 403 {
					if !resp.Close && !h2 {
						t.Error("HTTP/1.1 403 without Connection: close")
					}
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
			if r.status != 403 || !strings.Contains(r.body, "client_cert_revoked") {
				t.Fatalf("after revoke: %d %s", r.status, r.body)
			}
			if !reused {
				t.Fatal("the 403 was not on the connection that was already open")
			}
			// The connection is gone; a new handshake is refused.
			time.Sleep(200 * time.Millisecond)
			if r := e.get(c, e.url("/secure/x"), nil); r.status != -1 {
				t.Fatalf("new connection with the revoked certificate: %d %s", r.status, r.body)
			}
		})
	}
	if !strings.Contains(e.logs.String(), `"reason_code":"revoked"`) {
		t.Error("handshake refusal not logged with reason_code revoked")
	}
}

func TestCAAdminRevokeAndPublishing(t *testing.T) {
	e, a := caEnv(t)
	c, cert := caClient(t, e, a, "bob", false)
	expectStatus(t, "bob", e.get(c, e.url("/secure/x"), nil), 200)
	admin := "http://" + e.g.Addr("admin")
	send := func(body, token, ctype string) (int, string) {
		req, _ := http.NewRequest("POST", admin+"/api/ca/revoke", strings.NewReader(body))
		req.Header.Set("Content-Type", ctype)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	post := func(body string) (int, string) { return send(body, testToken, "application/json") }
	// Without the token, with a wrong one, or as a "simple" cross-site
	// form post: refused, nothing revoked.
	for _, c := range []struct{ token, ctype string }{{"", "application/json"}, {"wrong", "application/json"}, {testToken, "text/plain"}} {
		body := `{"cn": "bob"}`
		if code, out := send(body, c.token, c.ctype); code != 401 && code != 415 {
			t.Fatalf("unauthenticated revoke (%+v): %d %s", c, code, out)
		}
	}
	expectStatus(t, "bob after refused revokes", e.get(c, e.url("/secure/x"), nil), 200)
	if code, body := post(`{"serial": "` + strings.ToUpper(store.SerialHex(cert.SerialNumber)) + `", "reason": "superseded"}`); code != 200 || !strings.Contains(body, `"reason":"superseded"`) {
		t.Fatalf("admin revoke: %d %s", code, body)
	}
	// Applied in this process at once: no poll needed.
	if r := e.get(c, e.url("/secure/x"), nil); r.status != 403 {
		t.Fatalf("after admin revoke: %d %s", r.status, r.body)
	}
	for body, want := range map[string]int{`{"serial":"00"}`: 404, `{"cn":"nobody"}`: 404, `{}`: 400, `{"serial":"1","cn":"x"}`: 400, `{"serial":"zz"}`: 409, `not json`: 400, `{"serial":"1","reason":"hold"}`: 400} {
		if code, out := post(body); code != want {
			t.Errorf("POST %s: %d, want %d (%s)", body, code, want, out)
		}
	}
	// The plain listener publishes the CA and nothing else.
	// The CRL is re-signed at the next poll.
	pki := "http://" + e.g.Addr("pki")
	var entries int
	for deadline := time.Now().Add(2 * time.Second); entries == 0 && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		resp, err := http.Get(pki + "/ca/crl")
		if err != nil {
			t.Fatal(err)
		}
		der, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		crl, err := x509.ParseRevocationList(der)
		if err != nil {
			t.Fatalf("CRL from the pki listener: %v", err)
		}
		entries = len(crl.RevokedCertificateEntries)
	}
	if entries != 1 {
		t.Fatalf("CRL lists %d entries after the revoke", entries)
	}
	resp, err := http.Get(pki + "/secure/x")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Fatalf("route on the plain listener: %d", resp.StatusCode)
	}
}

func TestPlainListenerOnlyForCA(t *testing.T) {
	e := newEnv(t)
	path := e.writeConfig(strings.Replace(baseConfig, "listeners:\n", "listeners:\n  - name: plain\n    address: 127.0.0.1:0\n", 1))
	_, err := New(Options{ConfigPath: path})
	if err == nil || !strings.Contains(err.Error(), "only the ca.serve_on listener may be plain HTTP") {
		t.Fatalf("err = %v", err)
	}
}

// A response still streaming when its client's certificate is revoked is
// cut off: it would never reach the per-request check.
func TestCARevocationEndsRequestsInFlight(t *testing.T) {
	e, a := caEnv(t)
	release := make(chan struct{})
	defer close(release)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(200)
		_, _ = io.WriteString(w, "first chunk\n")
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	// Point the route at the slow upstream (a reload).
	cfg := strings.Replace(caConfig, "{{UPSTREAM}}", slow.URL, 1)
	if err := os.WriteFile(filepath.Join(e.dir, "mtlsgate.yaml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := e.g.Reload(); err != nil {
		t.Fatal(err)
	}
	c, cert := caClient(t, e, a, "streamer", false)
	resp, err := c.Get(e.url("/secure/stream"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	buf := make([]byte, 64)
	if n, err := resp.Body.Read(buf); err != nil || !strings.Contains(string(buf[:n]), "first chunk") {
		t.Fatalf("first chunk: %q %v", buf[:n], err)
	}
	if _, err := a.Revoke(context.Background(), store.SerialHex(cert.SerialNumber), 1); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := io.ReadAll(resp.Body); done <- err }()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("the stream ended cleanly; want it cut off")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the stream of a revoked client is still open")
	}
}
