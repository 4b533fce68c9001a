package ca

import (
	"bytes"
	"strings"
	"testing"

	keystore "github.com/pavlo-v-chernykh/keystore-go/v4"
	"software.sslmate.com/src/go-pkcs12"
)

func TestExportKeystores(t *testing.T) {
	a := newTestCA(t, InitOptions{})
	iss := issue(t, a, IssueRequest{Profile: "client", CN: "alice"})
	pw := []byte("changeit")
	for _, legacy := range []bool{false, true} {
		data, err := EncodePKCS12(iss.Key, iss.Chain, pw, legacy)
		if err != nil {
			t.Fatal(err)
		}
		key, cert, cas, err := pkcs12.DecodeChain(data, string(pw))
		if err != nil {
			t.Fatalf("legacy=%v: %v", legacy, err)
		}
		if !cert.Equal(iss.Cert) || len(cas) != 1 || !cas[0].Equal(a.Intermediate()) || key == nil {
			t.Fatalf("legacy=%v: wrong content", legacy)
		}
	}
	trust, err := EncodePKCS12(nil, iss.Chain, pw, false)
	if err != nil {
		t.Fatal(err)
	}
	if certs, err := pkcs12.DecodeTrustStore(trust, string(pw)); err != nil || len(certs) != 2 {
		t.Fatalf("trust store: %d certs, %v", len(certs), err)
	}
	jks, err := EncodeJKS(iss.Key, iss.Chain, "alice", pw)
	if err != nil {
		t.Fatal(err)
	}
	ks := keystore.New()
	if err := ks.Load(bytes.NewReader(jks), pw); err != nil {
		t.Fatal(err)
	}
	e, err := ks.GetPrivateKeyEntry("alice", pw)
	if err != nil || len(e.CertificateChain) != 2 {
		t.Fatalf("JKS entry: %v", err)
	}
	if _, err := EncodeJKS(iss.Key, iss.Chain, "alice", []byte("short")); err == nil || !strings.Contains(err.Error(), "at least 6") {
		t.Fatalf("short password: %v", err)
	}
}
