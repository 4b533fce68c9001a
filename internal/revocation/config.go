package revocation

import (
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"
)

// Mode says how OCSP is used.
type Mode int

// OCSP modes.
const (
	// OCSPOff never queries a responder.
	OCSPOff Mode = iota
	// OCSPPrefer uses a cached OCSP answer when there is one; otherwise it
	// starts a query in the background and answers from the CRLs (or the
	// on_unavailable rule) without waiting.
	OCSPPrefer
	// OCSPRequire needs a fresh OCSP answer for every leaf that names a
	// responder, and waits (at most OCSPTimeout) for one when none is
	// cached: the only network wait this package puts on a handshake.
	OCSPRequire
)

// String returns the configuration spelling of m.
func (m Mode) String() string {
	switch m {
	case OCSPOff:
		return "off"
	case OCSPPrefer:
		return "prefer"
	case OCSPRequire:
		return "require"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// ParseMode parses "off", "prefer" or "require" ("" is off).
func ParseMode(s string) (Mode, error) {
	switch s {
	case "", "off":
		return OCSPOff, nil
	case "prefer":
		return OCSPPrefer, nil
	case "require":
		return OCSPRequire, nil
	}
	return 0, fmt.Errorf("ocsp: %q is not one of off, prefer, require", s)
}

// FailMode says what happens to a certificate whose revocation status
// cannot be established.
type FailMode int

// Fail modes. The zero value is FailClosed: refusing is the safe default.
const (
	FailClosed FailMode = iota
	FailOpen
)

// String returns the configuration spelling of f.
func (f FailMode) String() string {
	switch f {
	case FailClosed:
		return "fail_closed"
	case FailOpen:
		return "fail_open"
	}
	return fmt.Sprintf("FailMode(%d)", int(f))
}

// ParseFailMode parses "fail_closed" or "fail_open" ("" is fail_closed).
func ParseFailMode(s string) (FailMode, error) {
	switch s {
	case "", "fail_closed":
		return FailClosed, nil
	case "fail_open":
		return FailOpen, nil
	}
	return 0, fmt.Errorf("%q is not one of fail_closed, fail_open", s)
}

// CRLSource is one configured CRL: a file or an http(s) URL.
type CRLSource struct {
	File string
	URL  string
	// Refresh is how often a URL is fetched again (default
	// DefaultRefresh). A CRL whose nextUpdate comes sooner is fetched at
	// nextUpdate. Files are polled for changes every FilePoll.
	Refresh time.Duration
}

// Config configures a Checker. Zero values give the documented defaults.
type Config struct {
	// Name is the listener name, for logs and the "listener" metric label.
	Name string
	CRLs []CRLSource
	// UseCDP fetches, in the background, the CRLs named by the CRL
	// distribution points of the leaf certificates that are checked.
	UseCDP bool
	// CDPAllowHosts lists the hosts CDP URLs may point at: exact host names
	// (case-insensitive) or CIDRs, which match IP-literal URL hosts only.
	// Empty refuses every CDP URL (with a logged reason): a client
	// certificate must not be able to make the gateway fetch an arbitrary,
	// possibly internal, URL.
	CDPAllowHosts []string
	// CDPRefresh is how often a fetched CDP CRL is fetched again (default
	// DefaultRefresh, sooner at nextUpdate).
	CDPRefresh time.Duration
	// MaxCDPURLs bounds the distinct CDP URLs fetched (default 64).
	MaxCDPURLs int
	// OCSP is the OCSP mode. OCSPAllowHosts, when not empty, restricts the
	// responder hosts queried in the same way as CDPAllowHosts (empty: any
	// responder named by a verified certificate).
	OCSP           Mode
	OCSPAllowHosts []string
	// OnUnavailable applies when neither a CRL nor an OCSP answer covers
	// the certificate; StaleCRL when the only covering CRL is past its
	// nextUpdate.
	OnUnavailable FailMode
	StaleCRL      FailMode
	// OCSPTimeout bounds one OCSP query (default 2s); FetchTimeout one CRL
	// download (default 30s).
	OCSPTimeout  time.Duration
	FetchTimeout time.Duration
	// OCSPMaxTTL is how long an OCSP answer without nextUpdate is used
	// (default 1h). OCSPCacheSize bounds the cache (default 100000).
	OCSPMaxTTL    time.Duration
	OCSPCacheSize int
	// MaxCRLBytes refuses larger CRLs (default 256 MiB).
	MaxCRLBytes int64
	// FilePoll is how often CRL files are checked for changes once Start
	// has been called (default 10s). Reload re-reads them at once.
	FilePoll time.Duration
	// Issuers are CA certificates the CRLs may be signed by (typically the
	// listener's trust bundle and known intermediates). A loaded CRL whose
	// issuer is among them is signature-checked at load and refused if
	// the check fails; other CRLs are checked lazily against the issuer of
	// the first verified chain that needs them. Optional.
	Issuers []*x509.Certificate
	// HTTPClient fetches CRLs and queries responders (nil: a client with
	// timeouts). Redirects are re-checked against the allow lists.
	HTTPClient *http.Client
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Logger receives rejected CRLs, refused URLs and failed queries
	// (default slog.Default()).
	Logger *slog.Logger
}

// Defaults.
const (
	DefaultRefresh       = time.Hour
	DefaultOCSPTimeout   = 2 * time.Second
	DefaultFetchTimeout  = 30 * time.Second
	DefaultOCSPMaxTTL    = time.Hour
	DefaultOCSPCacheSize = 100000
	DefaultMaxCRLBytes   = 256 << 20
	DefaultFilePoll      = 10 * time.Second
	DefaultMaxCDPURLs    = 64
)

// withDefaults validates cfg and fills in defaults.
func (cfg Config) withDefaults() (Config, error) {
	var errs []error
	if cfg.OCSP < OCSPOff || cfg.OCSP > OCSPRequire {
		errs = append(errs, fmt.Errorf("invalid OCSP mode %d", cfg.OCSP))
	}
	if cfg.OnUnavailable != FailClosed && cfg.OnUnavailable != FailOpen {
		errs = append(errs, fmt.Errorf("invalid on_unavailable %d", cfg.OnUnavailable))
	}
	if cfg.StaleCRL != FailClosed && cfg.StaleCRL != FailOpen {
		errs = append(errs, fmt.Errorf("invalid stale_crl %d", cfg.StaleCRL))
	}
	for i, s := range cfg.CRLs {
		switch {
		case (s.File == "") == (s.URL == ""):
			errs = append(errs, fmt.Errorf("crl[%d]: exactly one of file and url must be set", i))
		case s.URL != "":
			if _, err := checkHTTPURL(s.URL); err != nil {
				errs = append(errs, fmt.Errorf("crl[%d]: %w", i, err))
			}
		}
		if s.Refresh < 0 {
			errs = append(errs, fmt.Errorf("crl[%d]: negative refresh", i))
		}
	}
	if _, err := parseAllowList(cfg.CDPAllowHosts); err != nil {
		errs = append(errs, fmt.Errorf("cdp_allow_hosts: %w", err))
	}
	if _, err := parseAllowList(cfg.OCSPAllowHosts); err != nil {
		errs = append(errs, fmt.Errorf("ocsp_allow_hosts: %w", err))
	}
	if cfg.MaxCRLBytes < 0 || cfg.OCSPTimeout < 0 || cfg.FetchTimeout < 0 || cfg.OCSPMaxTTL < 0 ||
		cfg.OCSPCacheSize < 0 || cfg.FilePoll < 0 || cfg.CDPRefresh < 0 || cfg.MaxCDPURLs < 0 {
		errs = append(errs, errors.New("limits and durations must not be negative"))
	}
	if err := errors.Join(errs...); err != nil {
		return cfg, err
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&cfg.OCSPTimeout, DefaultOCSPTimeout)
	def(&cfg.FetchTimeout, DefaultFetchTimeout)
	def(&cfg.OCSPMaxTTL, DefaultOCSPMaxTTL)
	def(&cfg.FilePoll, DefaultFilePoll)
	def(&cfg.CDPRefresh, DefaultRefresh)
	if cfg.OCSPCacheSize == 0 {
		cfg.OCSPCacheSize = DefaultOCSPCacheSize
	}
	if cfg.MaxCRLBytes == 0 {
		cfg.MaxCRLBytes = DefaultMaxCRLBytes
	}
	if cfg.MaxCDPURLs == 0 {
		cfg.MaxCDPURLs = DefaultMaxCDPURLs
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Name != "" {
		cfg.Logger = cfg.Logger.With("listener", cfg.Name)
	}
	if cfg.HTTPClient == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.ResponseHeaderTimeout = cfg.FetchTimeout
		t.MaxIdleConnsPerHost = 4
		cfg.HTTPClient = &http.Client{Transport: t}
	}
	return cfg, nil
}

// checkHTTPURL parses raw and accepts only absolute http(s) URLs with a
// host and without user information.
func checkHTTPURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("bad URL %q: %v", raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("URL %q: only http and https are fetched", raw)
	}
	if u.Host == "" || u.Hostname() == "" {
		return nil, fmt.Errorf("URL %q has no host", raw)
	}
	if u.User != nil {
		return nil, fmt.Errorf("URL %q carries user information", raw)
	}
	return u, nil
}

// allowList matches URL hosts: exact names, or IP literals within CIDRs.
type allowList struct {
	names    map[string]bool
	prefixes []netip.Prefix
}

func parseAllowList(entries []string) (*allowList, error) {
	a := &allowList{names: map[string]bool{}}
	for _, e := range entries {
		e = strings.TrimSpace(e)
		if e == "" {
			return nil, errors.New("empty entry")
		}
		if strings.Contains(e, "/") {
			p, err := netip.ParsePrefix(e)
			if err != nil {
				return nil, fmt.Errorf("%q: %v", e, err)
			}
			a.prefixes = append(a.prefixes, p.Masked())
			continue
		}
		if ip, err := netip.ParseAddr(strings.Trim(e, "[]")); err == nil {
			a.prefixes = append(a.prefixes, netip.PrefixFrom(ip, ip.BitLen()))
			continue
		}
		if strings.ContainsAny(e, ":*@ ") {
			return nil, fmt.Errorf("%q is neither a host name nor a CIDR (no ports, no wildcards)", e)
		}
		a.names[strings.ToLower(strings.TrimSuffix(e, "."))] = true
	}
	return a, nil
}

// empty reports whether nothing is allowed.
func (a *allowList) empty() bool { return len(a.names) == 0 && len(a.prefixes) == 0 }

// allows reports whether host (as in url.URL.Hostname) is on the list.
func (a *allowList) allows(host string) bool {
	if ip, err := netip.ParseAddr(host); err == nil {
		ip = ip.Unmap()
		for _, p := range a.prefixes {
			if p.Contains(ip) {
				return true
			}
		}
		return false
	}
	if net.ParseIP(host) != nil {
		return false
	}
	return a.names[strings.ToLower(strings.TrimSuffix(host, "."))]
}

// checkAllowed returns why u may not be fetched under a, or nil.
// emptyAllowsAll selects the meaning of an empty list.
func (a *allowList) check(raw string, emptyAllowsAll bool, what string) (*url.URL, error) {
	u, err := checkHTTPURL(raw)
	if err != nil {
		return nil, err
	}
	if a.empty() {
		if emptyAllowsAll {
			return u, nil
		}
		return nil, fmt.Errorf("%s host %q is not allowed: the allow list is empty, so no %s URL is fetched (add the host or its CIDR to the allow list)", what, u.Hostname(), what)
	}
	if !a.allows(u.Hostname()) {
		return nil, fmt.Errorf("%s host %q is not on the allow list", what, u.Hostname())
	}
	return u, nil
}
