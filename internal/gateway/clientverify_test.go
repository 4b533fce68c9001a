package gateway

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"testing"
	"time"

	"github.com/mtlsgate/mtlsgate/internal/testpki"
)

func TestChainVerifierCachesOnlySuccessAndHonoursExpiry(t *testing.T) {
	ca := testpki.NewRootCA(t, "Clients")
	now := time.Now()
	clock := now
	v := newChainVerifier(ca.Pool(), func() time.Time { return clock })
	alice := ca.Issue(t, testpki.Options{CN: "alice", NotAfter: now.Add(time.Minute)})
	certs := []*x509.Certificate{alice.Cert}
	e1, err := v.verify(certs)
	if err != nil {
		t.Fatal(err)
	}
	if e1.id == nil || e1.id.CommonName != "alice" {
		t.Fatalf("identity %+v", e1.id)
	}
	if e2, _ := v.verify(certs); e2 != e1 {
		t.Error("second verification of the same chain was not served from the cache")
	}
	// The entry must not outlive the certificate.
	clock = now.Add(2 * time.Minute)
	if _, err := v.verify(certs); err == nil {
		t.Fatal("expired certificate verified from the cache")
	}
	var cve *tls.CertificateVerificationError
	stranger := testpki.NewRootCA(t, "Other").Issue(t, testpki.Options{CN: "mallory"})
	if _, err := v.verify([]*x509.Certificate{stranger.Cert}); !errors.As(err, &cve) {
		t.Fatalf("unknown CA: err %v, want a *tls.CertificateVerificationError", err)
	}
	v.mu.Lock()
	n := len(v.entries)
	v.mu.Unlock()
	if n != 1 {
		t.Errorf("%d cache entries, want 1 (failures are never cached)", n)
	}
	// Server-only certificates are refused like crypto/tls refuses them.
	srv := ca.Issue(t, testpki.Options{CN: "srv", EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	clock = now
	if _, err := v.verify([]*x509.Certificate{srv.Cert}); err == nil {
		t.Error("certificate without clientAuth usage accepted")
	}
}

func TestChainVerifierBounded(t *testing.T) {
	ca := testpki.NewRootCA(t, "Clients")
	v := newChainVerifier(ca.Pool(), time.Now)
	leaf := ca.Issue(t, testpki.Options{CN: "x"})
	v.mu.Lock()
	for i := 0; i < maxVerifiedChains; i++ {
		var k [32]byte
		k[0], k[1], k[2] = byte(i), byte(i>>8), byte(i>>16)
		v.entries[k] = &verified{expires: time.Now().Add(time.Hour)}
	}
	v.mu.Unlock()
	if _, err := v.verify([]*x509.Certificate{leaf.Cert}); err != nil {
		t.Fatal(err)
	}
	v.mu.Lock()
	n := len(v.entries)
	v.mu.Unlock()
	if n > maxVerifiedChains {
		t.Fatalf("cache grew to %d entries, bound is %d", n, maxVerifiedChains)
	}
}

func BenchmarkChainVerifierHit(b *testing.B) {
	ca := testpki.NewRootCA(b, "Clients")
	v := newChainVerifier(ca.Pool(), time.Now)
	certs := []*x509.Certificate{ca.Issue(b, testpki.Options{CN: "alice"}).Cert}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.verify(certs); err != nil {
			b.Fatal(err)
		}
	}
}
