package diagnose

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"strings"
)

// serverSteps verify the server's chain (trust), its name and its expiry.
func serverSteps(r *ConnReport, o *ConnOptions, peer []*x509.Certificate) []Step {
	var out []Step
	if o.Insecure {
		out = append(out, warnStep("trust", "insecure_skip_verify",
			fmt.Sprintf("insecure_skip_verify is true: the gateway does not verify the certificate of upstream %s, so anyone who can intercept traffic to %s can impersonate it; checked anyway below", o.Upstream, r.Address)))
	}
	soften := func(s Step) Step {
		if o.Insecure && !s.OK {
			s.OK, s.Status = true, StatusWarn
			s.Detail += " (ignored: insecure_skip_verify)"
		}
		return s
	}
	leaf := peer[0]
	trust := trustStep(o, peer)
	r.Verified = trust.OK
	out = append(out, soften(trust))
	name := okStep("name", fmt.Sprintf("the server's certificate is valid for %s", o.ServerName))
	if err := leaf.VerifyHostname(o.ServerName); err != nil {
		held := Info(leaf).SANs
		has := "it has no subject alternative names (its CN is not used for name checks)"
		if len(held) > 0 {
			has = "it holds " + strings.Join(held, ", ")
		}
		name = failStep("name", "name_mismatch", fmt.Sprintf("the server's certificate is not valid for %s: %s; %s", o.ServerName, has, o.hint("name")))
	}
	r.NameMatches = name.OK
	out = append(out, soften(name))
	out = append(out, expiryStep("server_expiry", "the server's certificate "+Name(leaf), leaf, o))
	return out
}

// trustStep verifies the server's chain as crypto/tls would (the roots,
// the intermediates the server sent, serverAuth), but judges the leaf's
// validity period separately (server_expiry).
func trustStep(o *ConnOptions, peer []*x509.Certificate) Step {
	leaf := peer[0]
	opts := x509.VerifyOptions{Roots: o.Roots, Intermediates: x509.NewCertPool(),
		CurrentTime: clampTime(o.Now, leaf.NotBefore, leaf.NotAfter), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	for _, c := range peer[1:] {
		opts.Intermediates.AddCert(c)
	}
	chains, err := leaf.Verify(opts)
	if err == nil {
		return okStep("trust", fmt.Sprintf("the server's chain verifies against %s: %s", o.RootsName, chainNames(chains[0])))
	}
	who := "the server's certificate " + Name(leaf)
	var ua x509.UnknownAuthorityError
	var inv x509.CertificateInvalidError
	switch {
	case errors.As(err, &ua):
		path := issuerPath(leaf, peer[1:])
		last := path[len(path)-1]
		var s string
		switch {
		case selfSigned(last) && len(path) == 1:
			s = fmt.Sprintf("%s is self-signed, and it is not in %s", who, o.RootsName)
		case selfSigned(last):
			s = fmt.Sprintf("%s chains to the root %s it sent, which is not in %s", who, Name(last), o.RootsName)
		case len(path) == 1:
			s = fmt.Sprintf("%s is issued by %s, which is not in %s", who, issuerName(last), o.RootsName)
		default:
			s = fmt.Sprintf("%s chains through %s, then stops at issuer %s, which is not in %s", who, chainNames(path[1:]), issuerName(last), o.RootsName)
		}
		return failStep("trust", CodeUnknownCA, s+"; "+o.hint("ca"))
	case errors.As(err, &inv) && inv.Reason == x509.Expired && inv.Cert != nil:
		return failStep("trust", CodeExpired, fmt.Sprintf("%s: its issuing CA certificate %s is outside its validity period (%s to %s)",
			who, Name(inv.Cert), stamp(inv.Cert.NotBefore), stamp(inv.Cert.NotAfter)))
	case errors.As(err, &inv) && inv.Reason == x509.IncompatibleUsage:
		return failStep("trust", CodeBadUsage, fmt.Sprintf("%s is not valid for server authentication (extended key usage %s)", who, ekuList(leaf)))
	}
	return failStep("trust", CodeBadCertificate, fmt.Sprintf("the server's chain does not verify against %s: %v", o.RootsName, err))
}

func ekuList(c *x509.Certificate) string {
	s := ekuNames(c)
	if strings.HasPrefix(s, "none") {
		return "none"
	}
	return s
}

// expiryStep judges a certificate's validity period: failed outside it,
// a warning within o.ExpiryWarning of its end.
func expiryStep(name, who string, c *x509.Certificate, o *ConnOptions) Step {
	now := o.Now
	switch {
	case now.After(c.NotAfter):
		return failStep(name, CodeExpired, fmt.Sprintf("%s expired %s (%s ago)", who, stamp(c.NotAfter), Ago(now.Sub(c.NotAfter))))
	case now.Before(c.NotBefore):
		return failStep(name, CodeNotYetValid, fmt.Sprintf("%s is not valid until %s (%s from now)", who, stamp(c.NotBefore), Ago(c.NotBefore.Sub(now))))
	case c.NotAfter.Sub(now) < o.ExpiryWarning:
		return warnStep(name, "expires_soon", fmt.Sprintf("%s expires in %s (%s); renew it before then", who, Ago(c.NotAfter.Sub(now)), stamp(c.NotAfter)))
	}
	return okStep(name, fmt.Sprintf("%s is valid until %s (expires in %s)", who, stamp(c.NotAfter), Ago(c.NotAfter.Sub(now))))
}

// clientSteps report the server's certificate request and our answer.
func clientSteps(r *ConnReport, o *ConnOptions, p *probe) []Step {
	var out []Step
	r.ClientCertRequested, r.ClientCertSent = p.requested, p.sent
	for _, der := range p.acceptable {
		r.AcceptableCAs = append(r.AcceptableCAs, decodeName(der))
	}
	leaf := clientLeaf(o.ClientCert)
	switch {
	case !p.requested:
		d := "the server does not ask for a client certificate"
		if leaf != nil {
			d += fmt.Sprintf(", so ours (%s) was not sent", Name(leaf))
		}
		if o.Upstream != "" {
			out = append(out, warnStep("client_cert_request", "no_client_auth", d+": anyone who can reach it can call it around the gateway"))
		} else {
			out = append(out, okStep("client_cert_request", d))
		}
	case len(r.AcceptableCAs) == 0:
		out = append(out, okStep("client_cert_request", "the server asks for a client certificate without naming the CAs it accepts"))
	default:
		out = append(out, okStep("client_cert_request", "the server asks for a client certificate issued by "+strings.Join(r.AcceptableCAs, "; ")))
	}
	if p.requested {
		switch {
		case leaf == nil:
			out = append(out, warnStep("client_cert", CodeNoClientCert, "the server asks for a client certificate, but there is none to send; "+o.hint("cert")))
		case len(p.acceptable) > 0 && !acceptableIssuer(o.ClientCert, p.acceptable):
			out = append(out, warnStep("client_cert", "issuer_not_acceptable", fmt.Sprintf("sent %s, issued by %s, which is not among the CAs the server names: it will most likely refuse it", Name(leaf), issuerName(leaf))))
		case len(p.acceptable) > 0:
			out = append(out, okStep("client_cert", fmt.Sprintf("sent %s, issued by %s, which the server names as acceptable", Name(leaf), issuerName(leaf))))
		default:
			out = append(out, okStep("client_cert", fmt.Sprintf("sent %s, issued by %s", Name(leaf), issuerName(leaf))))
		}
	}
	if leaf != nil {
		out = append(out, expiryStep("client_expiry", "the client certificate "+Name(leaf), leaf, o))
	}
	return out
}

// clientLeaf returns the leaf of a client certificate, parsing it when the
// Leaf field is not set.
func clientLeaf(c *tls.Certificate) *x509.Certificate {
	if c == nil || len(c.Certificate) == 0 {
		return nil
	}
	if c.Leaf != nil {
		return c.Leaf
	}
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		return nil
	}
	return leaf
}

// acceptableIssuer reports whether a certificate of the chain is issued by,
// or is, one of the CAs the server named (raw DER names, as sent).
func acceptableIssuer(c *tls.Certificate, acceptable [][]byte) bool {
	for _, der := range c.Certificate {
		x, err := x509.ParseCertificate(der)
		if err != nil {
			continue
		}
		for _, a := range acceptable {
			if bytes.Equal(x.RawIssuer, a) || bytes.Equal(x.RawSubject, a) {
				return true
			}
		}
	}
	return false
}

// decodeName renders a DER distinguished name from a CertificateRequest.
func decodeName(der []byte) string {
	var rdn pkix.RDNSequence
	if rest, err := asn1.Unmarshal(der, &rdn); err != nil || len(rest) > 0 {
		return fmt.Sprintf("(undecodable name, %d bytes)", len(der))
	}
	var n pkix.Name
	n.FillFromRDNSequence(&rdn)
	if s := n.String(); s != "" {
		return s
	}
	return "(empty name)"
}
