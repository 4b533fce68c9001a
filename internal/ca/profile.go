package ca

import (
	"crypto/x509"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// SANKind is a kind of subject alternative name.
type SANKind string

// SAN kinds, as written in --san values ("dns:api.example.com") and in
// profile settings.
const (
	SANDNS   SANKind = "dns"
	SANIP    SANKind = "ip"
	SANEmail SANKind = "email"
	SANURI   SANKind = "uri"
)

var sanKinds = []SANKind{SANDNS, SANIP, SANEmail, SANURI}

// Profile decides what a certificate is allowed to be. The request or CSR
// never chooses key usage, extended key usage, basic constraints or a
// lifetime beyond MaxTTL.
type Profile struct {
	Name        string
	ExtKeyUsage []x509.ExtKeyUsage
	DefaultTTL  time.Duration
	MaxTTL      time.Duration
	// SANs lists the kinds of names a certificate of this profile may carry.
	SANs []SANKind
	// RequireSAN: at least one DNS or IP name (TLS servers are matched by
	// SAN, not CN).
	RequireSAN bool
	// SubjectO and SubjectOU, when set, list the only organisation and
	// organisational-unit values a certificate may carry: routes authorise
	// on them, so a CSR must not choose them freely.
	SubjectO, SubjectOU []string
}

// allows reports whether the profile permits SAN kind k.
func (p *Profile) allows(k SANKind) bool { return slices.Contains(p.SANs, k) }

// serverAuth reports whether the profile issues TLS server certificates.
func (p *Profile) serverAuth() bool {
	return slices.Contains(p.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
}

const day = 24 * time.Hour

// BuiltinProfiles are always available; ca.yaml may override them by name or
// add more.
func BuiltinProfiles() map[string]*Profile {
	return map[string]*Profile{
		"client": {
			Name:        "client",
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
			DefaultTTL:  30 * day, MaxTTL: 365 * day,
			SANs: []SANKind{SANDNS, SANIP, SANEmail, SANURI},
		},
		"server": {
			Name:        "server",
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			DefaultTTL:  90 * day, MaxTTL: 397 * day,
			SANs:       []SANKind{SANDNS, SANIP, SANURI},
			RequireSAN: true,
		},
		// upstream is the gateway's own client identity towards upstreams.
		"upstream": {
			Name:        "upstream",
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
			DefaultTTL:  30 * day, MaxTTL: 365 * day,
			SANs: []SANKind{SANDNS, SANIP, SANURI},
		},
	}
}

// ProfileSpec is a profile as written in ca.yaml.
type ProfileSpec struct {
	ExtKeyUsage []string `yaml:"ext_key_usage"` // client_auth | server_auth
	DefaultTTL  string   `yaml:"default_ttl"`   // e.g. 720h or 30d
	MaxTTL      string   `yaml:"max_ttl"`
	SANs        []string `yaml:"sans"` // dns | ip | email | uri
	RequireSAN  bool     `yaml:"require_san"`
	SubjectO    []string `yaml:"subject_o"`  // allowed O values (empty: any)
	SubjectOU   []string `yaml:"subject_ou"` // allowed OU values (empty: any)
}

// compile turns a spec into a Profile; errors name the field.
func (s ProfileSpec) compile(name string) (*Profile, error) {
	p := &Profile{Name: name, RequireSAN: s.RequireSAN, SubjectO: s.SubjectO, SubjectOU: s.SubjectOU}
	if len(s.ExtKeyUsage) == 0 {
		return nil, fmt.Errorf("profiles.%s.ext_key_usage: required (client_auth and/or server_auth)", name)
	}
	for _, e := range s.ExtKeyUsage {
		switch strings.ToLower(e) {
		case "client_auth", "clientauth":
			p.ExtKeyUsage = append(p.ExtKeyUsage, x509.ExtKeyUsageClientAuth)
		case "server_auth", "serverauth":
			p.ExtKeyUsage = append(p.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
		default:
			return nil, fmt.Errorf("profiles.%s.ext_key_usage: unknown %q (client_auth, server_auth)", name, e)
		}
	}
	var err error
	if p.MaxTTL, err = ParseTTL(s.MaxTTL); err != nil || p.MaxTTL <= 0 {
		return nil, fmt.Errorf("profiles.%s.max_ttl: %q: want a positive duration such as 720h or 30d", name, s.MaxTTL)
	}
	p.DefaultTTL = p.MaxTTL
	if s.DefaultTTL != "" {
		if p.DefaultTTL, err = ParseTTL(s.DefaultTTL); err != nil || p.DefaultTTL <= 0 {
			return nil, fmt.Errorf("profiles.%s.default_ttl: %q: want a positive duration such as 720h or 30d", name, s.DefaultTTL)
		}
		if p.DefaultTTL > p.MaxTTL {
			return nil, fmt.Errorf("profiles.%s.default_ttl %s is longer than max_ttl %s", name, s.DefaultTTL, s.MaxTTL)
		}
	}
	for _, k := range s.SANs {
		kind := SANKind(strings.ToLower(k))
		if !slices.Contains(sanKinds, kind) {
			return nil, fmt.Errorf("profiles.%s.sans: unknown kind %q (dns, ip, email, uri)", name, k)
		}
		p.SANs = append(p.SANs, kind)
	}
	if p.RequireSAN && !p.allows(SANDNS) && !p.allows(SANIP) {
		return nil, fmt.Errorf("profiles.%s: require_san needs dns or ip in sans", name)
	}
	return p, nil
}

// profileNames lists names sorted, for error messages.
func profileNames(m map[string]*Profile) string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// ParseTTL parses a Go duration ("720h", "90m") or a whole number of days
// ("30d").
func ParseTTL(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days < 0 || days > 100*365 {
			return 0, fmt.Errorf("invalid duration %q (want e.g. 30d or 720h)", s)
		}
		return time.Duration(days) * day, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("invalid duration %q (want e.g. 30d or 720h)", s)
	}
	return d, nil
}
