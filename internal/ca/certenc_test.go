package ca

import (
	"bytes"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"net"
	"net/url"
	"testing"
	"time"
)

// TestLeafEncoderMatchesCryptoX509 holds encodeLeaf to crypto/x509: for
// every CA key type, leaf key type and combination of names and URLs, the
// TBSCertificate it writes is byte-identical to CreateCertificate's.
func TestLeafEncoderMatchesCryptoX509(t *testing.T) {
	u1, _ := url.Parse("spiffe://example.org/ns/a/sa/b")
	u2, _ := url.Parse("https://example.com/x?y=1")
	names := []Names{
		{},
		{DNS: []string{"a.example.com", "*.b.example.com"}},
		{IPs: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")}, Emails: []string{"ops@example.com"}},
		{DNS: []string{"x"}, IPs: []net.IP{net.ParseIP("10.1.2.3").To16()}, Emails: []string{"a@b.c"}, URIs: []*url.URL{u1, u2}},
	}
	subjects := []pkix.Name{
		{CommonName: "alice"},
		{CommonName: "bob", Organization: []string{"Acme", "Acme EU"}, OrganizationalUnit: []string{"payments"}},
		{},
	}
	now := time.Now().UTC().Truncate(time.Second)
	for _, caKey := range []KeyType{ECDSAP256, ECDSAP384, RSA2048, Ed25519} {
		a := newTestCA(t, InitOptions{KeyType: caKey})
		for _, leafKey := range []KeyType{ECDSAP256, RSA2048, Ed25519} {
			key, err := GenerateKey(leafKey)
			if err != nil {
				t.Fatal(err)
			}
			for i, n := range names {
				for j, subj := range subjects {
					for _, urls := range []bool{false, true} {
						for _, eku := range [][]x509.ExtKeyUsage{{x509.ExtKeyUsageClientAuth}, {x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}} {
							if subj.CommonName == "" && len(n.DNS)+len(n.IPs)+len(n.Emails)+len(n.URIs) == 0 {
								continue
							}
							name := fmt.Sprintf("ca=%s/leaf=%s/names=%d/subject=%d/urls=%v/eku=%d", caKey, leafKey, i, j, urls, len(eku))
							compareWithCryptoX509(t, name, a, key.Public(), leafTemplate(t, key.Public(), subj, n, urls, eku, now))
						}
					}
				}
			}
		}
	}
}

func leafTemplate(t *testing.T, pub any, subj pkix.Name, n Names, urls bool, eku []x509.ExtKeyUsage, now time.Time) *x509.Certificate {
	serial, err := newSerial()
	if err != nil {
		t.Fatal(err)
	}
	skid, err := subjectKeyID(pub)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: subj,
		NotBefore: now.Add(-time.Minute), NotAfter: time.Date(2051, 1, 2, 3, 4, 5, 0, time.UTC),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment, ExtKeyUsage: eku,
		BasicConstraintsValid: true, SubjectKeyId: skid,
		DNSNames: n.DNS, IPAddresses: n.IPs, EmailAddresses: n.Emails, URIs: n.URIs,
	}
	if urls {
		tmpl.CRLDistributionPoints = []string{"http://pki.example.com:8080/ca/crl"}
		tmpl.OCSPServer = []string{"http://pki.example.com:8080/ca/ocsp"}
		tmpl.IssuingCertificateURL = []string{"http://pki.example.com:8080/ca/intermediate.crt"}
	}
	return tmpl
}

func compareWithCryptoX509(t *testing.T, name string, a *Authority, pub any, tmpl *x509.Certificate) {
	t.Helper()
	want, err := x509.CreateCertificate(rand.Reader, tmpl, a.inter, pub, a.interKey)
	if err != nil {
		t.Fatalf("%s: crypto/x509: %v", name, err)
	}
	got, err := encodeLeaf(tmpl, pub, a.inter, a.interKey)
	if err != nil {
		t.Fatalf("%s: encodeLeaf: %v", name, err)
	}
	wc, _ := x509.ParseCertificate(want)
	gc, err := x509.ParseCertificate(got)
	if err != nil {
		t.Fatalf("%s: encodeLeaf output does not parse: %v", name, err)
	}
	if !bytes.Equal(gc.RawTBSCertificate, wc.RawTBSCertificate) {
		t.Fatalf("%s: TBSCertificate differs from crypto/x509's\n got %x\nwant %x", name, gc.RawTBSCertificate, wc.RawTBSCertificate)
	}
	if err := gc.CheckSignatureFrom(a.inter); err != nil {
		t.Fatalf("%s: signature: %v", name, err)
	}
}

func TestLeafEncoderRefusesNonASCII(t *testing.T) {
	a := newTestCA(t, InitOptions{})
	key, _ := GenerateKey(ECDSAP256)
	tmpl := leafTemplate(t, key.Public(), pkix.Name{CommonName: "x"}, Names{Emails: []string{"jörg@example.com"}}, false, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, time.Now())
	if _, err := encodeLeaf(tmpl, key.Public(), a.inter, a.interKey); err == nil {
		t.Fatal("non-ASCII e-mail SAN accepted")
	}
}
