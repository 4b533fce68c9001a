package diagnose

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/mtlsgate/mtlsgate/internal/config"
	"github.com/mtlsgate/mtlsgate/internal/identity"
	"github.com/mtlsgate/mtlsgate/internal/policy"
	"github.com/mtlsgate/mtlsgate/internal/route"
)

// ErrUsage is wrapped by DiagnoseCert's errors about its options (an
// unknown route, a malformed URL): a usage error, not a refusal.
var ErrUsage = errors.New("diagnose: usage")

func usageErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrUsage, fmt.Sprintf(format, args...))
}

// selection is which routes and listeners a diagnosis looks at.
type selection struct {
	routes []*RouteTarget
	// selected is the route of --route or --url (nil: every route).
	selected *RouteTarget
	// match is the route_match step of --url.
	match *Step
	// listeners are the listeners a request could arrive on.
	listeners []*ListenerTarget
}

// selectRoutes applies --route or --url.
func (t *Target) selectRoutes(o CertOptions) (selection, error) {
	var s selection
	if t == nil || t.bare {
		if o.Route != "" || o.URL != "" {
			return s, usageErr("--route and --url need the gateway config (-c mtlsgate.yaml)")
		}
		if t != nil {
			s.listeners = []*ListenerTarget{&t.Listeners[0]}
		}
		return s, nil
	}
	for i := range t.Listeners {
		s.listeners = append(s.listeners, &t.Listeners[i])
	}
	switch {
	case o.Route != "" && o.URL != "":
		return s, usageErr("give --route or --url, not both")
	case o.Route != "":
		rt := t.route(o.Route)
		if rt == nil {
			var names []string
			for _, r := range t.Routes {
				names = append(names, r.Name)
			}
			return s, usageErr("no route named %q in %s (routes: %s)", o.Route, t.Config, strings.Join(names, ", "))
		}
		s.selected, s.routes = rt, []*RouteTarget{rt}
	case o.URL != "":
		return t.selectURL(o, s)
	default:
		for i := range t.Routes {
			s.routes = append(s.routes, &t.Routes[i])
		}
	}
	return s, nil
}

// selectURL finds the route the gateway would pick for the URL's host and
// path (route.Table, after the same path cleaning), and the listeners whose
// port the URL names, if any.
func (t *Target) selectURL(o CertOptions, s selection) (selection, error) {
	u, err := url.Parse(o.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return s, usageErr("--url %q: want an absolute URL such as https://api.example.com/api/orders", o.URL)
	}
	method := o.Method
	if method == "" {
		method = "GET"
	}
	path := route.CleanPath(u.Path)
	if port := u.Port(); port != "" {
		var on []*ListenerTarget
		for _, l := range s.listeners {
			if _, lp, err := net.SplitHostPort(l.Address); err == nil && lp == port {
				on = append(on, l)
			}
		}
		if len(on) > 0 {
			s.listeners = on
		}
	}
	req := fmt.Sprintf("%s %s%s", method, u.Host, path)
	if len(s.listeners) < len(t.Listeners) {
		names := make([]string, len(s.listeners))
		for i, l := range s.listeners {
			names[i] = l.Name
		}
		req += fmt.Sprintf(" (port %s: listener %s)", u.Port(), strings.Join(names, ", "))
	}
	res := t.table.Match(u.Host, path, method)
	var st Step
	switch {
	case res.Found:
		s.selected = &t.Routes[res.Value]
		s.routes = []*RouteTarget{s.selected}
		st = okStep("route_match", fmt.Sprintf("%s goes to route %s (%s)", req, s.selected.Name, describeMatch(s.selected)))
	case len(res.Allow) > 0:
		st = failStep("route_match", "method_not_allowed", fmt.Sprintf("no route takes %s: the gateway answers 405 (this path allows %s)", req, strings.Join(res.Allow, ", ")))
	default:
		st = failStep("route_match", "no_route", fmt.Sprintf("no route matches %s: the gateway answers 404", req))
	}
	s.match = &st
	return s, nil
}

func describeMatch(r *RouteTarget) string {
	host := "any host"
	if r.Host != "" {
		host = "host " + r.Host
	}
	d := fmt.Sprintf("%s, path_prefix %s", host, r.PathPrefix)
	if r.Path != "" {
		d = fmt.Sprintf("%s, path %s", host, r.Path)
	}
	if len(r.Methods) > 0 {
		d += ", methods " + strings.Join(r.Methods, ", ")
	}
	return d
}

// routeStep decides one route: passed when a listener that may carry the
// request completes the handshake (handshake) or asks for no certificate
// (noCert), and the route's requirement is met.
func routeStep(rt *RouteTarget, id *identity.Identity, handshake, noCert bool) (Step, RouteStand) {
	stand := RouteStand{Name: rt.Name, Allow: -1}
	st := Step{Name: "route", Route: rt.Name}
	switch rt.ClientCert {
	case config.ClientCertNone, config.ClientCertOptional:
		what := "needs no client certificate (client_cert: none)"
		if rt.ClientCert == config.ClientCertOptional {
			what = "takes a client certificate but requires none and checks no allow list (client_cert: optional)"
		}
		if handshake || noCert {
			st, stand.Accepted = okStep("route", what), true
		} else {
			st = failStep("route", "handshake_refused", what+", but every listener it could arrive on refuses this certificate in the handshake (see above); connect without one")
		}
	default:
		pol := evalPolicy(rt, id)
		stand.Allow = pol.rule
		switch {
		case !handshake:
			d := "requires a client certificate that the listener accepts, and no listener it could arrive on does (see above)"
			if rt.Policy != nil {
				d += "; " + pol.aside()
			}
			st = failStep("route", "handshake_refused", d)
		case pol.allowed:
			st, stand.Accepted = okStep("route", "allowed: "+pol.detail), true
		default:
			st = failStep("route", "not_allowed", "not allowed: "+pol.detail)
		}
	}
	st.Route = rt.Name
	stand.Detail = st.Detail
	return st, stand
}

// policyOutcome is a route's allow list applied to an identity.
type policyOutcome struct {
	allowed bool
	rule    int // matching entry, -1 when none
	detail  string
}

// aside is the outcome as a clause, for when the handshake already fails.
func (p policyOutcome) aside() string {
	if p.allowed {
		return "its allow list would admit it (" + p.detail + ")"
	}
	return "its allow list refuses it too (" + p.detail + ")"
}

// evalPolicy applies a required route's allow list. A route without one
// admits every verified certificate. When no entry matches, it names the
// closest entry (fewest keys that fail) and every key of it that fails, in
// policy.Explain's words, located as routes[i].allow[j].
func evalPolicy(rt *RouteTarget, id *identity.Identity) policyOutcome {
	if rt.Policy == nil {
		return policyOutcome{allowed: true, rule: -1, detail: "the route admits any certificate the listener verifies (client_cert: required, no allow list)"}
	}
	loc := func(j int) string { return fmt.Sprintf("routes[%d].allow[%d]", rt.Index, j) }
	for _, r := range rt.Policy.Explain(id) {
		if r.Matched {
			reason := strings.Replace(r.Reason, fmt.Sprintf("allow[%d]", r.Rule), loc(r.Rule), 1)
			return policyOutcome{allowed: true, rule: r.Rule, detail: reason}
		}
	}
	best, bestFail, bestMatch := -1, 0, 0
	var fails, matches []string
	for j, rule := range rt.Rules {
		f, m := explainKeys(rule, id, loc(j))
		if best < 0 || len(m) > bestMatch || (len(m) == bestMatch && len(f) < bestFail) {
			best, bestFail, bestMatch, fails, matches = j, len(f), len(m), f, m
		}
	}
	n := len(rt.Rules)
	if bestMatch == 0 && n > 1 {
		// Nothing comes close: say why each entry fails (its first key).
		var why []string
		for i, r := range rt.Policy.Explain(id) {
			if i == 3 {
				why = append(why, fmt.Sprintf("and %d more", n-3))
				break
			}
			why = append(why, relocate(r.Reason, fmt.Sprintf(" in allow[%d]", i), " in "+loc(i)))
		}
		return policyOutcome{rule: -1, detail: fmt.Sprintf("matches none of the %d allow entries: %s", n, strings.Join(why, "; "))}
	}
	d := strings.Join(fails, "; ")
	if n > 1 {
		d += fmt.Sprintf(", the closest of the %d allow entries", n)
	}
	if len(matches) > 0 {
		verb := "matches"
		if len(matches) > 1 {
			verb = "match"
		}
		d += fmt.Sprintf(" (its %s %s)", strings.Join(matches, ", "), verb)
	}
	return policyOutcome{rule: -1, detail: d}
}

// relocate replaces the last occurrence of from (the location policy.Explain
// ends its sentence with; a certificate value or pattern quoted before it
// cannot be confused with it) by to.
func relocate(reason, from, to string) string {
	if i := strings.LastIndex(reason, from); i >= 0 {
		return reason[:i] + to + reason[i+len(from):]
	}
	return reason
}

// explainKeys checks each key of one allow entry on its own and returns
// the sentences of those that fail and the keys that match.
func explainKeys(rule policy.Rule, id *identity.Identity, loc string) (fails, matches []string) {
	for _, k := range splitRule(rule) {
		p, err := policy.Compile([]policy.Rule{k})
		if err != nil {
			continue // the whole entry compiled, so each key does
		}
		r := p.Explain(id)[0]
		if r.Matched {
			matches = append(matches, strings.TrimSuffix(strings.TrimPrefix(k.String(), "{"), "}"))
			continue
		}
		fails = append(fails, relocate(r.Reason, " in allow[0]", " in "+loc))
	}
	return fails, matches
}

// splitRule returns one single-key rule per key of r, in policy.Explain's
// key order.
func splitRule(r policy.Rule) []policy.Rule {
	var out []policy.Rule
	add := func(v string, set func(*policy.Rule)) {
		if v != "" {
			var k policy.Rule
			set(&k)
			out = append(out, k)
		}
	}
	add(r.CN, func(k *policy.Rule) { k.CN = r.CN })
	add(r.O, func(k *policy.Rule) { k.O = r.O })
	add(r.OU, func(k *policy.Rule) { k.OU = r.OU })
	add(r.DNS, func(k *policy.Rule) { k.DNS = r.DNS })
	add(r.URI, func(k *policy.Rule) { k.URI = r.URI })
	add(r.Email, func(k *policy.Rule) { k.Email = r.Email })
	add(r.IP, func(k *policy.Rule) { k.IP = r.IP })
	add(r.SPIFFEID, func(k *policy.Rule) { k.SPIFFEID = r.SPIFFEID })
	add(r.FingerprintSHA256, func(k *policy.Rule) { k.FingerprintSHA256 = r.FingerprintSHA256 })
	add(r.IssuerCN, func(k *policy.Rule) { k.IssuerCN = r.IssuerCN })
	add(r.Serial, func(k *policy.Rule) { k.Serial = r.Serial })
	return out
}
