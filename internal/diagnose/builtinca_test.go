package diagnose_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mtlsgate/mtlsgate/internal/ca"
	"github.com/mtlsgate/mtlsgate/internal/diagnose"
)

// caConfig is TestConfig with the built-in CA's root as client_ca and a
// ca: section.
const caConfig = `listeners:
  - name: public
    address: 127.0.0.1:8443
    tls:
      cert: gateway.pem
      key: gateway.key
      client_ca: pki/root.pem
upstreams:
  - name: orders
    url: https://127.0.0.1:9000
routes:
  - name: orders-api
    match: {path_prefix: /api/}
    upstream: orders
    allow: [{ou: payments}]
ca:
  dir: pki
`

// builtinCA adapts an opened CA as the command does.
func builtinCA(a *ca.Authority, dir string) diagnose.RevocationCheck {
	return diagnose.BuiltinCARevocation("built-in CA in "+dir, a.IssuedBy, func(c *x509.Certificate) (time.Time, string, bool) {
		r, ok := a.CheckRevoked(c)
		return r.RevokedAt, ca.ReasonName(r.Reason), ok
	}, diagnose.Now)
}

// TestDiagnoseCertRevokedByBuiltinCA: a certificate the built-in CA
// revoked is refused with the gateway's words (who, when, why); one it did
// not issue is not its business; a CA that does not open refuses.
func TestDiagnoseCertRevokedByBuiltinCA(t *testing.T) {
	w := diagnose.NewWorld(t, caConfig)
	dir := filepath.Join(w.Dir, "pki")
	then := diagnose.Now.Add(-24 * time.Hour)
	if _, err := ca.Init(dir, ca.InitOptions{Name: "Test CA", Now: func() time.Time { return then }}); err != nil {
		t.Fatal(err)
	}
	a, err := ca.Open(dir, ca.Options{Actor: "test", Now: func() time.Time { return then }})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ctx := context.Background()
	carol, err := a.Issue(ctx, ca.IssueRequest{Profile: "client", CN: "carol", OU: []string{"payments"}})
	if err != nil {
		t.Fatal(err)
	}
	dave, err := a.Issue(ctx, ca.IssueRequest{Profile: "client", CN: "dave", OU: []string{"payments"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Revoke(ctx, carol.Cert.SerialNumber.Text(16), 1); err != nil {
		t.Fatal(err)
	}
	tg := w.Target(t)
	tg.Revocation = []diagnose.RevocationCheck{builtinCA(a, dir)}

	// Random keys and serials: redact them for the golden file.
	redact := func(s string) string {
		for _, c := range []*x509.Certificate{carol.Cert, a.Intermediate()} {
			fp := sha256.Sum256(c.Raw)
			s = strings.ReplaceAll(s, c.SerialNumber.Text(16), "SERIAL")
			s = strings.ReplaceAll(s, hex.EncodeToString(fp[:]), "FINGERPRINT")
		}
		return s
	}
	r, err := diagnose.DiagnoseCert("carol-chain.pem", carol.Chain, tg, diagnose.CertOptions{Now: diagnose.Now, Route: "orders-api"})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := diagnose.WriteCertText(&b, r); err != nil {
		t.Fatal(err)
	}
	text := redact(b.String())
	if r.Accepted || !strings.Contains(text, "was revoked 2026-02-28T12:00:00Z (24 hours ago, reason keyCompromise) according to the built-in CA in "+dir) {
		t.Errorf("revoked carol:\n%s", text)
	}
	diagnose.CheckGolden(t, "cert_revoked", text, w.Dir)

	r, err = diagnose.DiagnoseCert("dave-chain.pem", dave.Chain, tg, diagnose.CertOptions{Now: diagnose.Now, Route: "orders-api"})
	if err != nil {
		t.Fatal(err)
	}
	b.Reset()
	_ = diagnose.WriteCertText(&b, r)
	if !r.Accepted || !strings.Contains(b.String(), "not revoked according to the built-in CA in "+dir) {
		t.Errorf("dave:\n%s", b.String())
	}

	other := w.Client(t, diagnose.TOpts{CN: "erin", OU: "payments"})
	check := builtinCA(a, dir)(diagnose.Chain(other, w.Inter))
	if !check.OK || !strings.Contains(check.Sentence, "not issued by the built-in CA in "+dir) {
		t.Errorf("foreign certificate: %+v", check)
	}

	tg.Revocation = []diagnose.RevocationCheck{diagnose.UnavailableRevocation("built-in CA in /nowhere", errors.New("no CA here"))}
	r, err = diagnose.DiagnoseCert("dave-chain.pem", dave.Chain, tg, diagnose.CertOptions{Now: diagnose.Now})
	if err != nil {
		t.Fatal(err)
	}
	if r.Accepted || !strings.Contains(r.Verdict, "cannot check revocation with the built-in CA in /nowhere: no CA here") {
		t.Errorf("unavailable CA: %s", r.Verdict)
	}
}
