package ca

import (
	"context"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestRootCRLAndIntermediateRevocation(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	if _, err := Init(dir, InitOptions{RootPassword: []byte("s3cret-root"), PublishURL: "http://127.0.0.1:8080", Actor: "test"}); err != nil {
		t.Fatal(err)
	}
	a, err := Open(dir, Options{Actor: "test"})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if got := a.Intermediate().CRLDistributionPoints; len(got) != 1 || got[0] != "http://127.0.0.1:8080/ca/root.crl" {
		t.Errorf("issuing CA CDP %v", got)
	}
	der, ok := a.RootCRL()
	if !ok {
		t.Fatal("init wrote no verifiable root.crl")
	}
	first, _ := x509.ParseRevocationList(der)
	if first.Number.Int64() != 1 || len(first.RevokedCertificateEntries) != 0 {
		t.Fatalf("initial root CRL #%v with %d entries", first.Number, len(first.RevokedCertificateEntries))
	}
	leaf := issue(t, a, IssueRequest{Profile: "client", CN: "alice"})

	// Wrong and missing passwords: clear errors, root.crl unchanged.
	before, _ := os.ReadFile(filepath.Join(dir, RootCRLFile))
	for _, pw := range []string{writeTemp(t, "bad", []byte("wrong")), ""} {
		_, err := a.SignRootCRL(RootCRLOptions{PasswordFile: pw})
		if err == nil || !strings.Contains(err.Error(), "password") {
			t.Errorf("password file %q: err = %v", pw, err)
		}
	}
	if after, _ := os.ReadFile(filepath.Join(dir, RootCRLFile)); string(after) != string(before) {
		t.Fatal("a failed root-crl changed root.crl")
	}

	pw := writeTemp(t, "pw", []byte("s3cret-root\n"))
	gen := a.RevocationGeneration()
	crl, err := a.SignRootCRL(RootCRLOptions{PasswordFile: pw, RevokeIntermediate: true, Reason: 2})
	if err != nil {
		t.Fatal(err)
	}
	if crl.Number.Int64() != 2 || len(crl.RevokedCertificateEntries) != 1 || crl.RevokedCertificateEntries[0].SerialNumber.Cmp(a.Intermediate().SerialNumber) != 0 {
		t.Fatalf("root CRL #%v %+v", crl.Number, crl.RevokedCertificateEntries)
	}
	if err := a.SyncRevocations(context.Background()); err != nil {
		t.Fatal(err)
	}
	if r, revoked := a.CheckRevoked(leaf.Cert); !revoked || r.Reason != 2 || a.RevocationGeneration() == gen {
		t.Fatalf("leaf of a revoked issuing CA: %+v %v", r, revoked)
	}
	// A revoked issuing CA signs nothing more.
	if _, err := a.Issue(context.Background(), IssueRequest{Profile: "client", CN: "carol"}); err == nil || !strings.Contains(err.Error(), "revoked by the root") || !errors.Is(err, ErrIssuerRevoked) {
		t.Fatalf("Issue with a revoked issuing CA: %v", err)
	}
	if _, _, err := a.NewOCSPSigner(context.Background(), time.Hour); err == nil {
		t.Fatal("OCSP signer issued by a revoked issuing CA")
	}
	// Re-signing keeps the revocation listed.
	again, err := a.SignRootCRL(RootCRLOptions{PasswordFile: pw, Validity: time.Hour})
	if err != nil || len(again.RevokedCertificateEntries) != 1 || again.Number.Int64() != 3 {
		t.Fatalf("re-signed root CRL: %v", err)
	}
	// A root.crl not signed by the root is ignored.
	other := newTestCA(t, InitOptions{})
	foreign, _ := os.ReadFile(filepath.Join(other.Dir(), RootCRLFile))
	if err := os.WriteFile(filepath.Join(dir, RootCRLFile), foreign, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, ok := a.RootCRL(); ok {
		t.Fatal("foreign root.crl accepted")
	}
}
