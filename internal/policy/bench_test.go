package policy

import (
	"fmt"
	"testing"

	"github.com/mtlsgate/mtlsgate/internal/identity"
)

// BenchmarkAllowed measures the per-request check. The identity matches the
// last rule, the worst case for a linear scan, so the exact-N cases show
// whether the cost grows with N (it should not: they are indexed). "deny"
// variants match nothing.
func BenchmarkAllowed(b *testing.B) {
	client := func(n int) *identity.Identity {
		id := alice()
		id.CommonName = fmt.Sprintf("client-%d", n)
		id.DNSNames = []string{fmt.Sprintf("client-%d.svc%d.example.com", n, n)}
		return id
	}
	exact := func(n int) []Rule {
		rules := make([]Rule, n)
		for i := range rules {
			rules[i] = Rule{CN: fmt.Sprintf("client-%d", i), OU: "payments"}
		}
		return rules
	}
	globs := func(n int) []Rule {
		rules := make([]Rule, n)
		for i := range rules {
			rules[i] = Rule{DNS: fmt.Sprintf("*.svc%d.example.com", i)}
		}
		return rules
	}
	cases := []struct {
		name  string
		rules []Rule
		id    *identity.Identity
		want  bool
	}{
		{"exact-1", exact(1), client(0), true},
		{"exact-100", exact(100), client(99), true},
		{"exact-10000", exact(10000), client(9999), true},
		{"exact-10000-deny", exact(10000), client(10000), false},
		{"glob-10", globs(10), client(9), true},
		{"glob-10-deny", globs(10), client(10), false},
		{"fingerprint-10000", fingerprints(10000), alice(), true},
		{"spiffe-glob-1", []Rule{{SPIFFEID: "spiffe://example.org/ns/*/sa/orders"}}, alice(), true},
		{"cidr-1000", cidrs(1000), alice(), true},
	}
	for _, c := range cases {
		p := mustCompile(b, c.rules...)
		if ok, _ := p.Allowed(c.id); ok != c.want {
			b.Fatalf("%s: Allowed = %v, want %v", c.name, ok, c.want)
		}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				p.Allowed(c.id)
			}
		})
	}
}

// fingerprints returns n pinned-certificate rules, alice's last.
func fingerprints(n int) []Rule {
	rules := make([]Rule, n)
	for i := range rules {
		rules[i] = Rule{FingerprintSHA256: fmt.Sprintf("%064x", i+2)}
	}
	rules[n-1].FingerprintSHA256 = fpAlice
	return rules
}

// cidrs returns n /32 and /24 rules in 172.16/12 and one /16 matching alice.
func cidrs(n int) []Rule {
	rules := make([]Rule, n)
	for i := range rules {
		rules[i] = Rule{IP: fmt.Sprintf("172.16.%d.%d/32", i/256, i%256)}
		if i%2 == 1 {
			rules[i].IP = fmt.Sprintf("172.17.%d.0/24", i%256)
		}
	}
	rules[n-1].IP = "10.1.0.0/16"
	return rules
}

// BenchmarkCompile measures building a 10,000-rule policy (config reload).
func BenchmarkCompile(b *testing.B) {
	rules := fingerprints(10000)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Compile(rules); err != nil {
			b.Fatal(err)
		}
	}
}
