package gateway

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mtlsgate/mtlsgate/internal/ca"
	"github.com/mtlsgate/mtlsgate/internal/est"
	"github.com/mtlsgate/mtlsgate/internal/testpki"
	"github.com/prometheus/client_golang/prometheus"
)

const estBootstrapConfig = `listeners:
  - name: public
    address: 127.0.0.1:0
    tls:
      cert: server.pem
      key: server.key
      client_ca: pki/root.pem
      client_auth: request
  - name: other
    address: 127.0.0.1:0
    tls:
      cert: server.pem
      key: server.key
      client_ca: pki/root.pem
      client_auth: request
ca:
  dir: pki
upstreams:
  - name: up
    url: {{UPSTREAM}}
routes:
  - name: secure
    match: {path_prefix: /secure/}
    upstream: up
    client_cert: required
est:
  listener: public
  bootstrap_ca: clients-ca.pem
`

func estCSR(t *testing.T, cn string) string {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn}}, key)
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(der) + "\n"
}

// TestESTBootstrapCertificate: a certificate from est.bootstrap_ca passes
// the EST listener's handshake and enrolls its own CN there, but it is no
// identity: a route that needs a certificate answers 401 exactly as for
// none, and another listener refuses it at the handshake.
func TestESTBootstrapCertificate(t *testing.T) {
	e := newEnv(t)
	dir := filepath.Join(e.dir, "pki")
	if _, err := ca.Init(dir, ca.InitOptions{Actor: "test"}); err != nil {
		t.Fatal(err)
	}
	a, err := ca.Open(dir, ca.Options{Actor: "test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	e.start(estBootstrapConfig)
	idev := e.clients.Issue(t, testpki.Options{CN: "sensor-0042"})
	roots := x509.NewCertPool()
	roots.AddCert(e.root.Cert)
	// A client that sends its certificate only to a server naming its CA
	// (Go's default, and many devices'): the EST listener names the
	// bootstrap CA.
	c := idev.TLSCertificate()
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: "localhost", Certificates: []tls.Certificate{c}}}}
	t.Cleanup(client.CloseIdleConnections)
	post := func(url, body string) (int, string) {
		t.Helper()
		res, err := client.Post(url, "application/pkcs10", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	code, body := post(e.url(est.PathPrefix+"simpleenroll"), estCSR(t, "sensor-0042"))
	if code != http.StatusOK {
		t.Fatalf("bootstrap enrollment: %d %s", code, body)
	}
	der, _ := base64.StdEncoding.DecodeString(strings.TrimSpace(body))
	certs, err := est.ParseCertsOnly(der)
	if err != nil || certs[0].Subject.CommonName != "sensor-0042" {
		t.Fatalf("issued: %v", err)
	}
	if code, _ := post(e.url(est.PathPrefix+"simpleenroll"), estCSR(t, "sensor-0043")); code != http.StatusForbidden {
		t.Fatalf("bootstrap certificate enrolling another CN: %d", code)
	}
	r := e.get(client, e.url("/secure/x"), nil)
	if r.status != http.StatusUnauthorized || r.prob["reason"] != "client_cert_required" {
		t.Fatalf("API route with a bootstrap certificate: %d %s", r.status, r.body)
	}
	other := e.client(idev, false, nil)
	if r := e.get(other, "https://"+e.g.Addr("other")+"/secure/x", nil); r.status != -1 {
		t.Fatalf("another listener accepted the bootstrap certificate: %d %s", r.status, r.body)
	}
	stranger := testpki.NewRootCA(t, "Stranger").Issue(t, testpki.Options{CN: "sensor-0042"})
	if r := e.get(e.client(stranger, false, nil), e.url(est.PathPrefix+"cacerts"), nil); r.status != -1 {
		t.Fatalf("a certificate from neither CA passed the handshake: %d", r.status)
	}
	// The built-in CA's own certificates still are identities there.
	iss, err := a.Issue(context.Background(), ca.IssueRequest{Profile: "client", CN: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	alice := e.client(nil, false, func(tc *tls.Config) {
		tc.Certificates = []tls.Certificate{{Certificate: [][]byte{iss.Cert.Raw, a.Intermediate().Raw}, PrivateKey: iss.Key}}
	})
	if r := e.get(alice, e.url("/secure/x"), nil); r.status != http.StatusOK {
		t.Fatalf("built-in CA client on the EST listener: %d %s", r.status, r.body)
	}
}

func TestESTBootstrapConfigErrors(t *testing.T) {
	e := newEnv(t)
	if _, err := ca.Init(filepath.Join(e.dir, "pki"), ca.InitOptions{Actor: "test"}); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct{ file, want string }{
		"missing":  {"", "no such file"},
		"not a CA": {string(e.server.CertPEM()), "not a CA certificate"},
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(e.dir, "clients-ca.pem")
			os.Remove(path)
			if tc.file != "" {
				os.WriteFile(path, []byte(tc.file), 0o600)
			}
			_, err := New(Options{ConfigPath: e.writeConfig(estBootstrapConfig)})
			if err == nil || !strings.Contains(err.Error(), "est.bootstrap_ca") || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v", err)
			}
		})
	}
}

// The EST counter is registered once per registry; a rebuild (reload)
// counts on the same series.
func TestESTRequestsCounter(t *testing.T) {
	reg := prometheus.NewRegistry()
	a, err := estRequestsCounter(reg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := estRequestsCounter(reg)
	if err != nil || a != b {
		t.Fatalf("second registration: %v (same: %v)", err, a == b)
	}
	a.WithLabelValues("simpleenroll", "refused").Inc()
	b.WithLabelValues("simpleenroll", "refused").Inc()
	mfs, err := reg.Gather()
	if err != nil || len(mfs) != 1 || mfs[0].GetName() != "mtlsgate_est_requests_total" || mfs[0].GetMetric()[0].GetCounter().GetValue() != 2 {
		t.Fatalf("gathered %v (%v)", mfs, err)
	}
	if _, err := estRequestsCounter(nil); err != nil {
		t.Fatal(err)
	}
}
