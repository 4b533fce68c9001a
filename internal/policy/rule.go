package policy

import (
	"fmt"
	"net/netip"
	"strings"
	"unicode/utf8"

	"github.com/mtlsgate/mtlsgate/internal/identity"
)

// Rule is one allow entry as configured. An empty field is an absent key.
// Every present key must match for the entry to match; see the package
// documentation for what each key matches and its pattern syntax.
type Rule struct {
	CN                string // cn
	O                 string // o
	OU                string // ou
	DNS               string // dns
	URI               string // uri
	Email             string // email
	IP                string // ip: CIDR or single address
	SPIFFEID          string // spiffe_id
	FingerprintSHA256 string // fingerprint_sha256: hex, colons and spaces ignored
	IssuerCN          string // issuer_cn
	Serial            string // serial: hex, colons and spaces ignored
}

// field identifies a key. The order is the order in which keys are checked
// and reported by Explain.
type field uint8

const (
	fCN field = iota
	fO
	fOU
	fDNS
	fURI
	fEmail
	fIP
	fSPIFFE
	fFingerprint
	fIssuerCN
	fSerial
	numFields
)

type fieldSpec struct {
	key   string // YAML key
	label string // the certificate field, as Explain names it
	none  string // how Explain says the certificate lacks it
	sep   byte   // glob separator
	fold  bool   // ASCII case-insensitive
	rank  uint8  // preference as index anchor; lower is more selective
}

// spec describes field f. It is a function rather than a package-level
// table so that there is no mutable global state.
func spec(f field) fieldSpec {
	switch f {
	case fCN:
		return fieldSpec{"cn", "CN", "no CN", 0, false, 6}
	case fO:
		return fieldSpec{"o", "O", "no O", 0, false, 10}
	case fOU:
		return fieldSpec{"ou", "OU", "no OU", 0, false, 9}
	case fDNS:
		return fieldSpec{"dns", "DNS", "no DNS SAN", '.', true, 5}
	case fURI:
		return fieldSpec{"uri", "URI", "no URI SAN", '/', false, 3}
	case fEmail:
		return fieldSpec{"email", "email", "no email SAN", 0, false, 4}
	case fIP:
		return fieldSpec{"ip", "IP", "no IP SAN", 0, false, 7}
	case fSPIFFE:
		return fieldSpec{"spiffe_id", "SPIFFE ID", "no SPIFFE ID", '/', false, 2}
	case fFingerprint:
		return fieldSpec{"fingerprint_sha256", "fingerprint", "no fingerprint", 0, false, 0}
	case fIssuerCN:
		return fieldSpec{"issuer_cn", "issuer CN", "no issuer CN", 0, false, 8}
	default:
		return fieldSpec{"serial", "serial", "no serial", 0, false, 1}
	}
}

// values returns the rule's keys indexed by field.
func (r *Rule) values() [numFields]string {
	return [numFields]string{r.CN, r.O, r.OU, r.DNS, r.URI, r.Email, r.IP,
		r.SPIFFEID, r.FingerprintSHA256, r.IssuerCN, r.Serial}
}

// String renders the rule in its YAML flow form, for diagnostics:
// {cn: "alice", ou: "payments"}.
func (r Rule) String() string {
	var b strings.Builder
	b.WriteByte('{')
	for f, v := range r.values() {
		if v == "" {
			continue
		}
		if b.Len() > 1 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s: %q", spec(field(f)).key, v)
	}
	b.WriteByte('}')
	return b.String()
}

// key is one compiled key of a rule.
type key struct {
	f   field
	raw string       // as configured, for Explain
	g   glob         // the pattern; for email, the local part
	dom glob         // email only: the domain
	pfx netip.Prefix // ip only
}

// exact returns the index key of k when k can anchor its rule in an index
// map, with ok false for a glob.
func (k *key) exact() (string, bool) {
	switch k.f {
	case fIP:
		return "", false
	case fEmail:
		if k.g.exact && k.dom.exact {
			return k.g.pat + "@" + k.dom.pat, true
		}
		return "", false
	}
	return k.g.pat, k.g.exact
}

// compileKey validates and compiles value v of field f. The error is a
// sentence without the key path.
func compileKey(f field, v string) (key, error) {
	k := key{f: f, raw: v}
	sp := spec(f)
	var err error
	switch f {
	case fCN, fO, fOU, fIssuerCN:
		if !utf8.ValidString(v) {
			return k, fmt.Errorf("not valid UTF-8")
		}
		k.g, err = compileGlob(v, 0, false)
	case fDNS:
		err = checkDNS(v)
		if err == nil {
			k.g, err = compileGlob(v, sp.sep, true)
		}
	case fURI:
		err = checkURI(v)
		if err == nil {
			k.g, err = compileGlob(v, sp.sep, false)
		}
	case fSPIFFE:
		err = checkSPIFFE(v)
		if err == nil {
			k.g, err = compileGlob(v, sp.sep, false)
		}
	case fEmail:
		k.g, k.dom, err = compileEmail(v)
	case fIP:
		k.pfx, err = compileIP(v)
	case fFingerprint:
		var h string
		if h, err = normHex(v); err == nil && len(h) != 64 {
			err = fmt.Errorf("want 64 hex digits, got %d", len(h))
		}
		k.g = glob{pat: h, exact: true}
	case fSerial:
		var h string
		if h, err = normHex(v); err == nil {
			h = strings.TrimLeft(h, "0")
			switch {
			case h == "":
				h = "0"
			case len(h) > 40:
				err = fmt.Errorf("want at most 40 hex digits (20 octets, RFC 5280), got %d", len(h))
			}
		}
		k.g = glob{pat: h, exact: true}
	}
	return k, err
}

// checkDNS allows what can appear in a DNS SAN (letters, digits, '-', '_',
// A-labels for IDNs) plus '*', and rejects empty labels.
func checkDNS(v string) error {
	if len(v) > 253 {
		return fmt.Errorf("name is %d bytes long, want at most 253", len(v))
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '-' || c == '_' || c == '.' || c == '*') {
			return fmt.Errorf("character %q at byte %d cannot appear in a DNS name (use the xn-- form for IDNs)", c, i)
		}
	}
	if strings.HasPrefix(v, ".") || strings.HasSuffix(v, ".") || strings.Contains(v, "..") {
		return fmt.Errorf("empty label; write %q as a pattern such as \"*.example.com\"", v)
	}
	return nil
}

// checkURI rejects bytes that cannot appear in a URI SAN as the identity
// renders it (url.URL.String escapes everything else).
func checkURI(v string) error {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c <= ' ' || c >= 0x7f {
			return fmt.Errorf("byte %q at %d cannot appear in a URI (percent-encode it)", c, i)
		}
	}
	return nil
}

func checkSPIFFE(v string) error {
	if !strings.HasPrefix(v, "spiffe://") {
		return fmt.Errorf(`want a SPIFFE ID starting with "spiffe://", got %q`, v)
	}
	if td, _, _ := strings.Cut(v[len("spiffe://"):], "/"); td == "" {
		return fmt.Errorf("missing trust domain in %q", v)
	}
	return checkURI(v)
}

// compileEmail splits v at its last '@': the local part matches
// case-sensitively, the domain ASCII case-insensitively.
func compileEmail(v string) (local, domain glob, err error) {
	if len(v) > maxEmailKey {
		return local, domain, fmt.Errorf("address is %d bytes long, want at most %d", len(v), maxEmailKey)
	}
	at := strings.LastIndexByte(v, '@')
	if at <= 0 || at == len(v)-1 {
		return local, domain, fmt.Errorf(`want local@domain (e.g. "ops@example.com" or "*@example.com"), got %q`, v)
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; c <= ' ' || c >= 0x7f {
			return local, domain, fmt.Errorf("byte %q at %d cannot appear in an email SAN", c, i)
		}
	}
	if local, err = compileGlob(v[:at], 0, false); err != nil {
		return local, domain, err
	}
	domain, err = compileGlob(v[at+1:], 0, true)
	return local, domain, err
}

// compileIP accepts a CIDR or a single address. Host bits must be zero, so
// that "10.1.2.3/8" (probably a typo) is not silently widened.
func compileIP(v string) (netip.Prefix, error) {
	var p netip.Prefix
	if strings.Contains(v, "/") {
		var err error
		if p, err = netip.ParsePrefix(v); err != nil {
			return p, fmt.Errorf("invalid CIDR %q", v)
		}
		if m := p.Masked(); m != p {
			return p, fmt.Errorf("host bits set in %q; did you mean %q?", v, m.String())
		}
	} else {
		a, err := netip.ParseAddr(v)
		if err != nil || a.Zone() != "" {
			return p, fmt.Errorf("invalid IP address %q (want an address or a CIDR)", v)
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	if p.Addr().Is4In6() {
		return p, fmt.Errorf("IPv4-mapped address in %q; write the IPv4 form", v)
	}
	return p, nil
}

// normHex strips colons and spaces and lowercases; it rejects anything else
// that is not a hex digit.
func normHex(v string) (string, error) {
	b := make([]byte, 0, len(v))
	for i := 0; i < len(v); i++ {
		c := lower(v[i])
		switch {
		case c == ':' || c == ' ':
		case '0' <= c && c <= '9' || 'a' <= c && c <= 'f':
			b = append(b, c)
		default:
			return "", fmt.Errorf("invalid hex digit %q at byte %d", v[i], i)
		}
	}
	return string(b), nil
}

// matchID reports whether id satisfies k. Empty identity values are absent
// and never match. It does not allocate.
func (k *key) matchID(id *identity.Identity) bool {
	switch k.f {
	case fCN:
		return matchOne(&k.g, id.CommonName)
	case fO:
		return matchAny(&k.g, id.Organization)
	case fOU:
		return matchAny(&k.g, id.OrganizationalUnit)
	case fDNS:
		return matchAny(&k.g, id.DNSNames)
	case fURI:
		return matchAny(&k.g, id.URIs)
	case fEmail:
		for _, e := range id.Emails {
			if k.matchEmail(e) {
				return true
			}
		}
		return false
	case fIP:
		for _, s := range id.IPs {
			if a, err := netip.ParseAddr(s); err == nil && k.pfx.Contains(a.Unmap()) {
				return true
			}
		}
		return false
	case fSPIFFE:
		return matchOne(&k.g, id.SPIFFEID)
	case fFingerprint:
		return matchOne(&k.g, id.FingerprintSHA256)
	case fIssuerCN:
		return matchOne(&k.g, id.IssuerCN)
	default:
		return matchOne(&k.g, id.SerialHex)
	}
}

func (k *key) matchEmail(e string) bool {
	at := strings.LastIndexByte(e, '@')
	return at >= 0 && k.g.match(e[:at]) && k.dom.match(e[at+1:])
}

func matchOne(g *glob, v string) bool { return v != "" && g.match(v) }

func matchAny(g *glob, vs []string) bool {
	for _, v := range vs {
		if v != "" && g.match(v) {
			return true
		}
	}
	return false
}

// idValues returns what k looks at in id, for Explain.
func (k *key) idValues(id *identity.Identity) []string {
	var vs []string
	switch k.f {
	case fCN:
		vs = []string{id.CommonName}
	case fO:
		vs = id.Organization
	case fOU:
		vs = id.OrganizationalUnit
	case fDNS:
		vs = id.DNSNames
	case fURI:
		vs = id.URIs
	case fEmail:
		vs = id.Emails
	case fIP:
		vs = id.IPs
	case fSPIFFE:
		vs = []string{id.SPIFFEID}
	case fFingerprint:
		vs = []string{id.FingerprintSHA256}
	case fIssuerCN:
		vs = []string{id.IssuerCN}
	default:
		vs = []string{id.SerialHex}
	}
	out := vs[:0:0]
	for _, v := range vs {
		if v != "" {
			out = append(out, v)
		}
	}
	return out
}
