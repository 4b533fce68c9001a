package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"path/filepath"
	"testing"

	"github.com/mtlsgate/mtlsgate/internal/testpki"
)

// pki is the set of CAs and certificates one test needs, written as files
// into the test's directory (next to the gateway config, so the config can
// name them relatively):
//
//	server-ca.pem              root that issued the gateway's listener cert
//	gateway.pem, gateway.key   listener cert (localhost, 127.0.0.1, *.example.com)
//	clients-ca.pem             root of client certificates (listener client_ca)
//	clients-int.pem            intermediate that issues every client leaf
//	gw-client.pem, .key        the gateway's client cert towards upstreams
//	backend-ca.pem             root that issued the upstream's server cert
type pki struct {
	dir        string
	serverCA   *testpki.CA
	server     *testpki.Leaf
	clientsCA  *testpki.CA
	clientsInt *testpki.CA
	gwClientCA *testpki.CA
	gwClient   *testpki.Leaf
	backendCA  *testpki.CA
	backend    *testpki.Leaf
}

func newPKI(t testing.TB) *pki {
	t.Helper()
	p := &pki{dir: t.TempDir()}
	p.serverCA = testpki.NewRootCA(t, "E2E Server Root")
	p.server = p.serverCA.Issue(t, testpki.Options{
		CN:   "localhost",
		DNS:  []string{"localhost", "api.example.com", "strict.example.com", "open.example.com"},
		IPs:  []net.IP{net.ParseIP("127.0.0.1")},
		URIs: []string{"spiffe://example.org/gateway"},
		EKU:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	p.serverCA.WriteCA(t, p.dir, "server-ca")
	p.server.WriteLeaf(t, p.dir, "gateway")

	p.clientsCA = testpki.NewRootCA(t, "E2E Clients Root")
	p.clientsInt = p.clientsCA.NewIntermediate(t, "E2E Clients Issuing CA")
	p.clientsCA.WriteCA(t, p.dir, "clients-ca")
	p.clientsInt.WriteCA(t, p.dir, "clients-int")

	p.gwClientCA = testpki.NewRootCA(t, "E2E Gateway Client Root")
	p.gwClient = p.gwClientCA.Issue(t, testpki.Options{CN: "mtlsgate-gw", O: []string{"E2E"}, EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	p.gwClient.WriteLeaf(t, p.dir, "gw-client")

	p.backendCA = testpki.NewRootCA(t, "E2E Backend Root")
	p.backend = p.backendCA.Issue(t, testpki.Options{
		CN: "orders.internal", DNS: []string{"orders.internal"},
		EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	p.backendCA.WriteCA(t, p.dir, "backend-ca")
	return p
}

// path returns the absolute path of a file in the PKI directory.
func (p *pki) path(name string) string { return filepath.Join(p.dir, name) }

// clientFiles is a client certificate written for curl and openssl.
type clientFiles struct {
	leaf *testpki.Leaf
	cert string // leaf + intermediate chain, PEM
	key  string
}

// client issues a client certificate from the clients' intermediate CA
// and writes NAME.pem (leaf then intermediate) and NAME.key.
func (p *pki) client(t testing.TB, name string, o testpki.Options) clientFiles {
	t.Helper()
	if o.EKU == nil {
		o.EKU = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	leaf := p.clientsInt.Issue(t, o)
	c, k := leaf.WriteLeaf(t, p.dir, name)
	return clientFiles{leaf: leaf, cert: c, key: k}
}

// foreignClient issues a client certificate from a CA the gateway does not
// trust.
func (p *pki) foreignClient(t testing.TB, name string, o testpki.Options) clientFiles {
	t.Helper()
	ca := testpki.NewRootCA(t, "Stranger CA")
	leaf := ca.Issue(t, o)
	c, k := leaf.WriteLeaf(t, p.dir, name)
	return clientFiles{leaf: leaf, cert: c, key: k}
}

// tlsClientConfig returns a Go client config trusting the gateway's server
// CA and presenting leaf (nil: no certificate).
func (p *pki) tlsClientConfig(leaf *testpki.Leaf, serverName string) *tls.Config {
	tc := &tls.Config{RootCAs: p.serverCA.Pool(), ServerName: serverName, MinVersion: tls.VersionTLS12}
	if leaf != nil {
		c := leaf.TLSCertificate()
		tc.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &c, nil }
	}
	return tc
}
