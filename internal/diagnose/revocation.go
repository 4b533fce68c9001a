package diagnose

import (
	"crypto/x509"
	"fmt"
	"time"
)

// CodeRevocationUnknown marks a revocation source that could not answer.
const CodeRevocationUnknown = "revocation_unknown"

// Revocation is one revocation source's answer about a certificate.
type Revocation struct {
	// OK is true when the source does not refuse the certificate: it is
	// good, or the source does not cover it (Sentence says which).
	OK bool
	// Warning marks an OK answer worth attention (a fail-open rule let the
	// certificate through although the source could not answer); Code
	// then says why.
	Warning bool
	// Code is CodeRevoked, CodeRevocationUnknown or the source's own code;
	// "" for a plain OK.
	Code string
	// Sentence says what the source found, in the gateway's words.
	Sentence string
	// Source names the source ("built-in CA in /etc/mtlsgate/pki", a CRL
	// file, an OCSP responder).
	Source string
}

// RevocationCheck asks one revocation source about a chain (leaf first;
// the verified chain when there is one). Sources plug in through this type:
// the built-in CA (BuiltinCARevocation), and CRL or OCSP checkers. A check
// must not block for long; it should answer from what it has loaded.
type RevocationCheck func(chain []*x509.Certificate) Revocation

// Revoked is the answer of a source that found cert revoked at, for
// reason, with the sentence the gateway logs when it refuses a handshake.
func Revoked(cert *x509.Certificate, at time.Time, reason, source string, now time.Time) Revocation {
	e := &RevokedError{Cert: cert, RevokedAt: at, Reason: reason, Source: source}
	return Revocation{Code: CodeRevoked, Sentence: e.explain(now), Source: source}
}

// BuiltinCARevocation checks certificates against the built-in CA's
// revocations. issuedBy and revoked are the CA's own lookups (with an
// opened *ca.Authority a: a.IssuedBy, and a.CheckRevoked with its reason
// code named by ca.ReasonName); they are taken as functions so this package
// does not depend on the CA. source names the CA ("built-in CA in DIR").
func BuiltinCARevocation(source string, issuedBy func(*x509.Certificate) bool,
	revoked func(*x509.Certificate) (at time.Time, reason string, ok bool), now time.Time) RevocationCheck {
	return func(chain []*x509.Certificate) Revocation {
		if len(chain) == 0 {
			return Revocation{OK: true, Source: source, Sentence: "no certificate"}
		}
		leaf := chain[0]
		if !issuedBy(leaf) {
			return Revocation{OK: true, Source: source,
				Sentence: fmt.Sprintf("not issued by the %s, so it has no say; no other revocation source is configured", source)}
		}
		if at, reason, ok := revoked(leaf); ok {
			return Revoked(leaf, at, reason, source, now)
		}
		return Revocation{OK: true, Source: source, Sentence: "not revoked according to the " + source}
	}
}

// UnavailableRevocation is a source that could not be consulted (a CA
// directory that does not open): it refuses, because the gateway would not
// start without it.
func UnavailableRevocation(source string, err error) RevocationCheck {
	return func([]*x509.Certificate) Revocation {
		return Revocation{Code: CodeRevocationUnknown, Source: source,
			Sentence: fmt.Sprintf("cannot check revocation with the %s: %v", source, err)}
	}
}

// revocationSteps runs every check on chain and returns one step each.
func revocationSteps(checks []RevocationCheck, chain []*x509.Certificate) []Step {
	if len(checks) == 0 {
		return []Step{skipStep("revocation", "not checked: no revocation source is configured (the built-in CA's revocations apply when the config has a ca: section)")}
	}
	var out []Step
	for _, check := range checks {
		r := check(chain)
		switch {
		case r.OK && r.Warning:
			out = append(out, warnStep("revocation", r.Code, r.Sentence))
		case r.OK:
			out = append(out, okStep("revocation", r.Sentence))
		default:
			out = append(out, failStep("revocation", r.Code, r.Sentence))
		}
	}
	return out
}
