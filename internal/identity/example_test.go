package identity_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net/http"
	"net/url"
	"time"

	"github.com/mtlsgate/mtlsgate/internal/identity"
)

// exampleChain mints a root and a client certificate for alice. (Tests use
// internal/testpki; an Example has no testing.TB to give it.)
func exampleChain() []*x509.Certificate {
	mint := func(tmpl, parent *x509.Certificate, pub any, priv *ecdsa.PrivateKey) *x509.Certificate {
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, priv)
		if err != nil {
			panic(err)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			panic(err)
		}
		return c
	}
	rootKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leafKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := time.Now()
	rootTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Example Root"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	root := mint(rootTmpl, rootTmpl, rootKey.Public(), rootKey)
	spiffe, _ := url.Parse("spiffe://example.org/alice")
	leaf := mint(&x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "alice", Organization: []string{"Acme, Inc."}},
		NotBefore:    now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		DNSNames:    []string{"alice.example.org"},
		URIs:        []*url.URL{spiffe},
	}, root, leafKey.Public(), rootKey)
	return []*x509.Certificate{leaf, root}
}

func ExampleIdentity_SetHeaders() {
	// Once per connection, from r.TLS.VerifiedChains[0].
	id := identity.FromChain(exampleChain())

	// Per request: first drop whatever identity the client claims...
	h := http.Header{}
	h.Set("X-Client-Cert-Subject", "CN=admin")
	h["X_client_cert_verified"] = []string{"SUCCESS"} // as Go's server keeps it
	h.Set("Accept", "application/json")
	fmt.Println("stripped:", identity.StripInbound(h))

	// ...then set the route's format.
	id.SetHeaders(h, identity.FormatHeaders, "")
	fmt.Println(h.Get("X-Client-Cert-Subject"))
	fmt.Println(h.Get("X-Client-Cert-Spiffe-Id"))

	xfcc := http.Header{}
	id.SetHeaders(xfcc, identity.FormatXFCC, "spiffe://example.org/gateway")
	elems, err := identity.ParseXFCC(xfcc.Get("X-Forwarded-Client-Cert"))
	if err != nil {
		panic(err)
	}
	fmt.Println(elems[0]["by"], elems[0]["subject"], elems[0]["dns"])

	rfc := http.Header{}
	id.SetHeaders(rfc, identity.FormatRFC9440, "")
	cert, err := identity.ParseClientCert(rfc.Get("Client-Cert"))
	if err != nil {
		panic(err)
	}
	fmt.Println(cert.Subject.CommonName, len(rfc.Values("Client-Cert-Chain")))
	// Output:
	// stripped: 2
	// CN=alice,O=Acme\, Inc.
	// spiffe://example.org/alice
	// [spiffe://example.org/gateway] [CN=alice,O=Acme\, Inc.] [alice.example.org]
	// alice 0
}
