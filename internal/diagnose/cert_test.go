package diagnose

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mtlsgate/mtlsgate/internal/config"
	"github.com/mtlsgate/mtlsgate/internal/testpki"
	"software.sslmate.com/src/go-pkcs12"
)

// TestConfig is the gateway config of the certificate tests: one listener
// trusting Clients Root; secure-api (host api.example.com) allows alice of
// OU payments or an orders workload by SPIFFE ID, any-cert takes any
// verified certificate, public-docs needs none.
const TestConfig = `listeners:
  - name: public
    address: 127.0.0.1:8443
    tls:
      cert: gateway.pem
      key: gateway.key
      client_ca: clients-ca.pem
      client_auth: request
upstreams:
  - name: orders
    url: https://127.0.0.1:9000
routes:
  - name: secure-api
    match: {host: api.example.com, path_prefix: /api/secure/, methods: [GET, POST]}
    upstream: orders
    allow:
      - {cn: alice, ou: payments}
      - {uri: "spiffe://example.org/ns/*/sa/orders"}
  - name: any-cert
    match: {path_prefix: /api/}
    upstream: orders
  - name: public-docs
    match: {path_prefix: /public/}
    upstream: orders
    client_cert: none
`

// World is the certificate tests' PKI and config, written in a temp dir.
type World struct {
	Dir         string
	Root, Inter *TCert
	Config      string
}

// NewWorld writes the test PKI (Clients Root, its intermediate Clients
// Issuing CA) and yaml (TestConfig when empty) into a temp dir.
func NewWorld(t testing.TB, yaml string) *World {
	t.Helper()
	w := &World{Dir: t.TempDir()}
	w.Root = Mint(t, TOpts{CN: "Clients Root", O: "Acme", Serial: 1, CA: true}, nil)
	w.Inter = Mint(t, TOpts{CN: "Clients Issuing CA", O: "Acme", Serial: 2, CA: true}, w.Root)
	WriteFile(t, w.Dir, "clients-ca.pem", PEMOf(w.Root))
	if yaml == "" {
		yaml = TestConfig
	}
	w.Config = WriteFile(t, w.Dir, "mtlsgate.yaml", []byte(yaml))
	return w
}

// Target loads the world's config as the command does.
func (w *World) Target(t testing.TB) *Target {
	t.Helper()
	cfg, src, err := config.LoadFile(w.Config)
	if err != nil {
		t.Fatal(err)
	}
	if probs := src.Annotate(config.Validate(cfg)); len(probs) > 0 {
		t.Fatalf("config: %v", probs)
	}
	tg, err := TargetFromConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

// Client issues a client certificate from the intermediate.
func (w *World) Client(t testing.TB, o TOpts) *TCert {
	t.Helper()
	if o.Serial == 0 {
		o.Serial = 100
	}
	return Mint(t, o, w.Inter)
}

func textOf(t *testing.T, r *CertReport) string {
	t.Helper()
	var b bytes.Buffer
	if err := WriteCertText(&b, r); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestDiagnoseCert(t *testing.T) {
	w := NewWorld(t, "")
	stranger := Mint(t, TOpts{CN: "Stranger CA", Serial: 7, CA: true}, nil)
	otherInt := Mint(t, TOpts{CN: "Other Issuing CA", Serial: 8, CA: true}, stranger)
	alice := w.Client(t, TOpts{CN: "alice", OU: "payments", DNS: []string{"alice.example.com"}})
	bob := w.Client(t, TOpts{CN: "bob", OU: "payments", Serial: 101})
	mallory := Mint(t, TOpts{CN: "mallory", Serial: 102}, stranger)
	eve := Mint(t, TOpts{CN: "eve", Serial: 103}, otherInt)
	expired := w.Client(t, TOpts{CN: "old", Serial: 104, NotBefore: Now.Add(-40 * 24 * time.Hour), NotAfter: Now.Add(-8 * 24 * time.Hour)})
	future := w.Client(t, TOpts{CN: "early", Serial: 105, NotBefore: Now.Add(3 * time.Hour), NotAfter: Now.Add(30 * 24 * time.Hour)})
	server := w.Client(t, TOpts{CN: "web", Serial: 106, EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	orders := w.Client(t, TOpts{CN: "orders", Serial: 107, URIs: []string{"spiffe://example.org/ns/prod/sa/orders"}})
	target := w.Target(t)

	tests := []struct {
		name     string
		chain    []*x509.Certificate
		target   *Target
		opts     CertOptions
		accepted bool
		want     []string // sentences the text must contain
	}{
		{"accepted", Chain(alice, w.Inter), target, CertOptions{}, true,
			[]string{`allowed: matches routes[0].allow[0] {cn: "alice", ou: "payments"}`, "ACCEPTED by listener public"}},
		{"wrong_ca", Chain(mallory), target, CertOptions{}, false,
			[]string{"client certificate CN=mallory issued by CN=Stranger CA, which is not in client_ca clients-ca.pem of listener public (it holds CN=Clients Root,O=Acme)"}},
		{"wrong_ca_chain", Chain(eve, otherInt), target, CertOptions{}, false,
			[]string{"chains through CN=Other Issuing CA (sent with it), then stops at issuer CN=Stranger CA, which is not in client_ca clients-ca.pem"}},
		{"missing_intermediate", Chain(alice), target, CertOptions{Route: "secure-api"}, false,
			[]string{"issued by CN=Clients Issuing CA,O=Acme, which is not in client_ca clients-ca.pem of listener public", "the client must send it after its certificate"}},
		{"expired", Chain(expired, w.Inter), target, CertOptions{}, false,
			[]string{"client certificate CN=old expired 2026-02-21T12:00:00Z (8 days ago)", "the certificate itself fails the checks above"}},
		{"not_yet_valid", Chain(future, w.Inter), target, CertOptions{}, false,
			[]string{"client certificate CN=early is not valid until 2026-03-01T15:00:00Z (3 hours from now)"}},
		{"no_client_auth", Chain(server, w.Inter), target, CertOptions{}, false,
			[]string{"client certificate CN=web is not valid for client authentication (extended key usage serverAuth); issue it with the clientAuth usage"}},
		{"routes", Chain(bob, w.Inter), target, CertOptions{}, true,
			[]string{`not allowed: CN=bob does not match cn: "alice" in routes[0].allow[0], the closest of the 2 allow entries (its ou: "payments" matches)`,
				"ACCEPTED by listener public; allowed on route any-cert, public-docs; refused on route secure-api"}},
		{"route_refused", Chain(bob, w.Inter), target, CertOptions{Route: "secure-api"}, false,
			[]string{`REFUSED on route secure-api: not allowed: CN=bob does not match cn: "alice" in routes[0].allow[0]`}},
		{"route_allowed", Chain(bob, w.Inter), target, CertOptions{Route: "any-cert"}, true,
			[]string{"ACCEPTED on route any-cert via listener public"}},
		{"spiffe", Chain(orders, w.Inter), target, CertOptions{Route: "secure-api"}, true,
			[]string{`matches routes[0].allow[1] {uri: "spiffe://example.org/ns/*/sa/orders"}`}},
		{"url", Chain(alice, w.Inter), target, CertOptions{URL: "https://API.example.com:8443/api/secure/../secure/x"}, true,
			[]string{"GET API.example.com:8443/api/secure/x goes to route secure-api (host api.example.com, path_prefix /api/secure/, methods GET, POST)"}},
		{"url_other_host", Chain(bob, w.Inter), target, CertOptions{URL: "https://other.example.com/api/secure/x"}, true,
			[]string{"goes to route any-cert"}},
		{"url_404", Chain(alice, w.Inter), target, CertOptions{URL: "https://api.example.com/nothing"}, false,
			[]string{"no route matches GET api.example.com/nothing: the gateway answers 404"}},
		{"url_405", Chain(alice, w.Inter), target, CertOptions{URL: "https://api.example.com/api/secure/x", Method: "DELETE"}, true,
			[]string{"goes to route any-cert"}},
		{"no_config", Chain(alice), nil, CertOptions{}, true,
			[]string{"ACCEPTED as far as checked", "not checked: give the gateway config"}},
		{"no_config_expired", Chain(expired), nil, CertOptions{}, false,
			[]string{"REFUSED: client certificate CN=old expired"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.opts
			o.Now = Now
			r, err := DiagnoseCert("client.pem", tc.chain, tc.target, o)
			if err != nil {
				t.Fatal(err)
			}
			text := textOf(t, r)
			if r.Accepted != tc.accepted {
				t.Errorf("accepted = %v, want %v\n%s", r.Accepted, tc.accepted, text)
			}
			for _, s := range tc.want {
				if !strings.Contains(text, s) {
					t.Errorf("output lacks %q:\n%s", s, text)
				}
			}
			CheckGolden(t, "cert_"+tc.name, text, w.Dir)
		})
	}
}

func TestDiagnoseCertBareCA(t *testing.T) {
	w := NewWorld(t, "")
	alice := w.Client(t, TOpts{CN: "alice", OU: "payments"})
	bundle := filepath.Join(w.Dir, "clients-ca.pem")
	tg, err := TargetFromBundle(bundle, "")
	if err != nil {
		t.Fatal(err)
	}
	r, err := DiagnoseCert("alice.pem", Chain(alice, w.Inter), tg, CertOptions{Now: Now})
	if err != nil {
		t.Fatal(err)
	}
	text := textOf(t, r)
	if !r.Accepted || !strings.Contains(text, "chains to CN=Clients Root,O=Acme in the --ca bundle clients-ca.pem") {
		t.Errorf("bare --ca:\n%s", text)
	}
	CheckGolden(t, "cert_bare_ca", text, w.Dir)
	if _, err := DiagnoseCert("alice.pem", Chain(alice), tg, CertOptions{Now: Now, Route: "x"}); !IsUsage(err) {
		t.Errorf("--route with --ca: err %v, want a usage error", err)
	}
}

func TestDiagnoseCertJSON(t *testing.T) {
	w := NewWorld(t, "")
	bob := w.Client(t, TOpts{CN: "bob", OU: "payments", Serial: 101})
	r, err := DiagnoseCert("bob.pem", Chain(bob, w.Inter), w.Target(t), CertOptions{Now: Now, URL: "https://api.example.com/api/secure/orders"})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := WriteJSON(&b, r); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Accepted bool   `json:"accepted"`
		Route    string `json:"route"`
		Listener string `json:"listener"`
		Steps    []struct {
			Name   string `json:"name"`
			OK     bool   `json:"ok"`
			Detail string `json:"detail"`
		} `json:"steps"`
		Routes []RouteStand `json:"routes"`
	}
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got.Accepted || got.Route != "secure-api" || got.Listener != "public" || len(got.Steps) == 0 || got.Steps[0].Name != "route_match" {
		t.Errorf("JSON report: %+v", got)
	}
	if last := got.Steps[len(got.Steps)-1]; last.Name != "route" || last.OK || !strings.Contains(last.Detail, "routes[0].allow[0]") {
		t.Errorf("last step: %+v", last)
	}
	CheckGolden(t, "cert_json", b.String(), w.Dir)
}

func TestDiagnoseCertUsage(t *testing.T) {
	w := NewWorld(t, "")
	alice := w.Client(t, TOpts{CN: "alice", OU: "payments"})
	tg := w.Target(t)
	for name, o := range map[string]CertOptions{
		"unknown route": {Route: "nope"},
		"both":          {Route: "any-cert", URL: "https://a/"},
		"bad url":       {URL: "api.example.com/x"},
	} {
		if _, err := DiagnoseCert("a.pem", Chain(alice), tg, o); !IsUsage(err) {
			t.Errorf("%s: err %v, want a usage error", name, err)
		}
	}
	if _, err := DiagnoseCert("a.pem", Chain(alice), nil, CertOptions{Route: "x"}); !IsUsage(err) {
		t.Errorf("--route without config: err %v", err)
	}
}

// TestDiagnoseCertListeners: with two listeners trusting different CAs and
// a listener without client authentication, a certificate is accepted by
// the listener whose client_ca it chains to, and --url picks the listener
// by port.
func TestDiagnoseCertListeners(t *testing.T) {
	yaml := strings.Replace(TestConfig, "upstreams:", `  - name: partners
    address: 127.0.0.1:9443
    tls:
      cert: gateway.pem
      key: gateway.key
      client_ca: partners-ca.pem
  - name: open
    address: 127.0.0.1:7443
    tls:
      cert: gateway.pem
      key: gateway.key
      client_auth: none
upstreams:`, 1)
	w := NewWorld(t, yaml)
	partnersCA := Mint(t, TOpts{CN: "Partners CA", Serial: 9, CA: true}, nil)
	WriteFile(t, w.Dir, "partners-ca.pem", PEMOf(partnersCA))
	partner := Mint(t, TOpts{CN: "partner", Serial: 110}, partnersCA)
	tg := w.Target(t)
	r, err := DiagnoseCert("partner.pem", Chain(partner), tg, CertOptions{Now: Now})
	if err != nil {
		t.Fatal(err)
	}
	text := textOf(t, r)
	if !r.Accepted || r.Listener != "partners" || !strings.Contains(text, "listener open does not ask for client certificates (client_auth: none)") {
		t.Errorf("partner:\n%s", text)
	}
	CheckGolden(t, "cert_listeners", text, w.Dir)
	// On the public listener's port the partner certificate is refused by
	// the handshake; public-docs needs no certificate but still requires
	// the handshake to pass on that listener.
	r, err = DiagnoseCert("partner.pem", Chain(partner), tg, CertOptions{Now: Now, URL: "https://api.example.com:8443/public/x"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Accepted || r.Route != "public-docs" {
		t.Errorf("partner on :8443/public/: accepted %v route %q\n%s", r.Accepted, r.Route, textOf(t, r))
	}
	// On the open listener it is never asked for.
	r, err = DiagnoseCert("partner.pem", Chain(partner), tg, CertOptions{Now: Now, URL: "https://api.example.com:7443/public/x"})
	if err != nil {
		t.Fatal(err)
	}
	if !r.Accepted {
		t.Errorf("partner on :7443/public/ refused:\n%s", textOf(t, r))
	}
}

func TestLoadCertFile(t *testing.T) {
	w := NewWorld(t, "")
	alice := w.Client(t, TOpts{CN: "alice", OU: "payments"})
	key := []byte("-----BEGIN PRIVATE KEY-----\nTUlJQw==\n-----END PRIVATE KEY-----\n")
	// Intermediate first, a key block in between: the leaf still comes first.
	p := WriteFile(t, w.Dir, "mixed.pem", append(append(PEMOf(w.Inter), key...), PEMOf(alice)...))
	chain, err := LoadCertFile(p, "")
	if err != nil || len(chain) != 2 || chain[0].Subject.CommonName != "alice" {
		t.Fatalf("LoadCertFile(mixed) = %d certs, %v", len(chain), err)
	}
	der := WriteFile(t, w.Dir, "alice.der", alice.Cert.Raw)
	if chain, err := LoadCertFile(der, ""); err != nil || len(chain) != 1 {
		t.Errorf("LoadCertFile(der) = %v, %v", chain, err)
	}
	if _, err := LoadCertFile(WriteFile(t, w.Dir, "key.pem", key), ""); err == nil || !strings.Contains(err.Error(), "no certificate") {
		t.Errorf("LoadCertFile(key only) err = %v", err)
	}
}

func TestLoadCertFileKeystore(t *testing.T) {
	dir := t.TempDir()
	root := testpki.NewRootCA(t, "Clients Root")
	inter := root.NewIntermediate(t, "Clients Issuing CA")
	leaf := inter.Issue(t, testpki.Options{CN: "alice"})
	p12, err := pkcs12.Modern.Encode(leaf.Key, leaf.Cert, []*x509.Certificate{inter.Cert}, "s3cret-pw")
	if err != nil {
		t.Fatal(err)
	}
	file := WriteFile(t, dir, "alice.p12", p12)
	pw := WriteFile(t, dir, "pw", []byte("s3cret-pw\n"))
	chain, err := LoadCertFile(file, pw)
	if err != nil || len(chain) != 2 || chain[0].Subject.CommonName != "alice" {
		t.Fatalf("LoadCertFile(p12) = %d certs, %v", len(chain), err)
	}
	if _, err := LoadCertFile(file, ""); err == nil || !strings.Contains(err.Error(), "--password-file") {
		t.Errorf("p12 without password: err %v, want a hint at --password-file", err)
	}
}

func TestRevocationSteps(t *testing.T) {
	checks := []RevocationCheck{
		func([]*x509.Certificate) Revocation {
			return Revocation{OK: true, Warning: true, Code: "crl_unavailable", Sentence: "CRL unavailable; allowed by fail_open", Source: "crl"}
		},
		func([]*x509.Certificate) Revocation { return Revocation{OK: true, Sentence: "good"} },
		func([]*x509.Certificate) Revocation { return Revocation{Code: CodeRevoked, Sentence: "revoked"} },
	}
	got := revocationSteps(checks, nil)
	if len(got) != 3 || got[0].Status != StatusWarn || !got[0].OK || got[1].Status != StatusOK || got[2].OK || got[2].Code != CodeRevoked {
		t.Errorf("revocationSteps = %+v", got)
	}
}
