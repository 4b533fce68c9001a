package policy

import (
	"crypto/x509"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/mtlsgate/mtlsgate/internal/identity"
	"github.com/mtlsgate/mtlsgate/internal/testpki"
)

const (
	fpAlice = "5f2b1c8a9d0e3f4a6b7c8d9e0f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c"
	fpOther = "0000000000000000000000000000000000000000000000000000000000000001"
)

// alice is a typical client identity; tests take a fresh copy (Identity
// holds sync state and must not be copied by value).
func alice() *identity.Identity {
	return &identity.Identity{
		Subject:            "CN=alice,OU=payments,O=Acme Corp",
		CommonName:         "alice",
		Organization:       []string{"Acme Corp", "Acme Holdings"},
		OrganizationalUnit: []string{"payments"},
		DNSNames:           []string{"alice.svc.example.com", "Alice.Example.COM"},
		URIs:               []string{"spiffe://example.org/ns/prod/sa/orders", "https://example.com/u/alice"},
		Emails:             []string{"Alice@Example.COM"},
		IPs:                []string{"10.1.2.3", "2001:db8::1"},
		SPIFFEID:           "spiffe://example.org/ns/prod/sa/orders",
		SerialHex:          "a1b",
		FingerprintSHA256:  fpAlice,
		IssuerCN:           "Acme Issuing CA",
	}
}

func mustCompile(t testing.TB, rules ...Rule) *Policy {
	t.Helper()
	p, err := Compile(rules)
	if err != nil {
		t.Fatalf("Compile(%v): %v", rules, err)
	}
	return p
}

// TestKeys checks every key on its own, matching and not, against alice.
func TestKeys(t *testing.T) {
	tests := []struct {
		name string
		rule Rule
		want bool
	}{
		{"cn exact", Rule{CN: "alice"}, true},
		{"cn is case-sensitive", Rule{CN: "Alice"}, false},
		{"cn other", Rule{CN: "bob"}, false},
		{"cn glob", Rule{CN: "al*"}, true},
		{"cn glob no match", Rule{CN: "b*"}, false},
		{"o any value", Rule{O: "Acme Holdings"}, true},
		{"o glob", Rule{O: "Acme *"}, true},
		{"o other", Rule{O: "Globex"}, false},
		{"o case-sensitive", Rule{O: "acme corp"}, false},
		{"ou", Rule{OU: "payments"}, true},
		{"ou other", Rule{OU: "billing"}, false},
		{"dns exact", Rule{DNS: "alice.svc.example.com"}, true},
		{"dns case-insensitive rule", Rule{DNS: "ALICE.svc.example.com"}, true},
		{"dns case-insensitive cert", Rule{DNS: "alice.example.com"}, true},
		{"dns wildcard one label", Rule{DNS: "*.svc.example.com"}, true},
		{"dns wildcard, mixed-case cert", Rule{DNS: "*.example.com"}, true}, // Alice.Example.COM
		{"dns wildcard no match", Rule{DNS: "*.other.example.com"}, false},
		{"dns double star", Rule{DNS: "**.example.com"}, true},
		{"dns partial", Rule{DNS: "svc.example.com"}, false},
		{"uri exact", Rule{URI: "https://example.com/u/alice"}, true},
		{"uri glob", Rule{URI: "https://example.com/u/*"}, true},
		{"uri case-sensitive", Rule{URI: "https://example.com/u/Alice"}, false},
		{"uri spiffe glob", Rule{URI: "spiffe://example.org/ns/*/sa/orders"}, true},
		{"email exact, domain folded", Rule{Email: "Alice@example.com"}, true},
		{"email local case-sensitive", Rule{Email: "alice@example.com"}, false},
		{"email local glob", Rule{Email: "*@example.com"}, true},
		{"email domain glob", Rule{Email: "Alice@*.com"}, true},
		{"email other domain", Rule{Email: "Alice@example.org"}, false},
		{"ip single v4", Rule{IP: "10.1.2.3"}, true},
		{"ip cidr v4", Rule{IP: "10.0.0.0/8"}, true},
		{"ip cidr v4 miss", Rule{IP: "192.168.0.0/16"}, false},
		{"ip single v6", Rule{IP: "2001:db8::1"}, true},
		{"ip cidr v6", Rule{IP: "2001:db8::/32"}, true},
		{"ip cidr v6 miss", Rule{IP: "2001:db9::/32"}, false},
		{"ip everything v4", Rule{IP: "0.0.0.0/0"}, true},
		{"spiffe exact", Rule{SPIFFEID: "spiffe://example.org/ns/prod/sa/orders"}, true},
		{"spiffe glob", Rule{SPIFFEID: "spiffe://example.org/ns/prod/sa/*"}, true},
		{"spiffe trust domain", Rule{SPIFFEID: "spiffe://example.org/**"}, true},
		{"spiffe other", Rule{SPIFFEID: "spiffe://example.org/ns/dev/sa/*"}, false},
		{"fingerprint", Rule{FingerprintSHA256: fpAlice}, true},
		{"fingerprint colons upper", Rule{FingerprintSHA256: colonUpper(fpAlice)}, true},
		{"fingerprint other", Rule{FingerprintSHA256: fpOther}, false},
		{"issuer cn", Rule{IssuerCN: "Acme Issuing CA"}, true},
		{"issuer cn glob", Rule{IssuerCN: "Acme *"}, true},
		{"issuer cn other", Rule{IssuerCN: "Other CA"}, false},
		{"serial", Rule{Serial: "a1b"}, true},
		{"serial leading zeros colons upper", Rule{Serial: "00:0A:1B"}, true},
		{"serial spaces", Rule{Serial: "0a 1b"}, true},
		{"serial other", Rule{Serial: "a1c"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustCompile(t, tt.rule)
			ok, idx := p.Allowed(alice())
			if ok != tt.want {
				t.Fatalf("Allowed(%v) = %v, want %v; explain: %+v", tt.rule, ok, tt.want, p.Explain(alice()))
			}
			if wantIdx := map[bool]int{true: 0, false: -1}[tt.want]; idx != wantIdx {
				t.Errorf("rule index = %d, want %d", idx, wantIdx)
			}
			if got := p.Explain(alice())[0].Matched; got != tt.want {
				t.Errorf("Explain says Matched=%v, Allowed says %v", got, tt.want)
			}
		})
	}
}

// colonUpper renders hex as "AB:CD:...", the form openssl prints.
func colonUpper(h string) string {
	var parts []string
	for i := 0; i+1 < len(h); i += 2 {
		parts = append(parts, strings.ToUpper(h[i:i+2]))
	}
	return strings.Join(parts, ":")
}

func TestAndWithinEntryOrAcross(t *testing.T) {
	tests := []struct {
		name    string
		rules   []Rule
		want    bool
		wantIdx int
	}{
		{"all keys match", []Rule{{CN: "alice", OU: "payments"}}, true, 0},
		{"one key fails", []Rule{{CN: "alice", OU: "billing"}}, false, -1},
		{"exact and glob must both match", []Rule{{CN: "alice", DNS: "*.other.com"}}, false, -1},
		{"second entry", []Rule{{CN: "bob"}, {O: "Acme Corp"}}, true, 1},
		{"first of several wins", []Rule{{CN: "bob"}, {DNS: "*.svc.example.com"}, {CN: "alice"}}, true, 1},
		{"lowest index across indexes", []Rule{{IP: "10.0.0.0/8"}, {FingerprintSHA256: fpAlice}}, true, 0},
		{"lowest index glob before exact", []Rule{{CN: "a*"}, {CN: "alice"}}, true, 0},
		{"lowest index exact before glob", []Rule{{CN: "alice"}, {CN: "a*"}}, true, 0},
		{"none", []Rule{{CN: "bob"}, {O: "Globex"}, {IP: "192.168.0.0/16"}}, false, -1},
		{"every key", []Rule{{
			CN: "alice", O: "Acme Corp", OU: "payments", DNS: "*.svc.example.com",
			URI: "https://example.com/**", Email: "*@example.com", IP: "10.1.0.0/16",
			SPIFFEID: "spiffe://example.org/ns/prod/sa/orders", FingerprintSHA256: fpAlice,
			IssuerCN: "Acme Issuing CA", Serial: "0a1b",
		}}, true, 0},
		{"every key but serial", []Rule{{
			CN: "alice", O: "Acme Corp", OU: "payments", DNS: "*.svc.example.com",
			URI: "https://example.com/**", Email: "*@example.com", IP: "10.1.0.0/16",
			SPIFFEID: "spiffe://example.org/ns/prod/sa/orders", FingerprintSHA256: fpAlice,
			IssuerCN: "Acme Issuing CA", Serial: "0a1c",
		}}, false, -1},
		{"empty list denies", nil, false, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustCompile(t, tt.rules...)
			ok, idx := p.Allowed(alice())
			if ok != tt.want || idx != tt.wantIdx {
				t.Errorf("Allowed = (%v, %d), want (%v, %d)", ok, idx, tt.want, tt.wantIdx)
			}
		})
	}
}

func TestNoCertificateAndEmptyFields(t *testing.T) {
	globs := []Rule{{CN: "*"}, {O: "*"}, {OU: "*"}, {DNS: "**"}, {URI: "**"}, {Email: "*@*"},
		{IP: "0.0.0.0/0"}, {IP: "::/0"}, {SPIFFEID: "spiffe://*/**"}, {IssuerCN: "*"}}
	p := mustCompile(t, globs...)
	var nilPolicy *Policy
	tests := []struct {
		name string
		p    *Policy
		id   *identity.Identity
	}{
		{"nil identity", p, nil},
		{"empty identity", p, &identity.Identity{}},
		{"empty values", p, &identity.Identity{Organization: []string{""}, DNSNames: []string{""}, IPs: []string{"not-an-ip"}}},
		{"nil policy", nilPolicy, alice()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if ok, idx := tt.p.Allowed(tt.id); ok || idx != -1 {
				t.Errorf("Allowed = (%v, %d), want (false, -1)", ok, idx)
			}
			if err := tt.p.Check(tt.id); err == nil {
				t.Error("Check = nil, want a *DeniedError")
			}
		})
	}
	// A certificate with only a CN: SAN rules fail, the CN rule passes.
	onlyCN := &identity.Identity{CommonName: "svc"}
	if ok, idx := p.Allowed(onlyCN); !ok || idx != 0 {
		t.Errorf("CN-only identity: Allowed = (%v, %d), want (true, 0)", ok, idx)
	}
	p2 := mustCompile(t, Rule{DNS: "**"}, Rule{URI: "**"}, Rule{Email: "*@*"}, Rule{IP: "::/0"})
	if ok, _ := p2.Allowed(onlyCN); ok {
		t.Error("identity without SANs matched a SAN rule")
	}
}

func TestIPv4MappedSAN(t *testing.T) {
	id := &identity.Identity{IPs: []string{"::ffff:10.9.8.7"}}
	for _, r := range []Rule{{IP: "10.9.8.7"}, {IP: "10.0.0.0/8"}} {
		if ok, _ := mustCompile(t, r).Allowed(id); !ok {
			t.Errorf("%v does not match an IPv4-mapped SAN", r)
		}
	}
}

// TestFromChain runs the policy against identities built from real
// certificates, as the gateway does.
func TestFromChain(t *testing.T) {
	root := testpki.NewRootCA(t, "Acme Root")
	ca := root.NewIntermediate(t, "Acme Issuing CA")
	leaf := ca.Issue(t, testpki.Options{
		CN: "orders", O: []string{"Acme Corp"}, OU: []string{"payments"},
		DNS:    []string{"orders.svc.example.com"},
		URIs:   []string{"spiffe://example.org/ns/prod/sa/orders"},
		Emails: []string{"ops@Example.com"},
		IPs:    []net.IP{net.ParseIP("10.20.30.40")},
	})
	id := identity.FromChain(append([]*x509.Certificate{leaf.Cert}, leaf.Chain...))
	tests := []struct {
		name string
		rule Rule
		want bool
	}{
		{"fingerprint", Rule{FingerprintSHA256: id.FingerprintSHA256}, true},
		{"serial with leading zeros", Rule{Serial: "00" + id.SerialHex}, true},
		{"serial and issuer", Rule{Serial: id.SerialHex, IssuerCN: "Acme Issuing CA"}, true},
		{"serial, wrong issuer", Rule{Serial: id.SerialHex, IssuerCN: "Acme Root"}, false},
		{"spiffe", Rule{SPIFFEID: "spiffe://example.org/ns/*/sa/orders"}, true},
		{"dns", Rule{DNS: "*.svc.example.com"}, true},
		{"email", Rule{Email: "ops@example.com"}, true},
		{"ip", Rule{IP: "10.20.0.0/16"}, true},
		{"cn and ou", Rule{CN: "orders", OU: "payments"}, true},
		{"cn and wrong o", Rule{CN: "orders", O: "Globex"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if ok, _ := mustCompile(t, tt.rule).Allowed(id); ok != tt.want {
				t.Errorf("Allowed(%v) = %v, want %v", tt.rule, ok, tt.want)
			}
		})
	}
}

func TestAllowedDoesNotAllocate(t *testing.T) {
	p := mustCompile(t,
		Rule{CN: "bob"}, Rule{DNS: "ALICE.example.com", OU: "x"}, Rule{Email: "Alice@EXAMPLE.com", OU: "y"},
		Rule{IP: "10.0.0.0/8", OU: "z"}, Rule{DNS: "**.example.com", URI: "spiffe://*/**", OU: "w"},
		Rule{FingerprintSHA256: fpAlice})
	id := alice()
	if ok, idx := p.Allowed(id); !ok || idx != 5 {
		t.Fatalf("Allowed = (%v, %d), want (true, 5)", ok, idx)
	}
	if n := testing.AllocsPerRun(200, func() { p.Allowed(id) }); n != 0 {
		t.Errorf("Allowed: %v allocs per call, want 0", n)
	}
}

// TestConcurrentUse runs Allowed, Explain and Check from several goroutines
// on one Policy; run with -race.
func TestConcurrentUse(t *testing.T) {
	p := mustCompile(t, Rule{CN: "bob"}, Rule{DNS: "*.svc.example.com"}, Rule{IP: "10.0.0.0/8", Email: "*@example.com"})
	id := alice()
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Go(func() {
			for i := 0; i < 200; i++ {
				if ok, idx := p.Allowed(id); !ok || idx != 1 {
					t.Errorf("Allowed = (%v, %d), want (true, 1)", ok, idx)
					return
				}
				_ = p.Explain(id)
				_ = p.Check(nil)
			}
		})
	}
	wg.Wait()
}

func TestLenRulesString(t *testing.T) {
	rules := []Rule{{CN: "alice"}, {DNS: "*.example.com"}}
	p := mustCompile(t, rules...)
	if p.Len() != 2 {
		t.Errorf("Len = %d, want 2", p.Len())
	}
	got := p.Rules()
	got[0].CN = "mallory"
	if p.Rules()[0].CN != "alice" {
		t.Error("Rules returned the policy's own slice")
	}
	if s, want := p.String(), "policy: 2 allow entries (1 indexed), sha256:"; !strings.HasPrefix(s, want) || len(s) != len(want)+32 {
		t.Errorf("String = %q, want %q and 32 hex digits", s, want)
	}
	// String tells policies apart (the gateway compares it across routes).
	same := mustCompile(t, rules...)
	other := mustCompile(t, Rule{CN: "bob"}, Rule{DNS: "*.example.com"})
	split := mustCompile(t, Rule{CN: "alice", DNS: "*.example.com"})
	if p.String() != same.String() || p.String() == other.String() || p.String() == split.String() {
		t.Errorf("String does not identify the rules: %q %q %q %q", p, same, other, split)
	}
	if s, want := rules[0].String(), `{cn: "alice"}`; s != want {
		t.Errorf("Rule.String = %q, want %q", s, want)
	}
	var nilP *Policy
	if nilP.Len() != 0 || nilP.Rules() != nil || nilP.Explain(alice()) != nil {
		t.Error("nil Policy is not empty")
	}
}
