package diagnose

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Reason codes for handshake failures. They are metric label values: keep
// the set small and stable.
const (
	CodeNoClientCert    = "no_client_cert"
	CodeExpired         = "expired"
	CodeNotYetValid     = "not_yet_valid"
	CodeUnknownCA       = "unknown_ca"
	CodeBadUsage        = "bad_key_usage"
	CodeBadCertificate  = "bad_certificate"
	CodeClientRejected  = "client_rejected_server_cert"
	CodeProtocolVersion = "protocol_version"
	CodeNoSharedCipher  = "no_shared_cipher"
	CodeNotTLS          = "not_tls"
	CodeTimeout         = "timeout"
	CodeClosed          = "client_closed"
	CodeRevoked         = "revoked"
	CodeOther           = "other"
)

// Listener is what an explanation needs to know about where it happened.
type Listener struct {
	Name string
	// ClientCA is the trust bundle's file name, as configured.
	ClientCA string
}

// Failure is an explained handshake failure.
type Failure struct {
	Code   string
	Reason string
	// Client is the (unverified) client leaf certificate, when one was sent.
	Client *x509.Certificate
}

// Handshake explains a server-side handshake error. now is used to say how
// long ago a certificate expired.
func Handshake(err error, l Listener, now time.Time) Failure {
	var re *RevokedError
	if errors.As(err, &re) {
		return Failure{Code: CodeRevoked, Reason: re.explain(now), Client: re.Cert}
	}
	var ue *RevocationError
	if errors.As(err, &ue) {
		return Failure{Code: ue.Code, Reason: fmt.Sprintf("%s refused: %s", Name(ue.Cert), ue.Reason), Client: ue.Cert}
	}
	var cve *tls.CertificateVerificationError
	if errors.As(err, &cve) {
		var leaf *x509.Certificate
		if len(cve.UnverifiedCertificates) > 0 {
			leaf = cve.UnverifiedCertificates[0]
		}
		f := Verification(cve.Err, leaf, l, now)
		f.Client = leaf
		return f
	}
	var ne net.Error
	msg := err.Error()
	switch {
	case strings.Contains(msg, "client didn't provide a certificate"):
		return Failure{Code: CodeNoClientCert, Reason: fmt.Sprintf("no client certificate sent; listener %s requires one", l.Name)}
	case errors.As(err, &ne) && ne.Timeout():
		return Failure{Code: CodeTimeout, Reason: fmt.Sprintf("TLS handshake on listener %s did not finish in time", l.Name)}
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) || errors.Is(err, os.ErrDeadlineExceeded) || strings.Contains(msg, "connection reset"):
		return Failure{Code: CodeClosed, Reason: "client closed the connection during the TLS handshake"}
	case strings.Contains(msg, "remote error: tls:"):
		alert := msg[strings.Index(msg, "remote error: tls:")+len("remote error: tls: "):]
		return Failure{Code: CodeClientRejected, Reason: fmt.Sprintf("the client refused the gateway's certificate on listener %s (client said: %s); check that the client trusts the CA that issued the listener certificate and connects with a name it holds", l.Name, alert)}
	case strings.Contains(msg, "unsupported versions"):
		return Failure{Code: CodeProtocolVersion, Reason: fmt.Sprintf("client offered only TLS versions below listener %s's min_version", l.Name)}
	case strings.Contains(msg, "no cipher suite supported"):
		return Failure{Code: CodeNoSharedCipher, Reason: "client and gateway share no cipher suite"}
	case strings.Contains(msg, "does not look like a TLS handshake"):
		return Failure{Code: CodeNotTLS, Reason: fmt.Sprintf("client spoke plain text (HTTP?) to TLS listener %s; use https://", l.Name)}
	}
	return Failure{Code: CodeOther, Reason: fmt.Sprintf("TLS handshake failed on listener %s: %v", l.Name, err)}
}

// Verification explains why a client certificate chain did not verify.
func Verification(err error, leaf *x509.Certificate, l Listener, now time.Time) Failure {
	who := "client certificate"
	if leaf != nil {
		who = "client certificate " + Name(leaf)
	}
	var inv x509.CertificateInvalidError
	var ua x509.UnknownAuthorityError
	switch {
	case errors.As(err, &inv):
		c := inv.Cert
		if c == nil {
			c = leaf
		}
		switch inv.Reason {
		case x509.Expired:
			if c != nil && now.Before(c.NotBefore) {
				return Failure{Code: CodeNotYetValid, Reason: fmt.Sprintf("%s is not valid until %s (%s from now); check the clock of the issuing CA or the gateway", nameFor(who, c, leaf), c.NotBefore.UTC().Format(time.RFC3339), Ago(c.NotBefore.Sub(now)))}
			}
			if c != nil {
				return Failure{Code: CodeExpired, Reason: fmt.Sprintf("%s expired %s (%s ago)", nameFor(who, c, leaf), c.NotAfter.UTC().Format(time.RFC3339), Ago(now.Sub(c.NotAfter)))}
			}
			return Failure{Code: CodeExpired, Reason: who + " is expired or not yet valid"}
		case x509.IncompatibleUsage:
			return Failure{Code: CodeBadUsage, Reason: fmt.Sprintf("%s is not valid for client authentication (extended key usage %s); issue it with the clientAuth usage", who, ekuNames(c))}
		case x509.NotAuthorizedToSign, x509.CANotAuthorizedForThisName, x509.TooManyIntermediates, x509.NameConstraintsWithoutSANs, x509.CANotAuthorizedForExtKeyUsage:
			return Failure{Code: CodeBadCertificate, Reason: fmt.Sprintf("%s has an invalid chain: %v", who, inv)}
		}
		return Failure{Code: CodeBadCertificate, Reason: fmt.Sprintf("%s is invalid: %v", who, inv)}
	case errors.As(err, &ua):
		issuer := "an unknown issuer"
		if leaf != nil {
			issuer = leaf.Issuer.String()
			if issuer == "" {
				issuer = "an issuer with an empty name"
			}
		}
		return Failure{Code: CodeUnknownCA, Reason: fmt.Sprintf("%s issued by %s, which is not in client_ca %s of listener %s", who, issuer, filepath.Base(l.ClientCA), l.Name)}
	}
	var cve *tls.CertificateVerificationError
	if errors.As(err, &cve) {
		return Verification(cve.Err, leaf, l, now)
	}
	return Failure{Code: CodeBadCertificate, Reason: fmt.Sprintf("%s was refused: %v", who, err)}
}

func nameFor(who string, c, leaf *x509.Certificate) string {
	if leaf != nil && c != nil && c != leaf && !c.Equal(leaf) {
		return fmt.Sprintf("%s: its issuing CA certificate %s", who, Name(c))
	}
	return who
}

// Name is a short human name for a certificate: its subject, or its first
// SAN when the subject is empty.
func Name(c *x509.Certificate) string {
	if s := c.Subject.String(); s != "" {
		return s
	}
	switch {
	case len(c.URIs) > 0:
		return "URI:" + c.URIs[0].String()
	case len(c.DNSNames) > 0:
		return "DNS:" + c.DNSNames[0]
	case len(c.EmailAddresses) > 0:
		return "email:" + c.EmailAddresses[0]
	}
	return "serial " + c.SerialNumber.Text(16)
}

func ekuNames(c *x509.Certificate) string {
	if c == nil || len(c.ExtKeyUsage) == 0 {
		return "none that allows client authentication"
	}
	names := map[x509.ExtKeyUsage]string{
		x509.ExtKeyUsageServerAuth: "serverAuth", x509.ExtKeyUsageClientAuth: "clientAuth",
		x509.ExtKeyUsageCodeSigning: "codeSigning", x509.ExtKeyUsageEmailProtection: "emailProtection",
		x509.ExtKeyUsageOCSPSigning: "OCSPSigning", x509.ExtKeyUsageTimeStamping: "timeStamping",
	}
	var out []string
	for _, u := range c.ExtKeyUsage {
		if n, ok := names[u]; ok {
			out = append(out, n)
		} else {
			out = append(out, fmt.Sprintf("#%d", u))
		}
	}
	return strings.Join(out, ", ")
}

// Ago renders a duration for people: "8 days", "3 hours", "42 seconds".
func Ago(d time.Duration) string {
	if d < 0 {
		d = -d
	}
	plural := func(n int64, unit string) string {
		if n == 1 {
			return "1 " + unit
		}
		return fmt.Sprintf("%d %ss", n, unit)
	}
	switch {
	case d >= 48*time.Hour:
		return plural(int64(d/(24*time.Hour)), "day")
	case d >= 2*time.Hour:
		return plural(int64(d/time.Hour), "hour")
	case d >= 2*time.Minute:
		return plural(int64(d/time.Minute), "minute")
	}
	return plural(int64(d/time.Second), "second")
}

// RevokedError refuses a certificate because its issuer revoked it.
type RevokedError struct {
	Cert      *x509.Certificate
	RevokedAt time.Time
	Reason    string // RFC 5280 reason name
	// Source says who vouched for the revocation ("built-in CA", a CRL
	// file, an OCSP responder).
	Source string
}

func (e *RevokedError) Error() string {
	return fmt.Sprintf("certificate %s (serial %s) is revoked (%s)", Name(e.Cert), e.Cert.SerialNumber.Text(16), e.Reason)
}

func (e *RevokedError) explain(now time.Time) string {
	return fmt.Sprintf("%s (serial %s) was revoked %s (%s ago, reason %s) according to the %s; issue a new certificate for this client",
		Name(e.Cert), e.Cert.SerialNumber.Text(16), e.RevokedAt.UTC().Format(time.RFC3339), Ago(now.Sub(e.RevokedAt)), e.Reason, e.Source)
}

// RevocationError refuses a certificate whose revocation status could not
// be established under a fail_closed rule (stale CRL, responder down, …).
type RevocationError struct {
	Cert   *x509.Certificate
	Code   string // "crl_stale", "ocsp_unavailable", …
	Reason string // a sentence naming the source and what to do
}

func (e *RevocationError) Error() string {
	return fmt.Sprintf("certificate %s refused: %s (%s)", Name(e.Cert), e.Reason, e.Code)
}
