package diagnose

import (
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// chainResult is one listener's verdict on a chain.
type chainResult struct {
	step Step
	// chain is the verified chain (leaf to trust anchor), also when only
	// the leaf's own validity or usage fails; nil when it does not chain.
	chain []*x509.Certificate
	// strict: the chain verifies now for client authentication, exactly as
	// the listener's handshake verifies it.
	strict bool
}

// checkChain verifies leaf (sent with extra) against one listener's trust
// bundle as the gateway does: the bundle as roots, only what the client
// sends as intermediates, the current time, the clientAuth usage. When it
// fails only because of the leaf's own validity or usage (reported in their
// own steps), the chain is checked again without those, so that this step
// says whether the chain itself is sound.
func (t *Target) checkChain(l *ListenerTarget, leaf *x509.Certificate, extra []*x509.Certificate, now time.Time) chainResult {
	step := func(s Step) Step {
		s.Listener = l.Name
		return s
	}
	opts := x509.VerifyOptions{Roots: l.Bundle.Pool, Intermediates: x509.NewCertPool(), CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	for _, c := range extra {
		opts.Intermediates.AddCert(c)
	}
	chains, err := leaf.Verify(opts)
	if err == nil {
		return chainResult{step: step(okStep("chain", t.chainsTo(l, chains[0]))), chain: chains[0], strict: true}
	}
	if leafOwnProblem(err, leaf, now) {
		relaxed := opts
		relaxed.CurrentTime = clampTime(now, leaf.NotBefore, leaf.NotAfter)
		relaxed.KeyUsages = []x509.ExtKeyUsage{x509.ExtKeyUsageAny}
		chains, rerr := leaf.Verify(relaxed)
		if rerr == nil {
			return chainResult{step: step(okStep("chain", t.chainsTo(l, chains[0])+"; the certificate itself fails the checks above")), chain: chains[0]}
		}
		err = rerr
	}
	var ua x509.UnknownAuthorityError
	var inv x509.CertificateInvalidError
	switch {
	case errors.As(err, &ua):
		return chainResult{step: step(failStep("chain", CodeUnknownCA, t.unknownCA(l, leaf, extra)))}
	case errors.As(err, &inv) && inv.Reason == x509.IncompatibleUsage:
		return chainResult{step: step(failStep("chain", CodeBadUsage, t.restrictedUsage(l, leaf, opts)))}
	}
	f := Verification(err, leaf, Listener{Name: l.Name, ClientCA: l.ClientCA}, now)
	return chainResult{step: step(failStep("chain", f.Code, f.Reason))}
}

func (t *Target) chainsTo(l *ListenerTarget, chain []*x509.Certificate) string {
	return fmt.Sprintf("chains to %s in %s: %s", Name(chain[len(chain)-1]), t.where(l), chainNames(chain))
}

// leafOwnProblem reports whether err is the leaf's own expiry or missing
// clientAuth usage, which the validity and key usage steps report.
func leafOwnProblem(err error, leaf *x509.Certificate, now time.Time) bool {
	var inv x509.CertificateInvalidError
	if !errors.As(err, &inv) {
		return false
	}
	switch inv.Reason {
	case x509.Expired:
		return inv.Cert == nil || inv.Cert.Equal(leaf)
	case x509.IncompatibleUsage:
		return !allowsClientAuth(leaf)
	}
	return false
}

func clampTime(t, lo, hi time.Time) time.Time {
	switch {
	case t.Before(lo):
		return lo
	case t.After(hi):
		return hi
	}
	return t
}

func allowsClientAuth(c *x509.Certificate) bool {
	if len(c.ExtKeyUsage) == 0 && len(c.UnknownExtKeyUsage) == 0 {
		return true
	}
	return slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageClientAuth) || slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageAny)
}

// unknownCA says where the chain stops: the issuer that neither the file
// nor the trust bundle holds.
func (t *Target) unknownCA(l *ListenerTarget, leaf *x509.Certificate, extra []*x509.Certificate) string {
	path := issuerPath(leaf, extra)
	last := path[len(path)-1]
	who := "client certificate " + Name(leaf)
	where := t.where(l)
	var s string
	switch {
	case l.Bundle.HasIssuerOf(last):
		return fmt.Sprintf("%s chains to issuer %s, and %s has a certificate of that name, but not the one that signed %s (a different key: a re-created CA?)",
			who, issuerName(last), where, Name(last))
	case selfSigned(last) && len(path) == 1:
		s = fmt.Sprintf("%s is self-signed and not in %s", who, where)
	case selfSigned(last):
		s = fmt.Sprintf("%s chains through %s to the root %s sent with it, which is not in %s",
			who, chainNames(path[1:len(path)-1]), Name(last), where)
		if len(path) == 2 {
			s = fmt.Sprintf("%s chains to the root %s sent with it, which is not in %s", who, Name(last), where)
		}
	case len(path) == 1:
		s = fmt.Sprintf("%s issued by %s, which is not in %s", who, issuerName(last), where)
	default:
		s = fmt.Sprintf("%s chains through %s (sent with it), then stops at issuer %s, which is not in %s",
			who, chainNames(path[1:]), issuerName(last), where)
	}
	s += fmt.Sprintf(" (it holds %s)", bundleNames(l))
	if len(path) == 1 && !selfSigned(last) {
		s += fmt.Sprintf("; if %s is an intermediate CA under one of those, the client must send it after its certificate", issuerName(last))
	}
	return s
}

func issuerName(c *x509.Certificate) string {
	if s := c.Issuer.String(); s != "" {
		return s
	}
	return "an issuer with an empty name"
}

// issuerPath follows issuer links from leaf through the certificates sent
// with it (by name, and signature), stopping at a self-signed certificate
// or an issuer not sent.
func issuerPath(leaf *x509.Certificate, extra []*x509.Certificate) []*x509.Certificate {
	path := []*x509.Certificate{leaf}
	for cur := leaf; !selfSigned(cur) && len(path) <= len(extra); {
		next := (*x509.Certificate)(nil)
		for _, c := range extra {
			if string(c.RawSubject) == string(cur.RawIssuer) && !slices.ContainsFunc(path, c.Equal) && cur.CheckSignatureFrom(c) == nil {
				next = c
				break
			}
		}
		if next == nil {
			break
		}
		path = append(path, next)
		cur = next
	}
	return path
}

// bundleNames lists the subjects of a bundle, at most three.
func bundleNames(l *ListenerTarget) string {
	var names []string
	for i, c := range l.Bundle.Certs {
		if i == 3 {
			names = append(names, fmt.Sprintf("and %d more", len(l.Bundle.Certs)-3))
			break
		}
		names = append(names, Name(c))
	}
	return strings.Join(names, ", ")
}

// restrictedUsage explains a chain refused for clientAuth although the leaf
// allows it: an issuing CA's extended key usage excludes clientAuth (Go
// nests extended key usages down the chain).
func (t *Target) restrictedUsage(l *ListenerTarget, leaf *x509.Certificate, opts x509.VerifyOptions) string {
	opts.KeyUsages = []x509.ExtKeyUsage{x509.ExtKeyUsageAny}
	opts.CurrentTime = clampTime(opts.CurrentTime, leaf.NotBefore, leaf.NotAfter)
	if chains, err := leaf.Verify(opts); err == nil {
		for _, c := range chains[0][1:] {
			if !allowsClientAuth(c) {
				return fmt.Sprintf("client certificate %s chains to %s, but the CA certificate %s in its chain limits extended key usage to %s, which excludes clientAuth",
					Name(leaf), t.where(l), Name(c), ekuNames(c))
			}
		}
	}
	return fmt.Sprintf("client certificate %s is not valid for client authentication through its chain to %s: a CA certificate in the chain excludes clientAuth", Name(leaf), t.where(l))
}
