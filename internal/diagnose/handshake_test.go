package diagnose

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mtlsgate/mtlsgate/internal/testpki"
)

func TestHandshakeExplanations(t *testing.T) {
	now := time.Date(2026, 1, 9, 0, 0, 0, 0, time.UTC)
	ca := testpki.NewRootCA(t, "Clients CA")
	other := testpki.NewRootCA(t, "Other CA")
	expired := ca.Issue(t, testpki.Options{CN: "bob", NotBefore: now.Add(-30 * 24 * time.Hour), NotAfter: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)})
	future := ca.Issue(t, testpki.Options{CN: "carol", NotBefore: now.Add(3 * time.Hour), NotAfter: now.Add(48 * time.Hour)})
	stranger := other.Issue(t, testpki.Options{CN: "mallory", NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour)})
	l := Listener{Name: "public", ClientCA: "/etc/mtlsgate/clients-ca.pem"}
	verify := func(leaf *testpki.Leaf) error {
		_, err := leaf.Cert.Verify(x509.VerifyOptions{Roots: ca.Pool(), CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
		return &tls.CertificateVerificationError{UnverifiedCertificates: []*x509.Certificate{leaf.Cert}, Err: err}
	}
	tests := []struct {
		name string
		err  error
		code string
		want string
	}{
		{"expired", verify(expired), CodeExpired, "client certificate CN=bob expired 2026-01-01T00:00:00Z (8 days ago)"},
		{"not yet valid", verify(future), CodeNotYetValid, "client certificate CN=carol is not valid until"},
		{"unknown ca", verify(stranger), CodeUnknownCA, "client certificate CN=mallory issued by CN=Other CA, which is not in client_ca clients-ca.pem of listener public"},
		{"no cert", errors.New("tls: client didn't provide a certificate"), CodeNoClientCert, "no client certificate sent; listener public requires one"},
		{"eof", io.EOF, CodeClosed, "closed the connection"},
		{"timeout", os.ErrDeadlineExceeded, CodeTimeout, "did not finish in time"},
		{"plain http", errors.New("tls: first record does not look like a TLS handshake"), CodeNotTLS, "plain text"},
		{"client rejects us", errors.New("remote error: tls: unknown certificate authority"), CodeClientRejected, "unknown certificate authority"},
		{"version", errors.New("tls: client offered only unsupported versions: [301]"), CodeProtocolVersion, "min_version"},
		{"other", errors.New("something odd"), CodeOther, "something odd"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := Handshake(tc.err, l, now)
			if f.Code != tc.code || !strings.Contains(f.Reason, tc.want) {
				t.Fatalf("got %s %q, want %s containing %q", f.Code, f.Reason, tc.code, tc.want)
			}
		})
	}
}

func TestAgo(t *testing.T) {
	for d, want := range map[time.Duration]string{
		time.Second: "1 second", 90 * time.Second: "90 seconds", 5 * time.Minute: "5 minutes",
		3 * time.Hour: "3 hours", 8 * 24 * time.Hour: "8 days", -8 * 24 * time.Hour: "8 days",
	} {
		if got := Ago(d); got != want {
			t.Errorf("Ago(%v) = %q, want %q", d, got, want)
		}
	}
}
