package ca

import (
	"bytes"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
)

// File names inside a CA directory (a contract, see the package doc).
const (
	RootCertFile         = "root.pem"
	RootKeyFile          = "root.key"
	IntermediateCertFile = "intermediate.pem"
	IntermediateKeyFile  = "intermediate.key"
	SettingsFile         = "ca.yaml"
	StoreFile            = "ca.db"
)

// Settings is the CA's ca.yaml: what both the CLI and serve need to agree on.
type Settings struct {
	// Name is the CA's display name, used in the root and intermediate
	// subjects at init.
	Name string `yaml:"name"`
	// PublishURL is the base URL where serve publishes this CA
	// (GET <url>/ca/crl, <url>/ca/ocsp). When set, every certificate issued
	// carries it as CRL distribution point and AIA OCSP URL.
	PublishURL string `yaml:"publish_url,omitempty"`
	// CRLValidity is the gap between a CRL's thisUpdate and nextUpdate
	// (default 24h; serve re-signs at half of it and at every revocation).
	CRLValidity string `yaml:"crl_validity,omitempty"`
	// OCSPValidity is the gap between an OCSP response's thisUpdate and
	// nextUpdate (default 1h).
	OCSPValidity string `yaml:"ocsp_validity,omitempty"`
	// KeepKeys stores the private keys of certificates issued with a
	// generated key, so `ca export` can include them later. Off by default:
	// a CA that keeps keys is a bigger target.
	KeepKeys bool `yaml:"keep_keys,omitempty"`
	// Profiles add to or override the built-in client, server and upstream
	// profiles.
	Profiles map[string]ProfileSpec `yaml:"profiles,omitempty"`
}

// compiled holds parsed settings.
type compiled struct {
	Settings
	crlValidity  time.Duration
	ocspValidity time.Duration
	profiles     map[string]*Profile
	crlURL       string
	ocspURL      string
	issuerURL    string // AIA caIssuers of leaves: the issuing CA (DER)
	rootURL      string // AIA caIssuers of the issuing CA: the root (DER)
	rootCRLURL   string // CRL distribution point of the issuing CA
}

func loadSettings(dir string) (*compiled, error) {
	path := filepath.Join(dir, SettingsFile)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading CA settings: %w", err)
	}
	var s Settings
	if err := yaml.UnmarshalWithOptions(data, &s, yaml.Strict()); err != nil {
		return nil, fmt.Errorf("%s: %s", path, yaml.FormatError(err, false, true))
	}
	c, err := s.compile()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

func (s Settings) compile() (*compiled, error) {
	c := &compiled{Settings: s, crlValidity: 24 * time.Hour, ocspValidity: time.Hour}
	var err error
	if s.CRLValidity != "" {
		if c.crlValidity, err = ParseTTL(s.CRLValidity); err != nil || c.crlValidity < time.Minute {
			return nil, fmt.Errorf("crl_validity: %q: want a duration of at least 1m", s.CRLValidity)
		}
	}
	if s.OCSPValidity != "" {
		if c.ocspValidity, err = ParseTTL(s.OCSPValidity); err != nil || c.ocspValidity < time.Minute {
			return nil, fmt.Errorf("ocsp_validity: %q: want a duration of at least 1m", s.OCSPValidity)
		}
	}
	if s.PublishURL != "" {
		base, err := checkPublishURL(s.PublishURL)
		if err != nil {
			return nil, fmt.Errorf("publish_url: %w", err)
		}
		c.crlURL, c.ocspURL = base+"/ca/crl", base+"/ca/ocsp"
		c.issuerURL, c.rootURL = base+"/ca/intermediate.crt", base+"/ca/root.crt"
		c.rootCRLURL = base + "/ca/root.crl"
	}
	c.profiles = BuiltinProfiles()
	for name, spec := range s.Profiles {
		if !validProfileName(name) {
			return nil, fmt.Errorf("profiles: name %q: use letters, digits, '-' and '_'", name)
		}
		p, err := spec.compile(name)
		if err != nil {
			return nil, err
		}
		c.profiles[name] = p
	}
	return c, nil
}

// checkPublishURL accepts an absolute http(s) URL without query or fragment
// and returns it without a trailing slash. CRLs and OCSP are published over
// plain HTTP as a rule (RFC 5280 §4.2.1.13, RFC 6960 appendix A), since
// fetching them over TLS could need revocation checks of its own.
func checkPublishURL(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("%q: want an absolute http:// URL such as http://pki.example.com:8080", s)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", fmt.Errorf("%q: no query, fragment or user info", s)
	}
	return strings.TrimRight(s, "/"), nil
}

func validProfileName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// marshalSettings writes ca.yaml with a header explaining the keys.
func marshalSettings(s Settings) ([]byte, error) {
	body, err := yaml.Marshal(s)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.WriteString(`# mtlsgate CA settings. Read by every "mtlsgate ca" command and by serve.
# publish_url: base URL where serve publishes /ca/crl and /ca/ocsp; issued
#   certificates carry it (CRL distribution point, AIA OCSP).
# crl_validity (default 24h), ocsp_validity (default 1h), keep_keys (false).
# profiles: add or override profiles, e.g.
#   profiles:
#     device: {ext_key_usage: [client_auth], default_ttl: 30d, max_ttl: 90d, sans: [dns, uri]}
`)
	b.Write(body)
	return b.Bytes(), nil
}
