package policy

import (
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"

	"github.com/mtlsgate/mtlsgate/internal/identity"
)

// naiveAllowed is the specification of Allowed written without the index
// and without the compiled matchers: every rule in order, every key through
// refMatch or a direct comparison.
func naiveAllowed(rules []Rule, id *identity.Identity) (bool, int) {
	if id == nil {
		return false, -1
	}
	for i, r := range rules {
		if naiveRule(r, id) {
			return true, i
		}
	}
	return false, -1
}

func naiveRule(r Rule, id *identity.Identity) bool {
	one := func(pat, v string, sep byte, fold bool) bool {
		return pat == "" || (v != "" && refMatch(pat, v, sep, fold))
	}
	anyOf := func(pat string, vs []string, sep byte, fold bool) bool {
		if pat == "" {
			return true
		}
		for _, v := range vs {
			if v != "" && refMatch(pat, v, sep, fold) {
				return true
			}
		}
		return false
	}
	hex := func(s string) string {
		return strings.ToLower(strings.NewReplacer(":", "", " ", "").Replace(s))
	}
	serial := strings.TrimLeft(hex(r.Serial), "0")
	if serial == "" {
		serial = "0"
	}
	return one(r.CN, id.CommonName, 0, false) &&
		anyOf(r.O, id.Organization, 0, false) &&
		anyOf(r.OU, id.OrganizationalUnit, 0, false) &&
		anyOf(r.DNS, id.DNSNames, '.', true) &&
		anyOf(r.URI, id.URIs, '/', false) &&
		naiveEmail(r.Email, id.Emails) &&
		naiveIP(r.IP, id.IPs) &&
		one(r.SPIFFEID, id.SPIFFEID, '/', false) &&
		(r.FingerprintSHA256 == "" || hex(r.FingerprintSHA256) == id.FingerprintSHA256) &&
		one(r.IssuerCN, id.IssuerCN, 0, false) &&
		(r.Serial == "" || serial == id.SerialHex)
}

func naiveEmail(pat string, vs []string) bool {
	if pat == "" {
		return true
	}
	at := strings.LastIndex(pat, "@")
	for _, v := range vs {
		j := strings.LastIndex(v, "@")
		if j >= 0 && refMatch(pat[:at], v[:j], 0, false) && refMatch(pat[at+1:], v[j+1:], 0, true) {
			return true
		}
	}
	return false
}

func naiveIP(pat string, vs []string) bool {
	if pat == "" {
		return true
	}
	pfx, err := netip.ParsePrefix(pat)
	if err != nil {
		a := netip.MustParseAddr(pat)
		pfx = netip.PrefixFrom(a, a.BitLen())
	}
	for _, v := range vs {
		if a, err := netip.ParseAddr(v); err == nil && pfx.Contains(a.Unmap()) {
			return true
		}
	}
	return false
}

// vocab holds small, overlapping vocabularies mixing exact values, globs and
// case, so that random rules and identities collide often.
type vocab struct {
	cn, o, dns, uri, email, ip, fp, serial, issuer []string
}

func newVocab() vocab {
	return vocab{
		cn:     []string{"alice", "bob", "Alice", "a*", "*e", "*"},
		o:      []string{"Acme", "Acme Corp", "Globex", "Acme*", "*"},
		dns:    []string{"a.example.com", "A.Example.com", "b.example.com", "a.b.example.com", "*.example.com", "**.example.com", "a.*.example.com", "**"},
		uri:    []string{"spiffe://example.org/ns/prod/sa/a", "spiffe://example.org/ns/dev/sa/a", "spiffe://example.org/ns/*/sa/a", "spiffe://example.org/**", "https://x/*"},
		email:  []string{"ops@example.com", "ops@EXAMPLE.com", "Ops@example.com", "*@example.com", "ops@*", "*@*"},
		ip:     []string{"10.0.0.1", "10.0.0.2", "10.0.0.0/8", "10.0.0.0/24", "2001:db8::1", "2001:db8::/32", "0.0.0.0/0"},
		fp:     []string{fpAlice, fpOther, colonUpper(fpAlice)},
		serial: []string{"1a", "01a", "0:1A", "2b", "0"},
		issuer: []string{"CA1", "CA2", "CA*"},
	}
}

func pick(r *rand.Rand, vs []string) string { return vs[r.IntN(len(vs))] }

// pickID returns a value usable in a certificate: globs are turned into a
// concrete value by replacing stars.
func pickID(r *rand.Rand, vs []string) string {
	v := pick(r, vs)
	v = strings.ReplaceAll(v, "**", "x.y")
	return strings.ReplaceAll(v, "*", pick(r, []string{"", "q", "prod"}))
}

func pickIDs(r *rand.Rand, vs []string) []string {
	var out []string
	for n := r.IntN(3); n > 0; n-- {
		out = append(out, pickID(r, vs))
	}
	return out
}

func randomRule(r *rand.Rand, v vocab) Rule {
	var rule Rule
	for n := 1 + r.IntN(3); n > 0; n-- {
		switch r.IntN(11) {
		case 0:
			rule.CN = pick(r, v.cn)
		case 1:
			rule.O = pick(r, v.o)
		case 2:
			rule.OU = pick(r, v.o)
		case 3:
			rule.DNS = pick(r, v.dns)
		case 4:
			rule.URI = pick(r, v.uri)
		case 5:
			rule.Email = pick(r, v.email)
		case 6:
			rule.IP = pick(r, v.ip)
		case 7:
			rule.SPIFFEID = pick(r, v.uri[:4])
		case 8:
			rule.FingerprintSHA256 = pick(r, v.fp)
		case 9:
			rule.IssuerCN = pick(r, v.issuer)
		default:
			rule.Serial = pick(r, v.serial)
		}
	}
	return rule
}

func randomIdentity(r *rand.Rand, v vocab) *identity.Identity {
	if r.IntN(50) == 0 {
		return nil
	}
	var ips []string
	for n := r.IntN(3); n > 0; n-- {
		ips = append(ips, pick(r, []string{"10.0.0.1", "10.0.0.2", "10.9.9.9", "192.168.1.1", "2001:db8::1", "2001:db9::1", "::ffff:10.0.0.1"}))
	}
	id := &identity.Identity{
		CommonName:         pickID(r, v.cn),
		Organization:       pickIDs(r, v.o),
		OrganizationalUnit: pickIDs(r, v.o),
		DNSNames:           pickIDs(r, v.dns),
		URIs:               pickIDs(r, v.uri),
		Emails:             pickIDs(r, v.email),
		IPs:                ips,
		FingerprintSHA256:  pick(r, []string{fpAlice, fpOther, ""}),
		SerialHex:          pick(r, []string{"1a", "2b", "0", ""}),
		IssuerCN:           pickID(r, v.issuer),
	}
	if len(id.URIs) == 1 && strings.HasPrefix(id.URIs[0], "spiffe://") {
		id.SPIFFEID = id.URIs[0]
	}
	return id
}

// TestIndexAgreesWithNaive is a property test: over many random policies and
// identities, Allowed (indexed, compiled) returns exactly what the naive
// linear reference returns, including which rule.
func TestIndexAgreesWithNaive(t *testing.T) {
	r, v := rand.New(rand.NewPCG(1, 2)), newVocab()
	iterations := 5000
	if testing.Short() {
		iterations = 500
	}
	matched := 0
	for it := 0; it < iterations; it++ {
		rules := make([]Rule, 1+r.IntN(12))
		for i := range rules {
			rules[i] = randomRule(r, v)
		}
		p := mustCompile(t, rules...)
		for k := 0; k < 8; k++ {
			id := randomIdentity(r, v)
			gotOK, gotIdx := p.Allowed(id)
			wantOK, wantIdx := naiveAllowed(rules, id)
			if gotOK != wantOK || gotIdx != wantIdx {
				t.Fatalf("rules %v\nidentity %+v\nAllowed = (%v, %d), naive = (%v, %d)",
					rules, id, gotOK, gotIdx, wantOK, wantIdx)
			}
			if gotOK {
				matched++
			}
		}
	}
	// Guard against a generator that never (or always) matches.
	if total := iterations * 8; matched < total/10 || matched > total*9/10 {
		t.Errorf("only %d of %d random checks matched; the generator needs tuning", matched, total)
	}
}
