// Package testpki mints certificate authorities and leaf certificates at test
// run time, so that no test depends on committed PEM fixtures that expire.
//
// It is for tests only: keys are ECDSA P-256 by default (RSA on request), kept
// in memory, and written to t.TempDir() with 0600 permissions when a test
// needs files. Every helper takes testing.TB and fails the test on error.
package testpki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// KeyType selects the key algorithm of a minted certificate.
type KeyType int

// Key types.
const (
	ECDSAP256 KeyType = iota
	RSA2048
)

// CA is a certificate authority minted for a test. Safe for concurrent use
// once created (Issue only reads it).
type CA struct {
	Cert *x509.Certificate
	Key  crypto.Signer
	// Parent is nil for a root, else the CA that signed this one.
	Parent *CA
}

// Leaf is an end-entity certificate with its key.
type Leaf struct {
	Cert  *x509.Certificate
	Key   crypto.Signer
	Chain []*x509.Certificate // intermediates up to (not including) the root
}

// Options shape a certificate. Zero values give sensible defaults: valid from
// an hour ago for a day, ECDSA P-256, client and server EKU.
type Options struct {
	CN        string
	O, OU     []string
	DNS       []string
	IPs       []net.IP
	URIs      []string
	Emails    []string
	NotBefore time.Time
	NotAfter  time.Time
	KeyType   KeyType
	// EKU overrides the default {ClientAuth, ServerAuth}.
	EKU []x509.ExtKeyUsage
	// OCSPServer and CRLDistributionPoints are copied into the certificate.
	OCSPServer            []string
	CRLDistributionPoints []string
}

func newKey(tb testing.TB, kt KeyType) crypto.Signer {
	tb.Helper()
	var (
		k   crypto.Signer
		err error
	)
	switch kt {
	case RSA2048:
		k, err = rsa.GenerateKey(rand.Reader, 2048)
	default:
		k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	if err != nil {
		tb.Fatalf("testpki: generating key: %v", err)
	}
	return k
}

func serial(tb testing.TB) *big.Int {
	tb.Helper()
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		tb.Fatalf("testpki: serial: %v", err)
	}
	b[0] &= 0x7f
	return new(big.Int).SetBytes(b)
}

func skid(pub crypto.PublicKey) []byte {
	der, _ := x509.MarshalPKIXPublicKey(pub)
	h := sha256.Sum256(der)
	return h[:20]
}

func window(o Options) (time.Time, time.Time) {
	nb, na := o.NotBefore, o.NotAfter
	if nb.IsZero() {
		nb = time.Now().Add(-time.Hour)
	}
	if na.IsZero() {
		na = time.Now().Add(24 * time.Hour)
	}
	return nb, na
}

// NewRootCA mints a self-signed root CA named cn.
func NewRootCA(tb testing.TB, cn string) *CA {
	tb.Helper()
	return NewRootCAWith(tb, Options{CN: cn})
}

// NewRootCAWith mints a self-signed root CA with the given options.
func NewRootCAWith(tb testing.TB, o Options) *CA {
	tb.Helper()
	key := newKey(tb, o.KeyType)
	nb, na := window(o)
	if o.NotAfter.IsZero() {
		na = time.Now().Add(7 * 24 * time.Hour)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(tb),
		Subject:               pkix.Name{CommonName: o.CN, Organization: o.O, OrganizationalUnit: o.OU},
		NotBefore:             nb,
		NotAfter:              na,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		SubjectKeyId:          skid(key.Public()),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		tb.Fatalf("testpki: creating root %q: %v", o.CN, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatalf("testpki: parsing root: %v", err)
	}
	return &CA{Cert: cert, Key: key}
}

// NewIntermediate mints an intermediate CA signed by ca.
func (ca *CA) NewIntermediate(tb testing.TB, cn string) *CA {
	tb.Helper()
	key := newKey(tb, ECDSAP256)
	tmpl := &x509.Certificate{
		SerialNumber:          serial(tb),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(7 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
		SubjectKeyId:          skid(key.Public()),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		tb.Fatalf("testpki: creating intermediate %q: %v", cn, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatalf("testpki: parsing intermediate: %v", err)
	}
	return &CA{Cert: cert, Key: key, Parent: ca}
}

// Issue mints a leaf certificate signed by ca.
func (ca *CA) Issue(tb testing.TB, o Options) *Leaf {
	tb.Helper()
	key := newKey(tb, o.KeyType)
	nb, na := window(o)
	eku := o.EKU
	if eku == nil {
		eku = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth}
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(tb),
		Subject:               pkix.Name{CommonName: o.CN, Organization: o.O, OrganizationalUnit: o.OU},
		NotBefore:             nb,
		NotAfter:              na,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           eku,
		BasicConstraintsValid: true,
		DNSNames:              o.DNS,
		IPAddresses:           o.IPs,
		EmailAddresses:        o.Emails,
		OCSPServer:            o.OCSPServer,
		CRLDistributionPoints: o.CRLDistributionPoints,
	}
	if _, ok := key.(*rsa.PrivateKey); ok {
		tmpl.KeyUsage |= x509.KeyUsageKeyEncipherment
	}
	for _, u := range o.URIs {
		pu, err := url.Parse(u)
		if err != nil {
			tb.Fatalf("testpki: URI SAN %q: %v", u, err)
		}
		tmpl.URIs = append(tmpl.URIs, pu)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		tb.Fatalf("testpki: issuing %q: %v", o.CN, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatalf("testpki: parsing leaf: %v", err)
	}
	var chain []*x509.Certificate
	for c := ca; c != nil && c.Parent != nil; c = c.Parent {
		chain = append(chain, c.Cert)
	}
	return &Leaf{Cert: cert, Key: key, Chain: chain}
}

// Pool returns a cert pool holding only this CA's certificate.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// TLSCertificate returns the leaf as a tls.Certificate with its chain.
func (l *Leaf) TLSCertificate() tls.Certificate {
	c := tls.Certificate{PrivateKey: l.Key, Leaf: l.Cert}
	c.Certificate = append(c.Certificate, l.Cert.Raw)
	for _, ch := range l.Chain {
		c.Certificate = append(c.Certificate, ch.Raw)
	}
	return c
}

// CertPEM returns the leaf alone as PEM.
func (l *Leaf) CertPEM() []byte { return CertPEM(l.Cert) }

// ChainPEM returns the leaf followed by its intermediates as PEM.
func (l *Leaf) ChainPEM() []byte {
	out := CertPEM(l.Cert)
	for _, c := range l.Chain {
		out = append(out, CertPEM(c)...)
	}
	return out
}

// KeyPEM returns the private key as unencrypted PKCS#8 PEM.
func (l *Leaf) KeyPEM(tb testing.TB) []byte {
	tb.Helper()
	return KeyPEM(tb, l.Key)
}

// CertPEM encodes one certificate as PEM.
func CertPEM(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

// KeyPEM encodes a private key as unencrypted PKCS#8 PEM.
func KeyPEM(tb testing.TB, k crypto.Signer) []byte {
	tb.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		tb.Fatalf("testpki: marshalling key: %v", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// WriteFile writes data to dir/name with mode 0600 and returns the path.
func WriteFile(tb testing.TB, dir, name string, data []byte) string {
	tb.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		tb.Fatalf("testpki: writing %s: %v", p, err)
	}
	return p
}

// WriteLeaf writes NAME.pem (leaf + chain) and NAME.key into dir and returns
// both paths.
func (l *Leaf) WriteLeaf(tb testing.TB, dir, name string) (certPath, keyPath string) {
	tb.Helper()
	return WriteFile(tb, dir, name+".pem", l.ChainPEM()), WriteFile(tb, dir, name+".key", l.KeyPEM(tb))
}

// WriteCA writes the CA certificate as NAME.pem into dir and returns the path.
func (ca *CA) WriteCA(tb testing.TB, dir, name string) string {
	tb.Helper()
	return WriteFile(tb, dir, name+".pem", CertPEM(ca.Cert))
}
