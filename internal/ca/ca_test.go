package ca

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mtlsgate/mtlsgate/internal/certload"
	"github.com/mtlsgate/mtlsgate/internal/store"
)

func TestInitLayoutModesAndRefusal(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	pwFile := writeTemp(t, "pw", []byte("correct horse\n"))
	res, err := Init(dir, InitOptions{Name: "Acme", KeyType: ECDSAP384, RootPassword: []byte("correct horse"), Actor: "test"})
	if err != nil {
		t.Fatal(err)
	}
	for name, mode := range map[string]os.FileMode{RootKeyFile: 0o600, IntermediateKeyFile: 0o600, RootCertFile: 0o644, IntermediateCertFile: 0o644, SettingsFile: 0o644, StoreFile: 0o600} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if fi.Mode().Perm() != mode {
			t.Errorf("%s: mode %v, want %v", name, fi.Mode().Perm(), mode)
		}
	}
	if !res.Root.IsCA || !res.Intermediate.IsCA || !res.Intermediate.MaxPathLenZero {
		t.Errorf("CA flags: root IsCA=%v inter IsCA=%v MaxPathLenZero=%v", res.Root.IsCA, res.Intermediate.IsCA, res.Intermediate.MaxPathLenZero)
	}
	if got := res.Root.Subject.CommonName; got != "Acme Root" {
		t.Errorf("root CN %q", got)
	}
	if len(res.Root.SerialNumber.Bytes()) != 20 || len(res.Intermediate.SerialNumber.Bytes()) != 20 {
		t.Errorf("serials are not 20 octets: %x %x", res.Root.SerialNumber, res.Intermediate.SerialNumber)
	}
	// The root key is encrypted: it loads with the password, not without,
	// and a wrong password is a clear error.
	keyPEM, _ := os.ReadFile(filepath.Join(dir, RootKeyFile))
	if !bytes.Contains(keyPEM, []byte("ENCRYPTED PRIVATE KEY")) {
		t.Fatalf("root key is not encrypted:\n%s", keyPEM[:40])
	}
	spec := certload.KeyPairSpec{Cert: filepath.Join(dir, RootCertFile), Key: filepath.Join(dir, RootKeyFile), PasswordFile: pwFile}
	if _, err := certload.LoadKeyPair(spec); err != nil {
		t.Errorf("root key with password: %v", err)
	}
	spec.PasswordFile = writeTemp(t, "bad", []byte("wrong"))
	if _, err := certload.LoadKeyPair(spec); err == nil || !strings.Contains(err.Error(), "password") {
		t.Errorf("wrong root password: err = %v, want a password error", err)
	}
	// A second init refuses and leaves everything as it was.
	before, _ := os.ReadFile(filepath.Join(dir, RootCertFile))
	if _, err := Init(dir, InitOptions{}); err == nil || !strings.Contains(err.Error(), "refusing to overwrite") {
		t.Fatalf("second Init: err = %v", err)
	}
	after, _ := os.ReadFile(filepath.Join(dir, RootCertFile))
	if !bytes.Equal(before, after) {
		t.Fatal("second Init changed root.pem")
	}
}

func TestInitKeyTypes(t *testing.T) {
	for _, kt := range KeyTypes {
		t.Run(string(kt), func(t *testing.T) {
			if testing.Short() && (kt == RSA3072) {
				t.Skip("slow key generation")
			}
			a := newTestCA(t, InitOptions{KeyType: kt})
			iss := issue(t, a, IssueRequest{Profile: "client", CN: "alice", KeyType: kt})
			verifyChain(t, a, iss.Cert, x509.ExtKeyUsageClientAuth)
			if KeyTypeOf(iss.Key.Public()) != kt && !(kt == ECDSAP384 && KeyTypeOf(iss.Key.Public()) == ECDSAP384) {
				t.Errorf("key type %s, want %s", KeyTypeOf(iss.Key.Public()), kt)
			}
		})
	}
}

func TestOpenWithoutCA(t *testing.T) {
	_, err := Open(t.TempDir(), Options{})
	if !errors.Is(err, ErrNoCA) || !strings.Contains(err.Error(), "mtlsgate ca init") {
		t.Fatalf("err = %v", err)
	}
}

func TestIssueProfiles(t *testing.T) {
	a := newTestCA(t, InitOptions{PublishURL: "http://127.0.0.1:8080"})
	sans, err := ParseSANs([]string{"dns:api.example.com,ip:127.0.0.1", "uri:spiffe://example.org/api"})
	if err != nil {
		t.Fatal(err)
	}
	srv := issue(t, a, IssueRequest{Profile: "server", CN: "api", SANs: sans, TTL: 48 * time.Hour})
	verifyChain(t, a, srv.Cert, x509.ExtKeyUsageServerAuth)
	c := srv.Cert
	if c.IsCA || !c.BasicConstraintsValid {
		t.Error("leaf must carry CA:false")
	}
	if len(c.ExtKeyUsage) != 1 || c.ExtKeyUsage[0] != x509.ExtKeyUsageServerAuth {
		t.Errorf("EKU %v", c.ExtKeyUsage)
	}
	if c.KeyUsage != x509.KeyUsageDigitalSignature {
		t.Errorf("key usage %v", c.KeyUsage)
	}
	if got := c.NotAfter.Sub(time.Now()); got < 47*time.Hour || got > 49*time.Hour {
		t.Errorf("lifetime %v, want ~48h", got)
	}
	if len(c.CRLDistributionPoints) != 1 || c.CRLDistributionPoints[0] != "http://127.0.0.1:8080/ca/crl" {
		t.Errorf("CDP %v", c.CRLDistributionPoints)
	}
	if len(c.OCSPServer) != 1 || c.OCSPServer[0] != "http://127.0.0.1:8080/ca/ocsp" {
		t.Errorf("OCSP %v", c.OCSPServer)
	}
	if len(c.SerialNumber.Bytes()) != 20 {
		t.Errorf("serial %d octets", len(c.SerialNumber.Bytes()))
	}
	rec, err := a.Store().Certificate(context.Background(), store.SerialHex(c.SerialNumber))
	if err != nil || rec.Profile != "server" || rec.CN != "api" || !bytes.Equal(rec.DER, c.Raw) {
		t.Fatalf("stored record %+v, %v", rec, err)
	}
	if len(rec.KeyPEM) != 0 {
		t.Error("key kept although keep_keys is off")
	}
	cl := issue(t, a, IssueRequest{Profile: "client", CN: "alice", O: []string{"Acme"}, OU: []string{"payments"}})
	if cl.Cert.ExtKeyUsage[0] != x509.ExtKeyUsageClientAuth || cl.Cert.Subject.OrganizationalUnit[0] != "payments" {
		t.Errorf("client cert %v %v", cl.Cert.ExtKeyUsage, cl.Cert.Subject)
	}
	if d := cl.Cert.NotAfter.Sub(cl.Cert.NotBefore); d < 30*day || d > 30*day+2*time.Minute {
		t.Errorf("default client TTL %v", d)
	}
}

func TestIssueRefusals(t *testing.T) {
	a := newTestCA(t, InitOptions{})
	email, _ := ParseSANs([]string{"email:a@example.com"})
	for name, tc := range map[string]struct {
		r    IssueRequest
		want string
	}{
		"unknown profile":   {IssueRequest{Profile: "nope", CN: "x"}, `unknown profile "nope"`},
		"ttl beyond max":    {IssueRequest{Profile: "client", CN: "x", TTL: 400 * day}, "beyond profile client's maximum"},
		"no name":           {IssueRequest{Profile: "client"}, "common name"},
		"server needs SAN":  {IssueRequest{Profile: "server", CN: "api"}, "needs at least one dns: or ip: SAN"},
		"SAN kind":          {IssueRequest{Profile: "server", CN: "api", SANs: email}, "does not allow email SANs"},
		"CN too long":       {IssueRequest{Profile: "client", CN: strings.Repeat("a", 65)}, "at most 64"},
		"outlives issuer":   {IssueRequest{Profile: "client", CN: "x", TTL: 365 * day}, ""},
		"bad DNS from CSR":  {IssueRequest{Profile: "server", CN: "x", SANs: Names{DNS: []string{"bad name"}}}, "DNS name has character"},
		"negative duration": {IssueRequest{Profile: "client", CN: "x", TTL: -time.Second}, "negative"},
	} {
		t.Run(name, func(t *testing.T) {
			if tc.want == "" {
				return // valid: a 1y client cert fits a 5y issuing CA
			}
			_, err := a.Issue(context.Background(), tc.r)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
	// Nothing was stored by the refusals.
	if certs, _ := a.Store().List(context.Background(), store.Filter{}); len(certs) != 0 {
		t.Fatalf("refused requests stored %d certificates", len(certs))
	}
}

func TestIssueBeyondIssuerLifetime(t *testing.T) {
	a := newTestCA(t, InitOptions{InterTTL: 10 * day, RootTTL: 20 * day})
	if _, err := a.Issue(context.Background(), IssueRequest{Profile: "client", CN: "x", TTL: 30 * day}); err == nil || !strings.Contains(err.Error(), "outlive the issuing CA") {
		t.Fatalf("err = %v", err)
	}
}

func TestNameConstraints(t *testing.T) {
	a := newTestCA(t, InitOptions{PermittedDNS: []string{"example.com"}})
	ok, _ := ParseSANs([]string{"dns:api.example.com"})
	issue(t, a, IssueRequest{Profile: "server", CN: "api", SANs: ok})
	bad, _ := ParseSANs([]string{"dns:api.evil.test"})
	if _, err := a.Issue(context.Background(), IssueRequest{Profile: "server", CN: "api", SANs: bad}); err == nil || !strings.Contains(err.Error(), "name constraints") {
		t.Fatalf("err = %v", err)
	}
}

func TestParseSANs(t *testing.T) {
	n, err := ParseSANs([]string{"dns:A.example.com, ip:::1", "email:ops@example.com", "uri:spiffe://example.org/ns/a"})
	if err != nil {
		t.Fatal(err)
	}
	if n.DNS[0] != "a.example.com" || len(n.IPs) != 1 || n.Emails[0] != "ops@example.com" || n.URIs[0].Host != "example.org" {
		t.Fatalf("%+v", n)
	}
	for _, bad := range []string{"api.example.com", "dns:", "ip:300.1.1.1", "email:Bob <b@x.com>", "uri:relative/path", "spiffe:x", "uri:spiffe://td:8080/x", "dns:-a.com", "dns:a..com"} {
		if _, err := ParseSANs([]string{bad}); err == nil {
			t.Errorf("ParseSANs(%q) accepted", bad)
		}
	}
}

func TestKeepKeysAndSettings(t *testing.T) {
	a := newTestCA(t, InitOptions{})
	// Profiles and keep_keys come from ca.yaml.
	settings := `name: test
keep_keys: true
profiles:
  device: {ext_key_usage: [client_auth], default_ttl: 1d, max_ttl: 7d, sans: [uri], subject_ou: [fleet]}
`
	if err := os.WriteFile(filepath.Join(a.Dir(), SettingsFile), []byte(settings), 0o644); err != nil {
		t.Fatal(err)
	}
	b, err := Open(a.Dir(), Options{Actor: "test"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	uri, _ := ParseSANs([]string{"uri:spiffe://example.org/dev/1"})
	iss := issue(t, b, IssueRequest{Profile: "device", CN: "dev-1", SANs: uri, OU: []string{"fleet"}})
	if _, err := b.Issue(context.Background(), IssueRequest{Profile: "device", CN: "dev-2", OU: []string{"payments"}}); err == nil || !strings.Contains(err.Error(), `does not allow OU="payments"`) {
		t.Errorf("OU outside the profile's subject_ou: %v", err)
	}
	if d := iss.Cert.NotAfter.Sub(iss.Cert.NotBefore); d > day+2*time.Minute {
		t.Errorf("device default TTL %v", d)
	}
	rec, err := b.Store().Certificate(context.Background(), store.SerialHex(iss.Cert.SerialNumber))
	if err != nil || len(rec.KeyPEM) == 0 {
		t.Fatalf("key not kept: %v", err)
	}
	k, err := ParseKeyPEM(rec.KeyPEM)
	if err != nil || !k.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(iss.Key.Public()) {
		t.Fatalf("kept key does not match: %v", err)
	}
	for _, bad := range []string{
		"profiles: {x: {ext_key_usage: [code_signing], max_ttl: 1d}}",
		"profiles: {x: {ext_key_usage: [client_auth]}}",
		"profiles: {x: {ext_key_usage: [client_auth], max_ttl: 1d, default_ttl: 2d}}",
		"publish_url: ftp://x",
		"unknown_key: 1",
		"crl_validity: 1s",
	} {
		if err := os.WriteFile(filepath.Join(a.Dir(), SettingsFile), []byte(bad), 0o644); err != nil {
			t.Fatal(err)
		}
		if c, err := Open(a.Dir(), Options{}); err == nil {
			c.Close()
			t.Errorf("settings %q accepted", bad)
		} else if !strings.Contains(err.Error(), SettingsFile) {
			t.Errorf("settings %q: error %v does not name the file", bad, err)
		}
	}
}

func TestCertPEMRoundTrip(t *testing.T) {
	a := newTestCA(t, InitOptions{})
	iss := issue(t, a, IssueRequest{Profile: "client", CN: "alice"})
	data := CertPEM(iss.Chain...)
	var n int
	for b, rest := pem.Decode(data); b != nil; b, rest = pem.Decode(rest) {
		n++
	}
	if n != 2 {
		t.Fatalf("chain PEM has %d blocks", n)
	}
}
