// Package est is the core of an RFC 7030 Enrollment over Secure Transport
// server: /cacerts, /simpleenroll, /simplereenroll and /csrattrs under
// /.well-known/est/, with an optional label segment that selects a CA
// profile. It signs through a Signer (FromAuthority adapts the built-in CA)
// and authenticates first enrollments through an Authenticator; re-enrollment
// uses the TLS client certificate the listener already verified.
package est

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/mtlsgate/mtlsgate/internal/ca"
)

// PathPrefix is where EST lives (RFC 7030 §3.2.2).
const PathPrefix = "/.well-known/est/"

// MaxBodySize bounds request bodies; a base64 PKCS#10 request is a few KiB.
const MaxBodySize = 64 << 10

// Realm is the HTTP Basic realm announced on 401.
const Realm = "mtlsgate EST"

// Signer issues certificates for EST.
type Signer interface {
	// Chain is the issuing CA first, then the root.
	Chain() []*x509.Certificate
	// SignCSR issues a certificate for a DER (or PEM) PKCS#10 request under
	// profile; edit, when not nil, may change the request before it is
	// checked against the profile.
	SignCSR(ctx context.Context, csrDER []byte, profile string, edit func(*ca.IssueRequest)) (*x509.Certificate, error)
}

type detailKey struct{}

// WithDetail attaches an audit-log detail to ctx; FromAuthority's signer
// records it with the issuance.
func WithDetail(ctx context.Context, detail string) context.Context {
	return context.WithValue(ctx, detailKey{}, detail)
}

func detailFrom(ctx context.Context) string {
	s, _ := ctx.Value(detailKey{}).(string)
	return s
}

type authoritySigner struct{ a *ca.Authority }

// FromAuthority adapts the built-in CA to Signer. Issuances are audited with
// action "est-enroll" and the detail from WithDetail.
func FromAuthority(a *ca.Authority) Signer { return authoritySigner{a} }

func (s authoritySigner) Chain() []*x509.Certificate {
	return []*x509.Certificate{s.a.Intermediate(), s.a.Root()}
}

func (s authoritySigner) SignCSR(ctx context.Context, data []byte, profile string, edit func(*ca.IssueRequest)) (*x509.Certificate, error) {
	iss, err := s.a.SignCSRWith(ctx, data, profile, 0, "est-enroll", detailFrom(ctx), edit)
	if err != nil {
		return nil, err
	}
	return iss.Cert, nil
}

// Options configure a Server.
type Options struct {
	Signer Signer
	// Auth authenticates /simpleenroll. Nil refuses every simpleenroll.
	Auth Authenticator
	// DefaultProfile is the CA profile for requests without a label; empty
	// means requests without a label get 404.
	DefaultProfile string
	// Labels maps an EST label (/.well-known/est/<label>/...) to a profile.
	Labels map[string]string
	// Reenrolled, when set, is called after a successful simplereenroll
	// with the certificate it replaces (to revoke it as superseded).
	Reenrolled func(ctx context.Context, old *x509.Certificate) error
	// Logger gets one line per refused or failed request (default: discard).
	Logger *slog.Logger
}

// Server is an http.Handler for the EST endpoints. Mount it at PathPrefix
// (it also accepts being given the full path).
type Server struct {
	o   Options
	log *slog.Logger
}

// NewServer checks the options and returns a handler.
func NewServer(o Options) (*Server, error) {
	if o.Signer == nil {
		return nil, errors.New("est: no signer")
	}
	if len(o.Signer.Chain()) == 0 {
		return nil, errors.New("est: the signer has no CA certificates")
	}
	for label := range o.Labels {
		if !validLabel(label) {
			return nil, fmt.Errorf("est: label %q: use letters, digits, '-', '_' or '.'", label)
		}
		if isOperation(label) {
			return nil, fmt.Errorf("est: label %q is an EST operation name", label)
		}
	}
	l := o.Logger
	if l == nil {
		l = slog.New(slog.DiscardHandler)
	}
	return &Server{o: o, log: l}, nil
}

func validLabel(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range s {
		ok := c == '-' || c == '_' || c == '.' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
		if !ok {
			return false
		}
	}
	return s != "." && s != ".."
}

func isOperation(s string) bool {
	switch s {
	case "cacerts", "simpleenroll", "simplereenroll", "csrattrs", "serverkeygen", "fullcmc":
		return true
	}
	return false
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.log.Error("est: panic serving request", "path", r.URL.Path, "panic", fmt.Sprint(v))
			http.Error(w, "internal error", http.StatusInternalServerError)
		}
	}()
	rest, ok := strings.CutPrefix(r.URL.Path, PathPrefix)
	if !ok {
		http.NotFound(w, r)
		return
	}
	parts := strings.Split(rest, "/")
	profile, label := s.o.DefaultProfile, ""
	switch len(parts) {
	case 1:
		if profile == "" {
			http.Error(w, "this EST server needs a label: /.well-known/est/<label>/"+parts[0], http.StatusNotFound)
			return
		}
	case 2:
		label = parts[0]
		p, ok := s.o.Labels[label]
		if !ok {
			http.Error(w, fmt.Sprintf("unknown EST label %q", label), http.StatusNotFound)
			return
		}
		profile = p
	default:
		http.NotFound(w, r)
		return
	}
	op := parts[len(parts)-1]
	switch op {
	case "cacerts":
		if allow(w, r, http.MethodGet, http.MethodHead) {
			s.cacerts(w)
		}
	case "csrattrs":
		if allow(w, r, http.MethodGet, http.MethodHead) {
			w.WriteHeader(http.StatusNoContent)
		}
	case "simpleenroll":
		if allow(w, r, http.MethodPost) {
			s.simpleenroll(w, r, profile, label)
		}
	case "simplereenroll":
		if allow(w, r, http.MethodPost) {
			s.simplereenroll(w, r, profile, label)
		}
	case "serverkeygen", "fullcmc":
		http.Error(w, "EST "+op+" is not supported", http.StatusNotImplemented)
	default:
		http.NotFound(w, r)
	}
}

// allow answers 405 with an Allow header unless r uses one of methods.
func allow(w http.ResponseWriter, r *http.Request, methods ...string) bool {
	if slices.Contains(methods, r.Method) {
		return true
	}
	w.Header().Set("Allow", strings.Join(methods, ", "))
	http.Error(w, "method "+r.Method+" not allowed", http.StatusMethodNotAllowed)
	return false
}

func (s *Server) cacerts(w http.ResponseWriter) {
	der, err := EncodeCertsOnly(s.o.Signer.Chain())
	if err != nil {
		s.log.Error("est: encoding cacerts", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	writeCertsOnly(w, der)
}

// writeCertsOnly sends a certs-only PKCS#7 as RFC 7030 wants it: base64 on
// one line (strongSwan refuses wrapped lines) ending in a newline (libest
// refuses a body without one).
func writeCertsOnly(w http.ResponseWriter, der []byte) {
	body := base64.StdEncoding.EncodeToString(der) + "\n"
	h := w.Header()
	h.Set("Content-Type", "application/pkcs7-mime; smime-type=certs-only")
	h.Set("Content-Transfer-Encoding", "base64")
	h.Set("Content-Length", fmt.Sprint(len(body)))
	w.WriteHeader(http.StatusOK)
	// strongSwan's EST client reads the head and the body with separate
	// reads; send them in separate TLS records so the second read always
	// has something to read.
	_ = http.NewResponseController(w).Flush()
	io.WriteString(w, body)
}

// readCSR reads and parses the request body; on failure it has answered.
func (s *Server) readCSR(w http.ResponseWriter, r *http.Request) ([]byte, *x509.CertificateRequest, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodySize))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			http.Error(w, fmt.Sprintf("request body is larger than %d bytes", MaxBodySize), http.StatusRequestEntityTooLarge)
			return nil, nil, false
		}
		http.Error(w, "reading request body: "+err.Error(), http.StatusBadRequest)
		return nil, nil, false
	}
	data, err := decodeCSRBody(body)
	if err != nil {
		s.log.Info("est: malformed request", "path", r.URL.Path, "err", err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return nil, nil, false
	}
	csr, err := ca.ParseCSR(data)
	if err != nil {
		s.log.Info("est: bad CSR", "path", r.URL.Path, "err", err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return nil, nil, false
	}
	return data, csr, true
}

func (s *Server) simpleenroll(w http.ResponseWriter, r *http.Request, profile, label string) {
	if s.o.Auth == nil {
		http.Error(w, "simpleenroll is not enabled on this server", http.StatusForbidden)
		return
	}
	cred, err := s.o.Auth.Authenticate(r)
	if err != nil {
		if errors.Is(err, ErrUnauthenticated) {
			s.log.Info("est: authentication failed", "path", r.URL.Path, "remote", r.RemoteAddr)
			w.Header().Set("WWW-Authenticate", `Basic realm="`+Realm+`"`)
			http.Error(w, "authentication required", http.StatusUnauthorized)
			return
		}
		s.log.Error("est: authenticator failed", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	data, csr, ok := s.readCSR(w, r)
	if !ok {
		return
	}
	if !cred.AllowsCN(csr.Subject.CommonName) {
		s.log.Info("est: CN not allowed", "credential", cred.Name, "cn", csr.Subject.CommonName)
		http.Error(w, fmt.Sprintf("%s may not enroll common name %q", cred.Name, csr.Subject.CommonName), http.StatusForbidden)
		return
	}
	// The names the credential may ask for bind the SANs too: DNS names
	// must match the same patterns, and other kinds are not requested
	// through a name-bound credential.
	for _, d := range csr.DNSNames {
		if !cred.AllowsCN(d) {
			http.Error(w, fmt.Sprintf("%s may not enroll DNS name %q", cred.Name, d), http.StatusForbidden)
			return
		}
	}
	if len(csr.IPAddresses)+len(csr.EmailAddresses)+len(csr.URIs) > 0 {
		http.Error(w, fmt.Sprintf("%s may only ask for DNS names matching its allow_cn; the CSR asks for IP, e-mail or URI names", cred.Name), http.StatusForbidden)
		return
	}
	if cred.Spend != nil {
		if err := cred.Spend(); err != nil {
			s.log.Info("est: credential could not be used", "credential", cred.Name, "err", err)
			w.Header().Set("WWW-Authenticate", `Basic realm="`+Realm+`"`)
			http.Error(w, "this enrollment token was already used or has expired", http.StatusUnauthorized)
			return
		}
	}
	detail := fmt.Sprintf("EST simpleenroll by %s", cred.Name)
	s.sign(w, r, data, profile, label, detail, nil)
}

func (s *Server) simplereenroll(w http.ResponseWriter, r *http.Request, profile, label string) {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		http.Error(w, "simplereenroll needs the certificate being renewed as the TLS client certificate", http.StatusForbidden)
		return
	}
	old := r.TLS.PeerCertificates[0]
	if !s.issuedHere(old) {
		http.Error(w, "the TLS client certificate was not issued by this CA", http.StatusForbidden)
		return
	}
	data, csr, ok := s.readCSR(w, r)
	if !ok {
		return
	}
	if err := sameIdentity(old, csr); err != nil {
		s.log.Info("est: reenroll identity mismatch", "serial", old.SerialNumber.Text(16), "err", err)
		http.Error(w, err.Error(), http.StatusForbidden)
		return
	}
	detail := fmt.Sprintf("EST simplereenroll of serial %s", old.SerialNumber.Text(16))
	if s.sign(w, r, data, profile, label, detail, nil) && s.o.Reenrolled != nil {
		if err := s.o.Reenrolled(r.Context(), old); err != nil {
			s.log.Error("est: the replaced certificate could not be revoked", "serial", old.SerialNumber.Text(16), "err", err)
		}
	}
}

// issuedHere reports whether cert was signed by the issuing CA.
func (s *Server) issuedHere(cert *x509.Certificate) bool {
	chain := s.o.Signer.Chain()
	return len(chain) > 0 && chain[0] != nil && cert.CheckSignatureFrom(chain[0]) == nil
}

// sign issues and answers; it reports whether a certificate was sent.
func (s *Server) sign(w http.ResponseWriter, r *http.Request, data []byte, profile, label, detail string, edit func(*ca.IssueRequest)) bool {
	if label != "" {
		detail += " (label " + label + ")"
	}
	cert, err := s.o.Signer.SignCSR(WithDetail(r.Context(), detail), data, profile, edit)
	if err != nil {
		if ctxErr := r.Context().Err(); ctxErr != nil {
			http.Error(w, "request cancelled", http.StatusServiceUnavailable)
			return false
		}
		// The CA's errors describe what is wrong with the request (profile
		// rules, names); say so to the client.
		s.log.Info("est: signing refused", "profile", profile, "detail", detail, "err", err)
		http.Error(w, "certificate request refused: "+err.Error(), http.StatusBadRequest)
		return false
	}
	der, err := EncodeCertsOnly([]*x509.Certificate{cert})
	if err != nil {
		s.log.Error("est: encoding issued certificate", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return false
	}
	writeCertsOnly(w, der)
	return true
}

// sameIdentity checks RFC 7030 §4.2.2: a re-enrollment request keeps the
// subject and the subjectAltNames of the certificate being renewed.
func sameIdentity(old *x509.Certificate, csr *x509.CertificateRequest) error {
	if !bytes.Equal(old.RawSubject, csr.RawSubject) && old.Subject.String() != csr.Subject.String() {
		return fmt.Errorf("re-enrollment must keep the subject %q; the request has %q", old.Subject, csr.Subject)
	}
	if !sameStrings(old.DNSNames, csr.DNSNames) || !sameStrings(old.EmailAddresses, csr.EmailAddresses) ||
		!sameStrings(ipStrings(old.IPAddresses), ipStrings(csr.IPAddresses)) || !sameStrings(uriStrings(old.URIs), uriStrings(csr.URIs)) {
		return errors.New("re-enrollment must keep the subject alternative names of the certificate being renewed")
	}
	return nil
}

func sameStrings(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}

func ipStrings(ips []net.IP) []string {
	out := make([]string, 0, len(ips))
	for _, ip := range ips {
		out = append(out, ip.String())
	}
	return out
}

func uriStrings(us []*url.URL) []string {
	out := make([]string, 0, len(us))
	for _, u := range us {
		out = append(out, u.String())
	}
	return out
}
