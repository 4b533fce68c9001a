package policy

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		name string
		rule Rule
		want string // the whole message for allow[0]
	}{
		{"no keys", Rule{}, "allow[0]: entry has no keys; it would allow every certificate"},
		{"blank", Rule{CN: "  "}, "allow[0].cn: value is blank"},
		{"triple star", Rule{O: "a***"}, `allow[0].o: "***" at byte 1; use "*" within a value or "**" across them`},
		{"control char", Rule{OU: "pay\nments"}, `allow[0].ou: control character '\n' at byte 3`},
		{"bad utf8", Rule{IssuerCN: "\xff"}, "allow[0].issuer_cn: not valid UTF-8"},
		{"fingerprint short", Rule{FingerprintSHA256: "AB:CD:EF:01:23:45"}, "allow[0].fingerprint_sha256: want 64 hex digits, got 12"},
		{"fingerprint not hex", Rule{FingerprintSHA256: "zz"}, `allow[0].fingerprint_sha256: invalid hex digit 'z' at byte 0`},
		{"fingerprint glob", Rule{FingerprintSHA256: "ab*"}, `allow[0].fingerprint_sha256: invalid hex digit '*' at byte 2`},
		{"serial not hex", Rule{Serial: "0x1f"}, `allow[0].serial: invalid hex digit 'x' at byte 1`},
		{"serial too long", Rule{Serial: strings.Repeat("f", 41)}, "allow[0].serial: want at most 40 hex digits (20 octets, RFC 5280), got 41"},
		{"ip garbage", Rule{IP: "10.0.0"}, `allow[0].ip: invalid IP address "10.0.0" (want an address or a CIDR)`},
		{"ip bad cidr", Rule{IP: "10.0.0.0/33"}, `allow[0].ip: invalid CIDR "10.0.0.0/33"`},
		{"ip host bits", Rule{IP: "10.1.2.3/8"}, `allow[0].ip: host bits set in "10.1.2.3/8"; did you mean "10.0.0.0/8"?`},
		{"ip zone", Rule{IP: "fe80::1%eth0"}, `allow[0].ip: invalid IP address "fe80::1%eth0" (want an address or a CIDR)`},
		{"ip mapped", Rule{IP: "::ffff:10.0.0.1"}, `allow[0].ip: IPv4-mapped address in "::ffff:10.0.0.1"; write the IPv4 form`},
		{"dns bad char", Rule{DNS: "a b.example.com"}, `allow[0].dns: character ' ' at byte 1 cannot appear in a DNS name (use the xn-- form for IDNs)`},
		{"dns empty label", Rule{DNS: ".example.com"}, `allow[0].dns: empty label; write ".example.com" as a pattern such as "*.example.com"`},
		{"dns partial double star", Rule{DNS: "a**.example.com"}, `allow[0].dns: "**" at byte 1 must be a whole label (between '.' separators); use "*" inside a label`},
		{"dns too long", Rule{DNS: strings.Repeat("a.", 127) + "a"}, "allow[0].dns: name is 255 bytes long, want at most 253"},
		{"uri space", Rule{URI: "https://x/a b"}, `allow[0].uri: byte ' ' at 11 cannot appear in a URI (percent-encode it)`},
		{"spiffe scheme", Rule{SPIFFEID: "example.org/ns/a"}, `allow[0].spiffe_id: want a SPIFFE ID starting with "spiffe://", got "example.org/ns/a"`},
		{"spiffe no trust domain", Rule{SPIFFEID: "spiffe:///ns/a"}, `allow[0].spiffe_id: missing trust domain in "spiffe:///ns/a"`},
		{"spiffe partial double star", Rule{SPIFFEID: "spiffe://example.org/ns/prod**"}, `allow[0].spiffe_id: "**" at byte 28 must be a whole segment (between '/' separators); use "*" inside a segment`},
		{"email no at", Rule{Email: "ops"}, `allow[0].email: want local@domain (e.g. "ops@example.com" or "*@example.com"), got "ops"`},
		{"email empty domain", Rule{Email: "ops@"}, `allow[0].email: want local@domain (e.g. "ops@example.com" or "*@example.com"), got "ops@"`},
		{"email space", Rule{Email: "o ps@example.com"}, `allow[0].email: byte ' ' at 1 cannot appear in an email SAN`},
		{"email triple star", Rule{Email: "***@example.com"}, `allow[0].email: "***" at byte 0; use "*" within a value or "**" across them`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Compile([]Rule{tt.rule})
			if err == nil {
				t.Fatalf("Compile(%v) succeeded, want %q", tt.rule, tt.want)
			}
			if p != nil {
				t.Error("Compile returned a Policy with an error")
			}
			if err.Error() != tt.want {
				t.Errorf("error = %q\n         want %q", err, tt.want)
			}
			if !errors.Is(err, ErrInvalidRule) {
				t.Error("error does not wrap ErrInvalidRule")
			}
		})
	}
}

// TestCompileErrorsAllListed checks that one Compile reports every problem,
// in order, each as a *RuleError naming its entry and key.
func TestCompileErrorsAllListed(t *testing.T) {
	_, err := Compile([]Rule{
		{CN: "alice"},
		{},
		{FingerprintSHA256: "AB:CD:EF:01:23:45", IP: "300.0.0.1"},
		{DNS: "*.example.com"},
		{SPIFFEID: "http://x", Serial: "g"},
	})
	want := []string{
		"allow[1]: entry has no keys; it would allow every certificate",
		`allow[2].ip: invalid IP address "300.0.0.1" (want an address or a CIDR)`,
		"allow[2].fingerprint_sha256: want 64 hex digits, got 12",
		`allow[4].spiffe_id: want a SPIFFE ID starting with "spiffe://", got "http://x"`,
		`allow[4].serial: invalid hex digit 'g' at byte 0`,
	}
	if err == nil {
		t.Fatal("Compile succeeded")
	}
	if got := strings.Split(err.Error(), "\n"); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("errors:\n%s\nwant:\n%s", err, strings.Join(want, "\n"))
	}
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok {
		t.Fatalf("error %T is not a joined error", err)
	}
	keys := []struct {
		idx int
		key string
	}{{1, ""}, {2, "ip"}, {2, "fingerprint_sha256"}, {4, "spiffe_id"}, {4, "serial"}}
	for i, e := range joined.Unwrap() {
		var re *RuleError
		if !errors.As(e, &re) || re.Index != keys[i].idx || re.Key != keys[i].key {
			t.Errorf("error %d = %#v, want RuleError{Index: %d, Key: %q}", i, e, keys[i].idx, keys[i].key)
		}
	}
}

func TestCompileAccepts(t *testing.T) {
	ok := []Rule{
		{CN: "*"}, {CN: "Ünïcødé"}, {O: "**"}, {DNS: "**"}, {DNS: "*"}, {DNS: "xn--bcher-kva.example"},
		{DNS: "_acme.example.com"}, {URI: "urn:uuid:*"}, {SPIFFEID: "spiffe://*/**"},
		{Email: "*@*"}, {Email: "a@b@example.com"}, {IP: "::/0"}, {IP: "0.0.0.0/0"}, {IP: "::1"},
		{Serial: "0"}, {Serial: "00:00"}, {Serial: strings.Repeat("f", 40)},
		{FingerprintSHA256: strings.ToUpper(fpAlice)}, {FingerprintSHA256: colonUpper(fpAlice)},
	}
	for _, r := range ok {
		if _, err := Compile([]Rule{r}); err != nil {
			t.Errorf("Compile(%v): %v", r, err)
		}
	}
}

// FuzzCompile feeds arbitrary values to every key: Compile must not panic,
// must return exactly one of a Policy or an error, every error line must
// name an entry, and a compiled policy must answer Allowed, Explain and
// Check consistently for an identity built from the same strings.
func FuzzCompile(f *testing.F) {
	f.Add("alice", "*.example.com", "spiffe://example.org/**", "10.0.0.0/8", "AB:CD", "00:1a")
	f.Add("", "", "", "", "", "")
	f.Add("a***", "a**.b", "spiffe://", "10.1.2.3/8", "zz", "-1")
	f.Add("*", "**", "spiffe://x/*", "::/0", fpAlice, "0")
	f.Fuzz(func(t *testing.T, cn, dns, spiffe, ip, fp, serial string) {
		rules := []Rule{
			{CN: cn, DNS: dns},
			{SPIFFEID: spiffe, IP: ip},
			{FingerprintSHA256: fp, Serial: serial},
			{O: cn, OU: dns, URI: spiffe, Email: cn + "@" + dns, IssuerCN: serial},
		}
		p, err := Compile(rules)
		if (p == nil) == (err == nil) {
			t.Fatalf("Compile returned (%v, %v)", p, err)
		}
		if err != nil {
			for _, line := range strings.Split(err.Error(), "\n") {
				if !strings.HasPrefix(line, "allow[") || !utf8.ValidString(line) {
					t.Fatalf("error line %q does not name an entry or is not clean UTF-8", line)
				}
			}
			return
		}
		id := alice()
		id.CommonName, id.DNSNames, id.SPIFFEID, id.IPs = cn, []string{dns}, spiffe, []string{ip}
		id.FingerprintSHA256, id.SerialHex = fp, serial
		ok, idx := p.Allowed(id)
		res := p.Explain(id)
		first := -1
		for i, r := range res {
			if r.Matched {
				first = i
				break
			}
		}
		if ok != (first >= 0) || idx != first {
			t.Fatalf("Allowed = (%v, %d), Explain's first match = %d", ok, idx, first)
		}
		if (p.Check(id) == nil) != ok {
			t.Fatalf("Check disagrees with Allowed")
		}
	})
}
