package ca

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
	"time"
)

func makeCSR(t testing.TB, key crypto.Signer, tmpl *x509.CertificateRequest) []byte {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestSignCSR(t *testing.T) {
	a := newTestCA(t, InitOptions{})
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der := makeCSR(t, key, &x509.CertificateRequest{
		Subject:  pkix.Name{CommonName: "device-17", OrganizationalUnit: []string{"fleet"}, Country: []string{"DE"}},
		DNSNames: []string{"device-17.example.com"},
		// Requested extensions the profile overrides: a CSR cannot choose
		// its key usage.
		ExtraExtensions: []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 37}, Value: mustMarshal(t, []asn1.ObjectIdentifier{{1, 3, 6, 1, 5, 5, 7, 3, 3}})}},
	})
	for name, data := range map[string][]byte{
		"DER": der,
		"PEM": pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}),
		"NEW": []byte("\n" + string(pem.EncodeToMemory(&pem.Block{Type: "NEW CERTIFICATE REQUEST", Bytes: der}))),
	} {
		t.Run(name, func(t *testing.T) {
			iss, err := a.SignCSR(context.Background(), data, "client", 24*time.Hour, "", "")
			if err != nil {
				t.Fatal(err)
			}
			c := iss.Cert
			verifyChain(t, a, c, x509.ExtKeyUsageClientAuth)
			if iss.Key != nil {
				t.Error("SignCSR returned a key")
			}
			if c.Subject.CommonName != "device-17" || c.Subject.OrganizationalUnit[0] != "fleet" || len(c.Subject.Country) != 0 {
				t.Errorf("subject %v", c.Subject)
			}
			if len(c.ExtKeyUsage) != 1 || c.ExtKeyUsage[0] != x509.ExtKeyUsageClientAuth {
				t.Errorf("EKU %v: the profile must decide", c.ExtKeyUsage)
			}
			if !c.PublicKey.(*ecdsa.PublicKey).Equal(key.Public()) {
				t.Error("certificate is not for the CSR's key")
			}
		})
	}
}

func mustMarshal(t testing.TB, v any) []byte {
	t.Helper()
	b, err := asn1.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSignCSRRefusals(t *testing.T) {
	a := newTestCA(t, InitOptions{})
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	good := makeCSR(t, key, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "x"}})
	tampered := append([]byte(nil), good...)
	tampered[len(tampered)-5] ^= 0xff // inside the signature
	caTrue := makeCSR(t, key, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "x"},
		ExtraExtensions: []pkix.Extension{{Id: oidBasicConstraints, Critical: true, Value: mustMarshal(t, struct{ IsCA bool }{true})}}})
	weak, _ := rsa.GenerateKey(rand.Reader, 1024)
	weakCSR := makeCSR(t, weak, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "x"}})
	longCN := makeCSR(t, key, &x509.CertificateRequest{Subject: pkix.Name{CommonName: strings.Repeat("x", 65)}})
	withO := makeCSR(t, key, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "x", Organization: []string{"Evil"}}})
	a.settings.profiles["restricted"] = &Profile{Name: "restricted", ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		DefaultTTL: day, MaxTTL: day, SubjectO: []string{"Acme"}}
	for name, tc := range map[string]struct {
		data    []byte
		profile string
		ttl     time.Duration
		want    string
		class   error // nil: internal (none of the classes)
	}{
		"bad signature": {tampered, "client", 0, "signature", ErrMalformedCSR},
		"CA:true":       {caTrue, "client", 0, "CA:true", ErrNotPermitted},
		"ttl":           {good, "client", 1000 * day, "beyond profile", ErrNotPermitted},
		"profile":       {good, "root", 0, "unknown profile", nil},
		"weak key":      {weakCSR, "client", 0, "too weak", ErrNotPermitted},
		"garbage":       {[]byte("hello"), "client", 0, "not a PKCS#10", ErrMalformedCSR},
		"wrong PEM":     {pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: good}), "client", 0, `want "CERTIFICATE REQUEST"`, ErrMalformedCSR},
		"two PEMs":      {append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: good}), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: good})...), "client", 0, "one request", ErrMalformedCSR},
		"huge":          {make([]byte, maxCSRSize+1), "client", 0, "at most", ErrMalformedCSR},
		"server no SAN": {good, "server", 0, "SAN", ErrNotPermitted},
		"long CN":       {longCN, "client", 0, "at most 64", ErrInvalidRequest},
		"subject O":     {withO, "restricted", 0, `O="Evil"`, ErrNotPermitted},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := a.SignCSR(context.Background(), tc.data, tc.profile, tc.ttl, "", "")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			for _, c := range []error{ErrMalformedCSR, ErrInvalidRequest, ErrNotPermitted, ErrIssuerRevoked} {
				if got := errors.Is(err, c); got != (c == tc.class) {
					t.Errorf("errors.Is(%v, %v) = %v", err, c, got)
				}
			}
		})
	}
}

func FuzzParseCSR(f *testing.F) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der := makeCSR(f, key, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "seed"}, DNSNames: []string{"a.example"}})
	f.Add(der)
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
	f.Add([]byte("-----BEGIN CERTIFICATE REQUEST-----\n-----END CERTIFICATE REQUEST-----\n"))
	f.Add([]byte{0x30, 0x03, 0x02, 0x01, 0x01})
	f.Fuzz(func(t *testing.T, data []byte) {
		csr, err := ParseCSR(data)
		if err != nil {
			if csr != nil {
				t.Fatal("error with a result")
			}
			return
		}
		// Whatever is accepted verifies and never asks for a CA.
		if err := csr.CheckSignature(); err != nil {
			t.Fatalf("accepted a CSR whose signature fails: %v", err)
		}
		_ = RequestFromCSR(csr, "client", 0, "", "").SANs.check()
	})
}
