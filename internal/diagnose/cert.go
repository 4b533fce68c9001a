package diagnose

import (
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mtlsgate/mtlsgate/internal/config"
	"github.com/mtlsgate/mtlsgate/internal/identity"
)

// CertOptions select what DiagnoseCert decides.
type CertOptions struct {
	// Now is the time the certificate is judged at.
	Now time.Time
	// Route names the route to decide on; URL picks it as the gateway
	// would for a request (Method, default GET). At most one of them.
	Route  string
	URL    string
	Method string
}

// DiagnoseCert says, step by step, whether the gateway would accept the
// client certificate chain (leaf first, then what the client sends with
// it) read from file, and why not:
//
//  1. validity: its validity window against o.Now;
//  2. key usage: its extended key usage allows clientAuth;
//  3. chain, per listener: it chains to the listener's client_ca, as the
//     handshake verifies it (or which issuer is missing);
//  4. revocation: every source in t.Revocation;
//  5. route: each route (or the one of o.Route / o.URL) admits it, naming
//     the matching allow entry or the closest miss.
//
// With a nil target only steps 1 and 2 are made. Errors wrap ErrUsage (bad
// options); a refusal is a report with Accepted false. DiagnoseCert reads
// only its arguments and is safe for concurrent use.
func DiagnoseCert(file string, chain []*x509.Certificate, t *Target, o CertOptions) (*CertReport, error) {
	if len(chain) == 0 {
		return nil, usageErr("no certificate to diagnose")
	}
	sel, err := t.selectRoutes(o)
	if err != nil {
		return nil, err
	}
	leaf, extra, now := chain[0], chain[1:], o.Now
	r := &CertReport{Kind: "cert", File: file, Certificate: Info(leaf)}
	for _, c := range extra {
		r.Chain = append(r.Chain, Info(c))
	}
	if sel.match != nil {
		r.Steps = append(r.Steps, *sel.match)
	}
	r.Steps = append(r.Steps, validityStep(leaf, now), usageStep(leaf))
	if t == nil {
		r.Steps = append(r.Steps, skipStep("chain", "not checked: give the gateway config (-c mtlsgate.yaml) or a trust bundle (--ca bundle.pem)"))
		r.Accepted = !failed(r.Steps)
		r.Verdict = verdict(r, "ACCEPTED as far as checked: the certificate is valid now and for client authentication; its chain and the routes were not checked")
		return r, nil
	}
	r.Config = t.Config
	// Chain, per listener.
	results := map[*ListenerTarget]chainResult{}
	var verified []*x509.Certificate
	for i := range t.Listeners {
		l := &t.Listeners[i]
		if l.ClientAuth == config.ClientAuthNone {
			r.Steps = append(r.Steps, Step{Name: "chain", OK: true, Status: StatusSkip, Listener: l.Name,
				Detail: fmt.Sprintf("listener %s does not ask for client certificates (client_auth: none)", l.Name)})
			continue
		}
		res := t.checkChain(l, leaf, extra, now)
		results[l] = res
		r.Steps = append(r.Steps, res.step)
		if verified == nil && res.chain != nil {
			verified = res.chain
		}
	}
	if len(t.Listeners) == 0 {
		r.Steps = append(r.Steps, failStep("chain", "no_listener", "no TLS listener in the config"))
	}
	if verified == nil {
		verified = chain
	}
	revSteps := revocationSteps(t.Revocation, verified)
	r.Steps = append(r.Steps, revSteps...)
	revOK := !failed(revSteps)
	// Which listeners complete the handshake with this certificate.
	handshake, noCert := false, false
	for i := range t.Listeners {
		l := &t.Listeners[i]
		ok := l.ClientAuth != config.ClientAuthNone && results[l].strict && revOK
		if !t.bare {
			r.Listeners = append(r.Listeners, ListenerStand{Name: l.Name, Accepted: ok})
		}
		if ok && r.Listener == "" {
			r.Listener = l.Name
		}
	}
	for _, l := range sel.listeners {
		handshake = handshake || (l.ClientAuth != config.ClientAuthNone && results[l].strict && revOK)
		noCert = noCert || l.ClientAuth == config.ClientAuthNone
	}
	if t.bare {
		r.Accepted = !failed(r.Steps)
		r.Verdict = verdict(r, fmt.Sprintf("ACCEPTED: the certificate is valid and chains to %s for client authentication", t.where(&t.Listeners[0])))
		return r, nil
	}
	id := identity.FromChain(verified)
	for _, rt := range sel.routes {
		st, stand := routeStep(rt, id, handshake, noCert)
		r.Steps = append(r.Steps, st)
		r.Routes = append(r.Routes, stand)
	}
	certVerdict(r, sel, handshake)
	return r, nil
}

// certVerdict sets Accepted and Verdict of a diagnosis against a config.
func certVerdict(r *CertReport, sel selection, handshake bool) {
	if sel.selected == nil && sel.match == nil {
		r.Accepted = r.Listener != ""
		var allowed, refused []string
		for _, s := range r.Routes {
			if s.Accepted {
				allowed = append(allowed, s.Name)
			} else {
				refused = append(refused, s.Name)
			}
		}
		if !r.Accepted && !failed(r.Steps) {
			r.Verdict = "REFUSED: no listener asks for client certificates (client_auth: none on every listener)"
			return
		}
		msg := "ACCEPTED by listener " + r.Listener
		if len(allowed) > 0 {
			msg += "; allowed on route " + strings.Join(allowed, ", ")
		}
		if len(refused) > 0 {
			msg += "; refused on route " + strings.Join(refused, ", ")
		}
		r.Verdict = verdict(r, msg)
		return
	}
	if sel.selected == nil { // --url matched no route
		r.Verdict = "REFUSED: " + sel.match.Detail
		return
	}
	r.Route = sel.selected.Name
	r.Accepted = r.Routes[0].Accepted
	if r.Accepted {
		msg := "ACCEPTED on route " + r.Route
		if r.Listener != "" && handshake {
			msg += " via listener " + r.Listener
		}
		r.Verdict = msg
		return
	}
	if handshake {
		r.Verdict = fmt.Sprintf("REFUSED on route %s: %s", r.Route, r.Routes[0].Detail)
		return
	}
	r.Verdict = fmt.Sprintf("REFUSED on route %s: %s", r.Route, firstFailure(r.Steps))
}

// verdict returns ok when the report is accepted, else REFUSED with the
// first failure.
func verdict(r *CertReport, ok string) string {
	if r.Accepted {
		return ok
	}
	return "REFUSED: " + firstFailure(r.Steps)
}

func firstFailure(steps []Step) string {
	for _, s := range steps {
		if !s.OK {
			return s.Detail
		}
	}
	return "no step passed"
}

// validityStep checks the validity window as crypto/x509 does, in the
// gateway's words when it fails.
func validityStep(leaf *x509.Certificate, now time.Time) Step {
	if now.Before(leaf.NotBefore) || now.After(leaf.NotAfter) {
		f := Verification(x509.CertificateInvalidError{Cert: leaf, Reason: x509.Expired}, leaf, Listener{}, now)
		return failStep("validity", f.Code, f.Reason)
	}
	return okStep("validity", fmt.Sprintf("valid from %s until %s (expires in %s)",
		stamp(leaf.NotBefore), stamp(leaf.NotAfter), Ago(leaf.NotAfter.Sub(now))))
}

// usageStep checks the leaf's extended key usage for clientAuth (as the
// listener's verification does) and warns about a key usage without
// digitalSignature, which crypto/tls ignores but other TLS stacks refuse.
func usageStep(leaf *x509.Certificate) Step {
	if !allowsClientAuth(leaf) {
		f := Verification(x509.CertificateInvalidError{Cert: leaf, Reason: x509.IncompatibleUsage}, leaf, Listener{}, time.Time{})
		return failStep("key_usage", f.Code, f.Reason)
	}
	d := fmt.Sprintf("extended key usage %s allows client authentication", ekuNames(leaf))
	if len(leaf.ExtKeyUsage) == 0 && len(leaf.UnknownExtKeyUsage) == 0 {
		d = "no extended key usage extension: every usage is allowed, client authentication included"
	}
	if leaf.KeyUsage != 0 && leaf.KeyUsage&x509.KeyUsageDigitalSignature == 0 {
		return warnStep("key_usage", "key_usage_no_digital_signature",
			d+", but its key usage lacks digitalSignature: mtlsgate accepts it, TLS servers that check key usage (OpenSSL-based ones) refuse it")
	}
	return okStep("key_usage", d)
}

// IsUsage reports whether err is a usage error from DiagnoseCert.
func IsUsage(err error) bool { return errors.Is(err, ErrUsage) }
