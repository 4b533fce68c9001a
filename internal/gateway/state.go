package gateway

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"github.com/mtlsgate/mtlsgate/internal/ca"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/mtlsgate/mtlsgate/internal/certload"
	"github.com/mtlsgate/mtlsgate/internal/config"
	"github.com/mtlsgate/mtlsgate/internal/diagnose"
	"github.com/mtlsgate/mtlsgate/internal/identity"
	"github.com/mtlsgate/mtlsgate/internal/policy"
	"github.com/mtlsgate/mtlsgate/internal/proxy"
	"github.com/mtlsgate/mtlsgate/internal/route"
	"github.com/mtlsgate/mtlsgate/internal/telemetry"
)

// state is everything a request or handshake needs, built at once from one
// config and never mutated after it is published.
type state struct {
	cfg       *config.Config
	listeners map[string]*listenerState
	routes    *route.Table[*routeState]
	// byName are the routes by name (rate limiters are kept by name across
	// reloads).
	byName    map[string]*routeState
	upstreams map[string]*proxy.Upstream
	// files is every file the state was built from, for the watcher.
	files []string
	// warnings are logged once when the state is published.
	warnings []string
	// est serves enrollment on estListener (nil without an est section).
	est         http.Handler
	estListener string
}

// listenerState is one listener's TLS setup.
type listenerState struct {
	name       string
	address    string
	tlsConfig  *tls.Config
	clientAuth string
	diag       diagnose.Listener
	limits     config.Limits
	// by is the gateway's own URI SAN (XFCC "By"), "" when it has none.
	by string
	// verifier checks client chains (nil when client_auth is none).
	verifier *chainVerifier
	// plain: no TLS (the CA publication listener).
	plain bool
	// stapler staples OCSP responses for the certificate (ocsp_stapling).
	stapler *stapler
	// external checks client certificates against CRLs and OCSP (nil
	// without a revocation block).
	external *externalRevocation
}

// routeState is one compiled route.
type routeState struct {
	name       string
	clientCert string
	policy     *policy.Policy // nil: any verified certificate
	// requirement summarises client-certificate mode and policy; two routes
	// with equal requirement accept exactly the same clients (421 rule).
	requirement string
	forwardNone bool
	// strictRevocation refuses clients admitted by a fail_open rule.
	strictRevocation bool
	upstream         *proxy.Upstream
	handler          http.Handler
	metrics          *telemetry.RouteMetrics
	// limits is the route's rate limit (nil: none).
	limits *routeLimits
	// lifecycle is the route's state (draft, deprecated...).
	lifecycle *lifecycle
}

// buildDeps are what build needs besides the config.
type buildDeps struct {
	metrics *telemetry.Metrics
	// previous lets unchanged upstreams keep their warm pools.
	previous *state
	// handler hooks supplied by the gateway.
	identityOf func(*http.Request) (*identity.Identity, string)
	onError    func(http.ResponseWriter, *http.Request, proxy.Failure)
	// revocation is consulted by every listener's verifier (nil: none).
	revocation revocationChecker
	// stapler returns the (shared) OCSP stapler for a certificate.
	stapler func(*tls.Certificate) (*stapler, error)
	// background bounds the loops of what the state starts (revocation
	// checkers); log is the gateway's logger.
	background context.Context
	log        *slog.Logger
	// warmup loads a new revocation checker's URL sources before the
	// state is published (off for validate).
	warmup bool
	// authority is the built-in CA (nil without a ca section).
	authority *ca.Authority
}

// build loads every file the config names and compiles the state. It returns
// all problems found, each with its config path, not just the first.
func build(cfg *config.Config, deps buildDeps) (*state, error) {
	st := &state{cfg: cfg, listeners: map[string]*listenerState{}, upstreams: map[string]*proxy.Upstream{}, byName: map[string]*routeState{}}
	var probs config.Problems
	addErr := func(path string, err error) {
		probs = append(probs, &config.FieldError{Path: path, Err: err})
	}
	for i := range cfg.Listeners {
		if l := &cfg.Listeners[i]; l.TLS == nil {
			// Plain HTTP: only the CA publication listener (Validate).
			st.listeners[l.Name] = &listenerState{name: l.Name, address: l.Address, limits: l.Limits, plain: true}
			continue
		}
		path := fmt.Sprintf("listeners[%d].tls", i)
		ls, err := buildListener(&cfg.Listeners[i], st, deps)
		if err != nil {
			for _, p := range config.AsProblems(err) {
				addErr(joinPath(path, p.Path), p.Err)
			}
			continue
		}
		if dup := st.listeners[ls.name]; dup != nil && dup.external != nil && dup.external != ls.external {
			// A duplicate name (reported by Validate) must not leak the
			// first one's checker.
			if deps.previous == nil || deps.previous.listeners[ls.name] == nil || deps.previous.listeners[ls.name].external != dup.external {
				dup.external.close()
			}
		}
		st.listeners[ls.name] = ls
	}
	for i := range cfg.Upstreams {
		u, err := buildUpstream(&cfg.Upstreams[i], st, deps)
		if u == nil && err == nil {
			continue
		}
		if err != nil {
			for _, p := range config.AsProblems(err) {
				addErr(joinPath(fmt.Sprintf("upstreams[%d]", i), p.Path), p.Err)
			}
			continue
		}
		st.upstreams[u.Name] = u
	}
	specs := make([]route.Spec[*routeState], 0, len(cfg.Routes))
	for i := range cfg.Routes {
		rc := &cfg.Routes[i]
		rs, err := buildRoute(rc, st, deps)
		if err != nil {
			for _, p := range config.AsProblems(err) {
				addErr(joinPath(config.RoutePath(i, rc), p.Path), p.Err)
			}
			continue
		}
		if rs == nil {
			continue // unknown or broken upstream: reported already
		}
		st.byName[rc.Name] = rs
		specs = append(specs, route.Spec[*routeState]{Name: rc.Name, Host: rc.Match.Host, PathPrefix: rc.Match.PathPrefix, Path: rc.Match.Path, Methods: rc.Match.Methods, Value: rs})
	}
	if len(probs) > 0 {
		st.discard(deps.previous)
		return nil, probs
	}
	tab, err := route.Build(specs)
	if err != nil {
		st.discard(deps.previous)
		return nil, &config.FieldError{Path: "routes", Err: err}
	}
	st.routes = tab
	if cfg.EST != nil && deps.authority != nil {
		h, err := buildEST(cfg.EST, deps.authority, st, deps.log, deps.metrics.Registry)
		if err != nil {
			st.discard(deps.previous)
			return nil, err
		}
		st.est, st.estListener = h, cfg.EST.Listener
	}
	st.warnings = append(st.warnings, openRouteWarnings(cfg)...)
	if cfg.Path != "" {
		st.files = append(st.files, cfg.Path)
	}
	sort.Strings(st.files)
	st.files = dedupe(st.files)
	return st, nil
}

// discard releases what a state that will never be published holds: the
// upstreams it created (not those reused from previous).
func (st *state) discard(previous *state) {
	for name, u := range st.upstreams {
		if previous == nil || previous.upstreams[name] != u {
			u.Close()
		}
	}
	for name, ls := range st.listeners {
		if ls.external != nil && (previous == nil || previous.listeners[name] == nil || previous.listeners[name].external != ls.external) {
			ls.external.close()
		}
	}
}

// openRouteWarnings flags routes that accept any verified certificate
// while listeners trust different CAs: routes apply on every listener, so
// such a route admits certificates from every listener's client_ca.
func openRouteWarnings(cfg *config.Config) []string {
	cas := map[string]bool{}
	var names []string
	for _, l := range cfg.Listeners {
		if l.TLS != nil && l.TLS.ClientAuth != config.ClientAuthNone && l.TLS.ClientCA != "" && !cas[l.TLS.ClientCA] {
			cas[l.TLS.ClientCA] = true
			names = append(names, l.TLS.ClientCA)
		}
	}
	if len(names) < 2 {
		return nil
	}
	var out []string
	for _, r := range cfg.Routes {
		if r.ClientCert == config.ClientCertRequired && len(r.Allow) == 0 {
			out = append(out, fmt.Sprintf("route %s requires a client certificate but has no allow list, and listeners trust different CAs (%s): "+
				"routes apply on every listener, so a certificate from any of them passes; add an allow entry (e.g. issuer_cn) to restrict it",
				r.Name, strings.Join(names, ", ")))
		}
	}
	return out
}

func joinPath(prefix, sub string) string {
	switch {
	case sub == "":
		return prefix
	case strings.HasPrefix(sub, "["):
		return prefix + sub
	}
	return prefix + "." + sub
}

func dedupe(s []string) []string {
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

func tlsVersion(s string) uint16 {
	if s == "1.3" {
		return tls.VersionTLS13
	}
	return tls.VersionTLS12
}

func buildListener(l *config.Listener, st *state, deps buildDeps) (*listenerState, error) {
	t := l.TLS
	var probs config.Problems
	kp := certload.KeyPairSpec{Cert: t.Cert, Key: t.Key, PasswordFile: t.PasswordFile, PasswordEnv: t.PasswordEnv}
	st.files = append(st.files, kp.Files()...)
	cert, err := certload.LoadKeyPair(kp)
	if err != nil {
		probs = append(probs, &config.FieldError{Path: "cert", Err: err})
	}
	for _, w := range certload.KeyFileWarnings(kp) {
		st.warnings = append(st.warnings, fmt.Sprintf("listener %s: %s", l.Name, w))
	}
	var bundle *certload.Bundle
	if t.ClientAuth != config.ClientAuthNone {
		ts := certload.TrustSpec{File: t.ClientCA, PasswordFile: t.ClientCAPasswordFile, PasswordEnv: t.ClientCAPasswordEnv}
		st.files = append(st.files, ts.Files()...)
		bundle, err = certload.LoadTrustBundle(ts)
		if err != nil {
			probs = append(probs, &config.FieldError{Path: "client_ca", Err: err})
		}
	}
	var sp *stapler
	if t.OCSPStapling && cert != nil {
		if sp, err = deps.stapler(cert); err != nil {
			probs = append(probs, &config.FieldError{Path: "ocsp_stapling", Err: err})
		}
	}
	var external *externalRevocation
	if r := t.Revocation; r != nil {
		if r.OnUnavailable == config.FailOpen || r.StaleCRL == config.FailOpen {
			st.warnings = append(st.warnings, fmt.Sprintf("listener %s: revocation fail_open is on (on_unavailable: %s, stale_crl: %s): clients whose revocation status is unknown are let in; each such request is logged with revocation_fail_open and counted in mtlsgate_revocation_fail_open_total",
				l.Name, r.OnUnavailable, r.StaleCRL))
		}
		for _, s := range t.Revocation.CRL {
			if s.File != "" {
				st.files = append(st.files, s.File) // a change reloads, which re-reads CRLs
			}
		}
	}
	if t.Revocation != nil && bundle != nil && len(probs) == 0 {
		if external, err = buildRevocation(l, bundle.Certs, deps); err != nil {
			probs = append(probs, &config.FieldError{Path: "revocation", Err: err})
		}
	}
	if len(probs) > 0 {
		if external != nil && (deps.previous == nil || deps.previous.listeners[l.Name] == nil || deps.previous.listeners[l.Name].external != external) {
			external.close()
		}
		return nil, probs
	}
	ls := &listenerState{
		name: l.Name, address: l.Address, clientAuth: t.ClientAuth, limits: l.Limits,
		diag: diagnose.Listener{Name: l.Name, ClientCA: t.ClientCA},
	}
	if cert.Leaf != nil && len(cert.Leaf.URIs) > 0 {
		ls.by = cert.Leaf.URIs[0].String()
	}
	tc := &tls.Config{
		Certificates: []tls.Certificate{*cert},
		MinVersion:   tlsVersion(t.MinVersion),
		NextProtos:   []string{"h2", "http/1.1"},
	}
	if sp != nil {
		tc.Certificates, tc.GetCertificate = nil, sp.certificate
		ls.stapler = sp
	}
	// crypto/tls asks for the certificate (and checks the client's
	// signature proving it holds the key); the chain is verified by the
	// listener's chainVerifier in VerifyConnection, which caches chains it
	// verified and also runs on resumed sessions.
	switch t.ClientAuth {
	case config.ClientAuthRequire:
		tc.ClientAuth = tls.RequireAnyClientCert
	case config.ClientAuthRequest:
		tc.ClientAuth = tls.RequestClientCert
	default:
		tc.ClientAuth = tls.NoClientCert
	}
	if bundle != nil {
		tc.ClientCAs = bundle.Pool // also sent to clients as acceptable CAs
		ls.verifier = newChainVerifier(bundle.Pool, time.Now)
		ls.external = external
		if external != nil {
			ls.verifier.revocation = combineCheckers(deps.revocation, external)
		} else {
			ls.verifier.revocation = deps.revocation
		}
		tc.VerifyConnection = ls.verifier.verifyConnection(t.ClientAuth == config.ClientAuthRequire)
	}
	ls.tlsConfig = tc
	return ls, nil
}

func buildUpstream(u *config.Upstream, st *state, deps buildDeps) (*proxy.Upstream, error) {
	target, err := url.Parse(u.URL)
	if err != nil || (target.Scheme != "http" && target.Scheme != "https") || target.Host == "" {
		return nil, nil // reported by Validate
	}
	opts := proxy.UpstreamOptions{
		Name: u.Name, URL: target,
		DialTimeout: u.Limits.DialTimeout.D(), ResponseHeaderTimeout: u.Limits.ResponseHeaderTimeout.D(),
		IdleConnTimeout: u.Limits.IdleConnTimeout.D(), MaxIdleConnsPerHost: u.Limits.MaxIdleConnsPerHost,
		MaxConnsPerHost: u.Limits.MaxConnsPerHost,
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%+v\x00", u.Name, u.URL, u.Limits)
	var probs config.Problems
	if t := u.TLS; t != nil {
		opts.ServerName = t.ServerName
		opts.InsecureSkipVerify = t.InsecureSkipVerify
		fmt.Fprintf(h, "%s\x00%v\x00", t.ServerName, t.InsecureSkipVerify)
		if t.Cert != "" {
			kp := certload.KeyPairSpec{Cert: t.Cert, Key: t.Key, PasswordFile: t.PasswordFile, PasswordEnv: t.PasswordEnv}
			st.files = append(st.files, kp.Files()...)
			cert, err := certload.LoadKeyPair(kp)
			if err != nil {
				probs = append(probs, &config.FieldError{Path: "tls.cert", Err: err})
			} else {
				opts.ClientCert = cert
				for _, der := range cert.Certificate {
					h.Write(der)
				}
				// The key matters too: a rotated key with a re-issued
				// certificate always changes the DER above.
			}
			for _, w := range certload.KeyFileWarnings(kp) {
				st.warnings = append(st.warnings, fmt.Sprintf("upstream %s: %s", u.Name, w))
			}
		}
		if t.CA != "" {
			ts := certload.TrustSpec{File: t.CA, PasswordFile: t.CAPasswordFile, PasswordEnv: t.CAPasswordEnv}
			st.files = append(st.files, ts.Files()...)
			b, err := certload.LoadTrustBundle(ts)
			if err != nil {
				probs = append(probs, &config.FieldError{Path: "tls.ca", Err: err})
			} else {
				opts.RootCAs = b.Pool
				for _, c := range b.Certs {
					h.Write(c.Raw)
				}
			}
		}
		if t.InsecureSkipVerify {
			st.warnings = append(st.warnings, fmt.Sprintf("upstream %s: insecure_skip_verify is true: the upstream's certificate is NOT verified; anyone who can intercept traffic to %s can impersonate it", u.Name, target.Host))
		}
	}
	if len(probs) > 0 {
		return nil, probs
	}
	copy(opts.Fingerprint[:], h.Sum(nil))
	if prev := deps.previous; prev != nil {
		if old := prev.upstreams[u.Name]; old != nil && old.Fingerprint() == opts.Fingerprint {
			return old, nil
		}
	}
	return proxy.NewUpstream(opts)
}

func buildRoute(rc *config.Route, st *state, deps buildDeps) (*routeState, error) {
	up := st.upstreams[rc.Upstream]
	format, err := identity.ParseFormat(rc.Forward.Format)
	if err != nil {
		format = identity.FormatNone // reported by Validate
	}
	rs := &routeState{name: rc.Name, clientCert: rc.ClientCert, upstream: up,
		strictRevocation: rc.Revocation != nil && rc.Revocation.OnUnavailable == config.FailClosed}
	if len(rc.Allow) > 0 {
		p, err := policy.Compile(allowRules(rc.Allow))
		if err != nil {
			return nil, policyProblems(err)
		}
		rs.policy = p
	}
	lc, err := buildLifecycle(rc, deps)
	if err != nil {
		return nil, err
	}
	rs.lifecycle = lc
	if up == nil {
		return nil, nil
	}
	if rs.limits, err = buildLimits(rc, deps); err != nil {
		return nil, err
	}
	rs.metrics = deps.metrics.Route(rc.Name)
	rs.requirement = rc.ClientCert
	if rs.strictRevocation {
		rs.requirement += "|strict-revocation"
	}
	if rs.policy != nil {
		rs.requirement += "|" + rs.policy.String()
	}
	if lc.preview != nil {
		rs.requirement += "|preview:" + lc.preview.String()
	}
	if rc.ClientCert == config.ClientCertNone {
		format = identity.FormatNone
	}
	rs.forwardNone = format == identity.FormatNone
	rs.handler = proxy.NewHandler(proxy.RouteOptions{
		Route: rc.Name, Upstream: up, Format: format,
		IdentityOf: deps.identityOf, OnError: deps.onError,
	})
	return rs, nil
}

// policyProblems turns policy compile errors ("allow[2].cn: …") into
// problems with config paths.
func policyProblems(err error) error {
	var out config.Problems
	for _, p := range config.AsProblems(err) {
		var re *policy.RuleError
		if errors.As(p.Err, &re) {
			path := fmt.Sprintf("allow[%d]", re.Index)
			if re.Key != "" {
				path += "." + re.Key
			}
			out = append(out, &config.FieldError{Path: path, Err: errors.New(re.Msg)})
			continue
		}
		out = append(out, &config.FieldError{Path: "allow", Err: p.Err})
	}
	return out
}
