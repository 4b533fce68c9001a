package ca

import (
	"context"
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// newTestCA makes a CA in a temporary directory and opens it.
func newTestCA(t testing.TB, o InitOptions) *Authority {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "pki")
	if o.Actor == "" {
		o.Actor = "test"
	}
	if _, err := Init(dir, o); err != nil {
		t.Fatalf("Init: %v", err)
	}
	a, err := Open(dir, Options{Actor: "test"})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

func issue(t testing.TB, a *Authority, r IssueRequest) *Issued {
	t.Helper()
	iss, err := a.Issue(context.Background(), r)
	if err != nil {
		t.Fatalf("Issue(%+v): %v", r, err)
	}
	return iss
}

func verifyChain(t testing.TB, a *Authority, c *x509.Certificate, eku x509.ExtKeyUsage) {
	t.Helper()
	roots := x509.NewCertPool()
	roots.AddCert(a.Root())
	inter := x509.NewCertPool()
	inter.AddCert(a.Intermediate())
	if _, err := c.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{eku}, CurrentTime: time.Now()}); err != nil {
		t.Fatalf("issued certificate does not verify: %v", err)
	}
}

func writeTemp(t testing.TB, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
