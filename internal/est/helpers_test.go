package est

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/mtlsgate/mtlsgate/internal/ca"
)

func newAuthority(t testing.TB) *ca.Authority {
	t.Helper()
	dir := t.TempDir()
	if _, err := ca.Init(dir, ca.InitOptions{Name: "EST Test CA", Actor: "test"}); err != nil {
		t.Fatal(err)
	}
	a, err := ca.Open(dir, ca.Options{Actor: "test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

var testAccounts = []Account{
	{Username: "alice", Password: "s3cret", AllowCN: []string{"device-*"}},
	{Username: "bob", Password: "hunter2", AllowCN: []string{"bob"}},
}

func newServer(t testing.TB, a *ca.Authority) *Server {
	t.Helper()
	s, err := NewServer(Options{
		Signer:         FromAuthority(a),
		Auth:           &BasicAuth{Accounts: testAccounts},
		DefaultProfile: "client",
		Labels:         map[string]string{"srv": "server"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// makeCSR returns a key and the DER of a CSR for tmpl.
func makeCSR(t testing.TB, tmpl *x509.CertificateRequest) (*ecdsa.PrivateKey, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		t.Fatal(err)
	}
	return key, der
}

func csrFor(t testing.TB, cn string, dns ...string) []byte {
	_, der := makeCSR(t, &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn}, DNSNames: dns})
	return der
}

// wrapped is base64 with 64-character CRLF-terminated lines.
func wrapped(der []byte) string {
	s := base64.StdEncoding.EncodeToString(der)
	var b strings.Builder
	for len(s) > 64 {
		b.WriteString(s[:64] + "\r\n")
		s = s[64:]
	}
	b.WriteString(s + "\r\n")
	return b.String()
}

// tlsServer starts s over TLS on 127.0.0.1 with a server certificate from
// a, asking for (not requiring) client certificates issued by a.
func tlsServer(t testing.TB, a *ca.Authority, h http.Handler) *httptest.Server {
	t.Helper()
	iss, err := a.Issue(context.Background(), ca.IssueRequest{
		Profile: "server", CN: "127.0.0.1", KeyType: ca.ECDSAP256,
		SANs: ca.Names{IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, DNS: []string{"localhost"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(a.Root())
	pool.AddCert(a.Intermediate())
	srv := httptest.NewUnstartedServer(h)
	srv.TLS = &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{iss.Cert.Raw, a.Intermediate().Raw}, PrivateKey: iss.Key}},
		ClientAuth:   tls.VerifyClientCertIfGiven,
		ClientCAs:    pool,
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

func tlsClient(a *ca.Authority, cert *tls.Certificate) *http.Client {
	roots := x509.NewCertPool()
	roots.AddCert(a.Root())
	cfg := &tls.Config{RootCAs: roots}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
}
