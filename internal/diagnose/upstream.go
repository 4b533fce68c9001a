package diagnose

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Defaults of ConnOptions.
const (
	DefaultConnTimeout   = 5 * time.Second
	DefaultExpiryWarning = 30 * 24 * time.Hour
)

// ConnOptions say where DiagnoseConn connects and with what.
type ConnOptions struct {
	// Upstream names the configured upstream being checked; "" for a bare
	// URL. It only changes the report's kind and the hints in sentences.
	Upstream string
	URL      *url.URL
	// ServerName is the name the server's certificate must hold (and the
	// SNI sent); default: the URL's host.
	ServerName string
	// Roots verify the server's chain; nil means the system roots.
	// RootsName names them in sentences ("ca backend-ca.pem").
	Roots     *x509.CertPool
	RootsName string
	// ClientCert is presented when the server asks for one (nil: none).
	ClientCert *tls.Certificate
	// Insecure is the upstream's insecure_skip_verify: the gateway does
	// not verify the server, so verification failures are warnings.
	Insecure bool
	// Timeout bounds the connect, the handshake and the request, each
	// (default DefaultConnTimeout).
	Timeout time.Duration
	// Now judges validity periods (default time.Now()).
	Now time.Time
	// ExpiryWarning warns about certificates expiring sooner (default
	// DefaultExpiryWarning).
	ExpiryWarning time.Duration
}

func (o *ConnOptions) defaults() {
	if o.Timeout <= 0 {
		o.Timeout = DefaultConnTimeout
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	if o.ExpiryWarning <= 0 {
		o.ExpiryWarning = DefaultExpiryWarning
	}
	if o.RootsName == "" {
		o.RootsName = "the system roots"
		if o.Roots != nil {
			o.RootsName = "the configured ca"
		}
	}
	if o.ServerName == "" {
		o.ServerName = o.URL.Hostname()
	}
}

// hint says what to change, in the vocabulary of the caller (the config
// for an upstream, flags for a URL).
func (o *ConnOptions) hint(what string) string {
	if o.Upstream != "" {
		return map[string]string{
			"ca":   fmt.Sprintf("set tls.ca of upstream %s to the CA that issued it", o.Upstream),
			"name": fmt.Sprintf("set tls.server_name of upstream %s to a name in its certificate", o.Upstream),
			"cert": fmt.Sprintf("set tls.cert of upstream %s", o.Upstream),
		}[what]
	}
	return map[string]string{
		"ca":   "give the CA that issued it with --ca",
		"name": "give a name in its certificate with --server-name",
		"cert": "give one with --cert and --key",
	}[what]
}

// probe is what the handshake callbacks saw.
type probe struct {
	peer       []*x509.Certificate
	requested  bool
	acceptable [][]byte
	sent       bool
}

// DiagnoseConn connects to o.URL as the gateway would and reports, step by
// step: the TCP connect, the TLS version and cipher, whether the server's
// chain verifies against o.Roots and holds o.ServerName, whether the server
// asked for a client certificate and which CAs it accepts, whether it
// accepted ours (a HEAD request must get an HTTP answer), and certificates
// expiring within o.ExpiryWarning.
//
// The handshake itself does not verify the server: that would end it
// before the server's chain and the client-certificate exchange could be
// reported. The chain is verified explicitly afterwards, and a chain that
// does not verify fails the report: it is never taken as success. Nothing
// secret is sent on the connection (a HEAD request without credentials;
// the client certificate's signature is bound to this handshake).
func DiagnoseConn(ctx context.Context, o ConnOptions) *ConnReport {
	o.defaults()
	r := &ConnReport{Kind: "url", Upstream: o.Upstream, URL: o.URL.String(), Address: hostPort(o.URL), AcceptableCAs: []string{}}
	if o.Upstream != "" {
		r.Kind = "upstream"
	}
	if o.ClientCert != nil && o.ClientCert.Leaf != nil {
		ci := Info(o.ClientCert.Leaf)
		r.ClientCert = &ci
	}
	if o.URL.Scheme == "https" {
		r.ServerName = o.ServerName
	}
	defer func() { finishConn(r, o.URL.Scheme == "https") }()
	d := net.Dialer{Timeout: o.Timeout}
	conn, err := d.DialContext(ctx, "tcp", r.Address)
	if err != nil {
		r.Steps = append(r.Steps, failStep("connect", "connect_failed", connectFailure(r.Address, err, o.Timeout)))
		return r
	}
	defer conn.Close()
	r.Steps = append(r.Steps, okStep("connect", "connected to "+r.Address))
	if o.URL.Scheme == "http" {
		r.Steps = append(r.Steps, warnStep("tls", "plain_http", "the URL is http://: the connection is neither encrypted nor authenticated, and no client certificate can be presented"))
		r.Steps = append(r.Steps, requestStep(r, &o, conn, &probe{}))
		return r
	}
	p := &probe{}
	tc := &tls.Config{
		ServerName: o.ServerName,
		// Verified explicitly below, after the handshake, so that an
		// unverifiable chain can be reported; see the doc comment.
		InsecureSkipVerify: true, //nolint:gosec // diagnostic only; the chain is verified with x509.Verify and reported
		MinVersion:         tls.VersionTLS12,
		NextProtos:         []string{"http/1.1"},
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			for _, der := range raw {
				if c, err := x509.ParseCertificate(der); err == nil {
					p.peer = append(p.peer, c)
				}
			}
			return nil
		},
		GetClientCertificate: func(cri *tls.CertificateRequestInfo) (*tls.Certificate, error) {
			p.requested, p.acceptable = true, cri.AcceptableCAs
			if o.ClientCert == nil {
				return &tls.Certificate{}, nil
			}
			p.sent = true
			return o.ClientCert, nil
		},
	}
	tconn := tls.Client(conn, tc)
	_ = conn.SetDeadline(time.Now().Add(o.Timeout))
	herr := tconn.HandshakeContext(ctx)
	// After a failed handshake the state still says what was negotiated.
	if cs := tconn.ConnectionState(); cs.Version != 0 {
		r.TLSVersion, r.CipherSuite = tls.VersionName(cs.Version), tls.CipherSuiteName(cs.CipherSuite)
	}
	if herr == nil {
		r.Steps = append(r.Steps, okStep("tls", fmt.Sprintf("%s with %s", r.TLSVersion, r.CipherSuite)))
	} else {
		r.Steps = append(r.Steps, failStep("tls", "handshake_failed", handshakeFailure(r, &o, p, herr)))
	}
	for _, c := range p.peer {
		r.ServerChain = append(r.ServerChain, Info(c))
	}
	if len(p.peer) > 0 {
		r.Steps = append(r.Steps, serverSteps(r, &o, p.peer)...)
	}
	if herr == nil || p.requested {
		r.Steps = append(r.Steps, clientSteps(r, &o, p)...)
	}
	if herr == nil {
		r.Steps = append(r.Steps, requestStep(r, &o, tconn, p))
	}
	return r
}

func finishConn(r *ConnReport, https bool) {
	r.OK = !failed(r.Steps)
	what := "URL " + r.URL
	if r.Upstream != "" {
		what = "upstream " + r.Upstream
	}
	if r.OK {
		r.Verdict = "OK: " + what + " is reachable"
		switch {
		case !https:
		case r.Verified && r.NameMatches:
			r.Verdict += ", its certificate verifies"
		default:
			r.Verdict += ", but its certificate is not verified (insecure_skip_verify)"
		}
		if r.ClientCertAccepted != nil && *r.ClientCertAccepted {
			r.Verdict += " and it accepted the client certificate"
		}
		return
	}
	r.Verdict = "FAILED: " + what + ": " + firstFailure(r.Steps)
}

func hostPort(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	port := "443"
	if u.Scheme == "http" {
		port = "80"
	}
	return net.JoinHostPort(u.Hostname(), port)
}

func connectFailure(addr string, err error, timeout time.Duration) string {
	var dnsErr *net.DNSError
	var ne net.Error
	switch {
	case errors.As(err, &dnsErr):
		return fmt.Sprintf("cannot resolve %s: %v", dnsErr.Name, dnsErr.Err)
	case errors.As(err, &ne) && ne.Timeout():
		return fmt.Sprintf("no answer from %s within %s (a firewall, or the wrong address?)", addr, timeout)
	case strings.Contains(err.Error(), "connection refused"):
		return fmt.Sprintf("connection to %s refused: nothing listens there (is the server running?)", addr)
	}
	return fmt.Sprintf("cannot connect to %s: %v", addr, err)
}

// handshakeFailure explains a failed handshake, and records whether the
// server refused the client certificate.
func handshakeFailure(r *ConnReport, o *ConnOptions, p *probe, err error) string {
	msg := err.Error()
	var ne net.Error
	switch {
	case strings.Contains(msg, "remote error: tls: "):
		return alertFailure(r, o, p, msg)
	case strings.Contains(msg, "does not look like a TLS handshake") || strings.Contains(msg, "first record"):
		return fmt.Sprintf("%s does not speak TLS (plain HTTP? then the URL must be http://)", r.Address)
	case errors.As(err, &ne) && ne.Timeout():
		return fmt.Sprintf("the TLS handshake with %s did not finish within %s", r.Address, o.Timeout)
	case errors.Is(err, io.EOF) || strings.Contains(msg, "connection reset"):
		if p.sent {
			refused(r)
			return "the server closed the connection during the handshake, after we sent the client certificate: it most likely refused it"
		}
		return "the server closed the connection during the TLS handshake"
	}
	return "the TLS handshake failed: " + msg
}

// alertNames maps crypto/tls's alert texts to the RFC 8446 names people
// find in server logs, for the alerts about certificates.
var alertNames = map[string]string{
	"bad certificate":               "bad certificate",
	"unknown certificate authority": "unknown ca",
	"expired certificate":           "certificate expired",
	"revoked certificate":           "certificate revoked",
	"unknown certificate":           "certificate unknown",
	"unsupported certificate":       "unsupported certificate",
	"access denied":                 "access denied",
}

// alertFailure turns a TLS alert from the server into a sentence.
func alertFailure(r *ConnReport, o *ConnOptions, p *probe, msg string) string {
	text := msg[strings.Index(msg, "remote error: tls: ")+len("remote error: tls: "):]
	if name, ok := alertNames[text]; ok && p.sent {
		refused(r)
		s := "the server refused the client certificate: alert " + name
		switch name {
		case "unknown ca":
			s += " (it does not trust the CA that issued " + Name(clientLeaf(o.ClientCert)) + ")"
		case "certificate expired":
			s += " (renew " + Name(clientLeaf(o.ClientCert)) + ")"
		}
		return s
	}
	switch text {
	case "certificate required":
		return "the server requires a client certificate, and none was sent (alert certificate required); " + o.hint("cert")
	case "handshake failure":
		if p.requested && !p.sent {
			return "the server requires a client certificate, and none was sent (alert handshake failure); " + o.hint("cert")
		}
		return "the server aborted the handshake: alert handshake failure (no TLS version or cipher suite in common?)"
	case "protocol version not supported":
		return "the server aborted the handshake: alert protocol version (it supports neither TLS 1.2 nor 1.3)"
	case "unrecognized name":
		return fmt.Sprintf("the server does not serve the name %s: alert unrecognized name; %s", o.ServerName, o.hint("name"))
	}
	return "the server aborted the handshake: alert " + text
}

func refused(r *ConnReport) {
	f := false
	r.ClientCertAccepted = &f
}

// requestStep sends HEAD on the connection and reads the answer: any HTTP
// response means the server took the connection (and our certificate).
func requestStep(r *ConnReport, o *ConnOptions, conn net.Conn, p *probe) Step {
	path := o.URL.RequestURI()
	_ = conn.SetDeadline(time.Now().Add(o.Timeout))
	req := fmt.Sprintf("HEAD %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: mtlsgate-diagnose\r\nConnection: close\r\n\r\n", path, o.URL.Host)
	var resp *http.Response
	_, err := io.WriteString(conn, req)
	if err == nil {
		resp, err = http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: http.MethodHead})
	}
	if err != nil {
		msg := err.Error()
		var ne net.Error
		switch {
		case strings.Contains(msg, "remote error: tls: "):
			return failStep("request", "refused", alertFailure(r, o, p, msg))
		case errors.As(err, &ne) && ne.Timeout():
			return failStep("request", "timeout", fmt.Sprintf("the server did not answer HEAD %s within %s", path, o.Timeout))
		case p.sent && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || strings.Contains(msg, "connection reset")):
			refused(r)
			return failStep("request", "refused", "the server closed the connection right after the handshake without answering: it most likely refused the client certificate (TLS 1.3 reports that only after the handshake)")
		case p.requested && !p.sent:
			return failStep("request", "refused", "the server closed the connection without answering: it most likely requires a client certificate, and none was sent; "+o.hint("cert"))
		}
		return failStep("request", "request_failed", fmt.Sprintf("HEAD %s failed: %v", path, err))
	}
	resp.Body.Close()
	r.HTTPStatus = resp.StatusCode
	d := fmt.Sprintf("HEAD %s answered %s", path, resp.Status)
	if p.sent {
		t := true
		r.ClientCertAccepted = &t
		d += ": the server accepted the client certificate"
	}
	return okStep("request", d)
}
