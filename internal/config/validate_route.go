package config

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/mtlsgate/mtlsgate/internal/route"
)

var validMethods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"}

// RoutePath is where problems of route i are reported: "routes[i]" for a
// route written in the file, its Origin for an imported one.
func RoutePath(i int, r *Route) string {
	if r.Origin != "" {
		return r.Origin
	}
	return fmt.Sprintf("routes[%d]", i)
}

func validateRoute(p *Problems, routes []Route, i int, names, upstreams map[string]int, anyClientCerts bool) {
	r := &routes[i]
	path := RoutePath(i, r)
	if j, dup := names[r.Name]; dup && r.Origin != "" {
		// An operationId another document (or a route in the file) uses.
		p.add(path+".name", "duplicate route name %q (also %s): set name_prefix on this routes_from entry (e.g. %q) to keep its routes apart",
			r.Name, RoutePath(j, &routes[j]), "api2.")
	} else {
		checkName(p, path+".name", r.Name, "route", names, i)
	}
	if rr := r.Revocation; rr != nil && rr.OnUnavailable != FailClosed {
		p.add(path+".revocation.on_unavailable", "%q: a route can only tighten the listener's rule: want fail_closed (fail_open is decided per listener, at the handshake)", rr.OnUnavailable)
	}
	if r.Upstream == "" {
		p.add(path+".upstream", "required")
	} else if _, ok := upstreams[r.Upstream]; !ok {
		p.add(path+".upstream", "unknown upstream %q (define it under upstreams)", r.Upstream)
	}
	if h := r.Match.Host; h != "" {
		if err := checkHostPattern(h); err != nil {
			p.add(path+".match.host", "%q: %v", h, err)
		}
	}
	switch {
	case r.Match.Path != "" && r.Match.PathPrefix != "":
		p.add(path+".match", "path and path_prefix are both set: use path for one path (or template), path_prefix for a subtree")
	case r.Match.Path != "":
		if err := route.ParseTemplate(r.Match.Path); err != nil {
			p.add(path+".match.path", "%v", err)
		}
	case !strings.HasPrefix(r.Match.PathPrefix, "/"):
		p.add(path+".match.path_prefix", "%q: must start with /", r.Match.PathPrefix)
	}
	seen := map[string]bool{}
	for j, m := range r.Match.Methods {
		mp := fmt.Sprintf("%s.match.methods[%d]", path, j)
		if !slices.Contains(validMethods, m) {
			p.add(mp, "%q: want one of %s (upper case)", m, strings.Join(validMethods, ", "))
		}
		if seen[m] {
			p.add(mp, "%q listed twice", m)
		}
		seen[m] = true
	}
	switch r.ClientCert {
	case ClientCertRequired, ClientCertOptional:
		if !anyClientCerts {
			p.add(path+".client_cert", "%s, but every listener has client_auth: none, so no client certificate can ever be seen", r.ClientCert)
		}
	case ClientCertNone:
		if len(r.Allow) > 0 {
			p.add(path+".allow", "set, but client_cert is none: the allow list would never be checked")
		}
	default:
		p.add(path+".client_cert", "%q: want required, optional or none", r.ClientCert)
	}
	if r.ClientCert == ClientCertOptional && len(r.Allow) > 0 {
		p.add(path+".allow", "set, but client_cert is optional: requests without a certificate would bypass it; use required")
	}
	checkForwardFormat(p, path+".forward.format", r.Forward.Format)
	validateRateLimit(p, path+".rate_limit", r.RateLimit)
	validateLifecycle(p, path, r, anyClientCerts)
}

func checkForwardFormat(p *Problems, path, f string) {
	switch f {
	case "rfc9440", "xfcc", "headers", "none":
	default:
		p.add(path, "%q: want rfc9440, xfcc, headers or none", f)
	}
}

// maxRatePeriod bounds rate_limit.per: buckets are kept in memory, and a
// period longer than a day is a quota, not a rate limit.
const maxRatePeriod = 24 * time.Hour

func validateRateLimit(p *Problems, path string, rl *RateLimit) {
	if rl == nil {
		return
	}
	if rl.Requests < 1 {
		p.add(path+".requests", "%d: want at least 1", rl.Requests)
	}
	if d := rl.Per.D(); d < time.Second || d > maxRatePeriod || d%time.Second != 0 {
		// The RateLimit-Policy header states the window in whole seconds.
		p.add(path+".per", "%q: want whole seconds from 1s to 24h (e.g. 1s, 1m, 1h); for faster rates raise requests", rl.Per.D().String())
	}
	if rl.Burst < 0 {
		p.add(path+".burst", "%d: want 0 (the same as requests) or more", rl.Burst)
	}
	switch rl.Key {
	case RateKeyIdentity, RateKeyFingerprint, RateKeyIP, RateKeySPIFFEID, RateKeySubjectO:
	default:
		p.add(path+".key", "%q: want identity, fingerprint, ip, spiffe_id or subject.o", rl.Key)
	}
}

func validateLifecycle(p *Problems, path string, r *Route, anyClientCerts bool) {
	switch r.State {
	case StateDraft:
		if len(r.Preview) == 0 {
			p.add(path+".preview", "required for a draft route: the identities that may call it (same keys as allow); everyone else gets 404")
		} else if !anyClientCerts {
			p.add(path+".preview", "set, but every listener has client_auth: none, so no client can ever be recognised")
		}
	case StatePublished, StateDeprecated, StateRetired:
		if len(r.Preview) > 0 {
			p.add(path+".preview", "set, but state is %s: preview only applies to draft routes", r.State)
		}
	default:
		p.add(path+".state", "%q: want draft, published, deprecated or retired", r.State)
	}
	d := r.Deprecation
	if r.State == StateDeprecated && (d == nil || d.Since == "") {
		p.add(path+".deprecation.since", "required for a deprecated route: when it was deprecated (RFC 3339), sent in the Deprecation header (RFC 9745)")
	}
	if d == nil {
		return
	}
	if r.State != StateDeprecated {
		p.add(path+".deprecation", "set, but state is %s: deprecation headers are only sent by deprecated routes", r.State)
	}
	for _, f := range []struct{ key, v string }{{"since", d.Since}, {"sunset", d.Sunset}} {
		if f.v == "" {
			continue
		}
		if _, err := time.Parse(time.RFC3339, f.v); err != nil {
			p.add(path+".deprecation."+f.key, "%q: want an RFC 3339 time such as 2027-01-31T00:00:00Z", f.v)
		}
	}
	for _, f := range []struct{ key, v string }{{"successor", d.Successor}, {"info", d.Info}} {
		if f.v == "" {
			continue
		}
		u, err := url.Parse(f.v)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || strings.ContainsAny(f.v, "<>\" \r\n") {
			p.add(path+".deprecation."+f.key, "%q: want an absolute http(s) URL", f.v)
		}
	}
}

func validateRoutesFrom(p *Problems, rfs []RoutesFrom, upstreams map[string]int) {
	for i := range rfs {
		rf := &rfs[i]
		path := fmt.Sprintf("routes_from[%d]", i)
		if rf.OpenAPI == "" {
			p.add(path+".openapi", "required: the OpenAPI or Swagger document to import")
		}
		if rf.Upstream == "" {
			p.add(path+".upstream", "required")
		} else if _, ok := upstreams[rf.Upstream]; !ok {
			p.add(path+".upstream", "unknown upstream %q (define it under upstreams)", rf.Upstream)
		}
		if h := rf.Host; h != "" {
			if err := checkHostPattern(h); err != nil {
				p.add(path+".host", "%q: %v", h, err)
			}
		}
		switch rf.Unsecured {
		case "", ClientCertRequired, ClientCertOptional, ClientCertNone:
		default:
			p.add(path+".unsecured", "%q: want required, optional or none (or leave it out: the route default, required)", rf.Unsecured)
		}
		if err := CheckNamePrefix(rf.NamePrefix); err != nil {
			p.add(path+".name_prefix", "%v", err)
		}
		checkForwardFormat(p, path+".forward.format", rf.Forward.Format)
		validateRateLimit(p, path+".rate_limit", rf.RateLimit)
	}
}

func checkHostPattern(h string) error {
	if strings.ContainsAny(h, ":/ ") {
		return fmt.Errorf("a host name without port or scheme")
	}
	rest := h
	if strings.HasPrefix(h, "*.") {
		rest = h[2:]
	}
	if rest == "" || strings.Contains(rest, "*") {
		return fmt.Errorf("only a leading \"*.\" wildcard is supported")
	}
	for _, label := range strings.Split(rest, ".") {
		if label == "" || len(label) > 63 {
			return fmt.Errorf("empty or over-long label")
		}
	}
	return nil
}

// checkShadowedRoutes reports routes that can never match because an earlier
// route has the same host and path (prefix, or template up to parameter
// names) and covers all their methods.
func checkShadowedRoutes(p *Problems, routes []Route) {
	for i := range routes {
		for j := 0; j < i; j++ {
			a, b := &routes[j], &routes[i]
			if !strings.EqualFold(a.Match.Host, b.Match.Host) || a.Match.PathPrefix != b.Match.PathPrefix ||
				route.TemplateKey(a.Match.Path) != route.TemplateKey(b.Match.Path) {
				continue
			}
			// A method-restricted route is tried before an open one at
			// the same path, whatever their order.
			restrictedFirst := len(b.Match.Methods) > 0 && len(a.Match.Methods) == 0
			if !restrictedFirst && methodsCover(a.Match.Methods, b.Match.Methods) {
				p.add(RoutePath(i, b)+".match", "can never match: %s (%s) has the same host and path and takes all its methods", RoutePath(j, a), a.Name)
				break
			}
		}
	}
}

// methodsCover reports whether a request matching methods b always matches a.
func methodsCover(a, b []string) bool {
	if len(a) == 0 {
		return true
	}
	if len(b) == 0 {
		return false
	}
	for _, m := range b {
		if !slices.Contains(a, m) {
			return false
		}
	}
	return true
}
