package gateway

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mtlsgate/mtlsgate/internal/ca"
	"github.com/mtlsgate/mtlsgate/internal/store"
	"golang.org/x/crypto/ocsp"
)

// The stapler staples only good, current responses for the right
// certificate: once the responder says revoked it staples nothing, and a
// staple past its nextUpdate is never sent.
func TestStaplerGoodThenRevoked(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "pki")
	// The responder's URL is only known once it listens: start it first
	// with a placeholder handler.
	srv := httptest.NewServer(nil)
	defer srv.Close()
	if _, err := ca.Init(dir, ca.InitOptions{Actor: "test", PublishURL: srv.URL}); err != nil {
		t.Fatal(err)
	}
	a, err := ca.Open(dir, ca.Options{Actor: "test"})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	pub, err := ca.NewPublisher(ctx, a, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = pub
	sans, _ := ca.ParseSANs([]string{"dns:localhost"})
	iss, err := a.Issue(ctx, ca.IssueRequest{Profile: "server", CN: "gw", SANs: sans})
	if err != nil {
		t.Fatal(err)
	}
	cert := &tls.Certificate{Certificate: [][]byte{iss.Cert.Raw, a.Intermediate().Raw}, PrivateKey: iss.Key, Leaf: iss.Cert}
	now := time.Now()
	clock := func() time.Time { return now }
	var sps staplers
	sp, err := sps.get(cert, slog.New(slog.DiscardHandler), clock)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := sps.get(cert, nil, clock); again != sp {
		t.Error("the same certificate got a second stapler")
	}
	sp.refreshIfDue(ctx)
	got, _ := sp.certificate(nil)
	resp, err := ocsp.ParseResponseForCert(got.OCSPStaple, iss.Cert, a.Intermediate())
	if err != nil || resp.Status != ocsp.Good {
		t.Fatalf("stapled: %v %v", resp, err)
	}
	if _, err := a.Revoke(ctx, store.SerialHex(iss.Cert.SerialNumber), 1); err != nil {
		t.Fatal(err)
	}
	// Past the stapled response's nextUpdate, before any new fetch:
	// nothing is sent.
	now = resp.NextUpdate.Add(time.Second)
	if got, _ := sp.certificate(nil); len(got.OCSPStaple) != 0 {
		t.Fatal("an expired response is still stapled")
	}
	now = resp.ThisUpdate.Add(time.Minute)
	if got, _ := sp.certificate(nil); len(got.OCSPStaple) == 0 {
		t.Fatal("the current response is not stapled")
	}
	// Due again, the responder now says revoked: nothing is stapled.
	now = sp.next
	sp.refreshIfDue(ctx)
	if got, _ := sp.certificate(nil); len(got.OCSPStaple) != 0 || sp.failures.Load() != 1 {
		t.Fatalf("after a revoked answer: staple %d bytes, failures %d", len(got.OCSPStaple), sp.failures.Load())
	}
	// A certificate without an issuer or without an OCSP URL is refused.
	if _, err := sps.get(&tls.Certificate{Certificate: [][]byte{iss.Cert.Raw}, Leaf: iss.Cert}, nil, clock); err == nil || !strings.Contains(err.Error(), "issuer") {
		t.Errorf("no issuer: %v", err)
	}
}
