package proxy

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"syscall"
)

// Upstream failure reason codes (metric label values).
const (
	ReasonRefused       = "connection_refused"
	ReasonTimeout       = "timeout"
	ReasonUnknownCA     = "tls_unknown_authority"
	ReasonNameMismatch  = "tls_name_mismatch"
	ReasonCertInvalid   = "tls_certificate_invalid"
	ReasonClientRefused = "tls_client_cert_refused"
	ReasonTLS           = "tls_error"
	ReasonReset         = "connection_reset"
	ReasonDNS           = "dns"
	ReasonCanceled      = "client_canceled"
	ReasonOther         = "other"
)

// Failure is a classified upstream error.
type Failure struct {
	Upstream string
	Status   int    // 502, 504, or 499 when the client went away
	Reason   string // code for metrics
	Detail   string // sentence for logs and the problem body
}

// Classify maps an upstream round-trip error to a status and a reason.
func Classify(upstream string, err error) Failure {
	var (
		ua   x509.UnknownAuthorityError
		he   x509.HostnameError
		ci   x509.CertificateInvalidError
		dnsE *net.DNSError
		ne   net.Error
		ae   tls.AlertError
	)
	msg := err.Error()
	switch {
	case errors.Is(err, context.Canceled):
		return Failure{upstream, 499, ReasonCanceled, "the client closed the request before upstream " + upstream + " answered"}
	case errors.As(err, &ua):
		return Failure{upstream, http.StatusBadGateway, ReasonUnknownCA, fmt.Sprintf("upstream %s presented a certificate (%s) issued by %s, which is not in the upstream's ca bundle", upstream, ua.Cert.Subject, ua.Cert.Issuer)}
	case errors.As(err, &he):
		return Failure{upstream, http.StatusBadGateway, ReasonNameMismatch, fmt.Sprintf("upstream %s: %v; set tls.server_name to a name in its certificate", upstream, he)}
	case errors.As(err, &ci):
		return Failure{upstream, http.StatusBadGateway, ReasonCertInvalid, fmt.Sprintf("upstream %s presented an invalid certificate: %v", upstream, ci)}
	case errors.Is(err, ErrDroppedAfterHandshake):
		return Failure{upstream, http.StatusBadGateway, ReasonClientRefused, fmt.Sprintf("upstream %s closed the connection right after the TLS handshake, before answering: it most likely refused the gateway's client certificate (TLS 1.3 reports that only after the handshake); check that it trusts the CA of upstreams[].tls.cert", upstream)}
	case errors.As(err, &ae) || strings.Contains(msg, "remote error: tls:"):
		return Failure{upstream, http.StatusBadGateway, ReasonClientRefused, fmt.Sprintf("upstream %s refused the gateway's TLS client (%s); check the upstream trusts the gateway's client certificate", upstream, tlsAlertText(msg))}
	case errors.Is(err, syscall.ECONNREFUSED):
		return Failure{upstream, http.StatusBadGateway, ReasonRefused, "upstream " + upstream + " refused the connection (is it running and listening?)"}
	case errors.As(err, &dnsE):
		return Failure{upstream, http.StatusBadGateway, ReasonDNS, fmt.Sprintf("upstream %s: cannot resolve %s", upstream, dnsE.Name)}
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) || strings.Contains(msg, "timeout awaiting response headers"):
		return Failure{upstream, http.StatusGatewayTimeout, ReasonTimeout, "upstream " + upstream + " did not answer in time"}
	case errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || strings.Contains(msg, "EOF"):
		return Failure{upstream, http.StatusBadGateway, ReasonReset, "upstream " + upstream + " closed the connection without a response (a TLS client certificate refused, or a crash?)"}
	case strings.Contains(msg, "tls:"):
		return Failure{upstream, http.StatusBadGateway, ReasonTLS, fmt.Sprintf("upstream %s: TLS failed: %v", upstream, err)}
	}
	return Failure{upstream, http.StatusBadGateway, ReasonOther, fmt.Sprintf("upstream %s: %v", upstream, err)}
}

func tlsAlertText(msg string) string {
	if i := strings.Index(msg, "remote error: "); i >= 0 {
		return msg[i+len("remote error: "):]
	}
	return msg
}
