package diagnose

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"flag"
	"math/big"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// Now is the fixed clock of the golden tests.
var Now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// CheckGolden compares got with testdata/NAME.golden after replacing the
// directories in redact (test temp dirs) with $TMP; -update rewrites it.
func CheckGolden(t *testing.T, name, got string, redact ...string) {
	t.Helper()
	for _, d := range redact {
		got = strings.ReplaceAll(got, d, "$TMP")
	}
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run %s -update to create it)", err, t.Name())
	}
	if got != string(want) {
		t.Errorf("output differs from %s (go test -update rewrites it)\n--- got:\n%s\n--- want:\n%s", path, got, want)
	}
}

// TCert is a deterministic test certificate: its Ed25519 key comes from a
// seed derived from its name, and Ed25519 signatures are deterministic, so
// the same options give the same DER (and fingerprint) in every run.
type TCert struct {
	Cert *x509.Certificate
	Key  ed25519.PrivateKey
}

// TOpts shape a test certificate. Zero validity: Now-10d to Now+20d for a
// leaf, Now-365d to Now+365d for a CA.
type TOpts struct {
	CN, O, OU           string
	DNS, URIs           []string
	Serial              int64
	NotBefore, NotAfter time.Time
	EKU                 []x509.ExtKeyUsage // nil: clientAuth; empty: none
	CA                  bool
}

// Mint makes a certificate signed by parent (nil: self-signed).
func Mint(t testing.TB, o TOpts, parent *TCert) *TCert {
	t.Helper()
	seed := sha256.Sum256([]byte("diagnose test key " + o.CN + "/" + o.OU))
	key := ed25519.NewKeyFromSeed(seed[:])
	nb, na := o.NotBefore, o.NotAfter
	if nb.IsZero() {
		nb = Now.Add(-10 * 24 * time.Hour)
		if o.CA {
			nb = Now.Add(-365 * 24 * time.Hour)
		}
	}
	if na.IsZero() {
		na = Now.Add(20 * 24 * time.Hour)
		if o.CA {
			na = Now.Add(365 * 24 * time.Hour)
		}
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(o.Serial), NotBefore: nb, NotAfter: na,
		Subject:               pkix.Name{CommonName: o.CN},
		BasicConstraintsValid: true, IsCA: o.CA,
		DNSNames: o.DNS,
	}
	if o.O != "" {
		tmpl.Subject.Organization = []string{o.O}
	}
	if o.OU != "" {
		tmpl.Subject.OrganizationalUnit = []string{o.OU}
	}
	for _, u := range o.URIs {
		pu, err := url.Parse(u)
		if err != nil {
			t.Fatal(err)
		}
		tmpl.URIs = append(tmpl.URIs, pu)
	}
	if o.CA {
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	} else {
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		tmpl.ExtKeyUsage = o.EKU
		if o.EKU == nil {
			tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
		}
	}
	signer, issuer := key, tmpl
	if parent != nil {
		signer, issuer = parent.Key, parent.Cert
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuer, key.Public(), signer)
	if err != nil {
		t.Fatalf("minting %s: %v", o.CN, err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &TCert{Cert: c, Key: key}
}

// PEMOf encodes certificates as PEM.
func PEMOf(certs ...*TCert) []byte {
	var b bytes.Buffer
	for _, c := range certs {
		_ = pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: c.Cert.Raw})
	}
	return b.Bytes()
}

// WriteFile writes data to dir/name and returns the path.
func WriteFile(t testing.TB, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// Chain returns the certificates of tcs.
func Chain(tcs ...*TCert) []*x509.Certificate {
	out := make([]*x509.Certificate, len(tcs))
	for i, c := range tcs {
		out[i] = c.Cert
	}
	return out
}
