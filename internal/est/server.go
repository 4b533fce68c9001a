package est

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/mtlsgate/mtlsgate/internal/ca"
)

// PathPrefix is where EST lives (RFC 7030 §3.2.2).
const PathPrefix = "/.well-known/est/"

// MaxBodySize bounds request bodies; a base64 PKCS#10 request is a few KiB.
const MaxBodySize = 64 << 10

// Realm is the HTTP Basic realm announced on 401.
const Realm = "mtlsgate EST"

// DefaultRetryAfter is the Retry-After of a 202 when Options.RetryAfter is
// not set.
const DefaultRetryAfter = 60 * time.Second

// Signer issues certificates for EST.
type Signer interface {
	// Chain is the issuing CA first, then the root.
	Chain() []*x509.Certificate
	// SignCSR issues a certificate for a DER (or PEM) PKCS#10 request under
	// profile; edit, when not nil, may change the request before it is
	// checked against the profile. Errors are classified as package ca
	// classifies them (ca.ErrMalformedCSR, ca.ErrNotPermitted, ...).
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
	// Auth authenticates /simpleenroll and /serverkeygen. With neither
	// Auth nor Bootstrap, those are refused (403).
	Auth Authenticator
	// DefaultProfile is the CA profile for requests without a label; empty
	// means requests without a label get 404.
	DefaultProfile string
	// Labels maps an EST label (/.well-known/est/<label>/...) to a profile.
	Labels map[string]string
	// Reenrolled, when set, is called after a successful simplereenroll
	// with the certificate it replaces (to revoke it as superseded).
	Reenrolled func(ctx context.Context, old *x509.Certificate) error

	// ManualApproval lists the labels ("" for requests without one) whose
	// simpleenroll requests wait for an operator; it needs Queue.
	ManualApproval map[string]bool
	// Queue keeps those requests (a store.Store does).
	Queue Queue
	// RetryAfter is announced with 202 (default DefaultRetryAfter; whole
	// seconds).
	RetryAfter time.Duration

	// Bootstrap, when set, returns the verified chain (leaf first) of a
	// client certificate that the listener accepted for EST only, from a
	// bootstrap CA; nil when the connection has none. Such a certificate
	// authenticates simpleenroll and serverkeygen for the names
	// BootstrapAllowCN lists (globs), or, when it is empty, for its own
	// common name only. An Authorization header takes precedence.
	Bootstrap        func(*http.Request) []*x509.Certificate
	BootstrapAllowCN []string

	// ServerKeygen enables /serverkeygen (501 otherwise); keys are of
	// ServerKeyType (default ECDSA P-256), made here and never stored.
	ServerKeygen  bool
	ServerKeyType ca.KeyType

	// Observe, when set, is called once per request with the operation
	// ("cacerts", "simpleenroll", ..., "unknown") and its result ("ok",
	// "queued", "bad_request", "unauthorized", "refused", "not_found",
	// "error"), for metrics. It must be safe for concurrent use.
	Observe func(operation, result string)
	// Logger gets one line per refused or failed request (default:
	// discard). Private keys and passwords are never logged.
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Server is an http.Handler for the EST endpoints. Mount it at PathPrefix
// (it also accepts being given the full path). Safe for concurrent use.
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
	for label, manual := range o.ManualApproval {
		if _, ok := o.Labels[label]; label != "" && !ok {
			return nil, fmt.Errorf("est: manual approval for unknown label %q", label)
		}
		if manual && o.Queue == nil {
			return nil, errors.New("est: manual approval needs a queue")
		}
	}
	if o.RetryAfter <= 0 {
		o.RetryAfter = DefaultRetryAfter
	}
	if o.ServerKeyType == "" {
		o.ServerKeyType = ca.ECDSAP256
	}
	if _, err := ca.ParseKeyType(string(o.ServerKeyType)); err != nil {
		return nil, fmt.Errorf("est: server key type: %w", err)
	}
	if o.Now == nil {
		o.Now = time.Now
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

// statusWriter remembers the status for Observe.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach Flush.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// resultOf names a status for Observe.
func resultOf(status int) string {
	switch {
	case status == http.StatusAccepted:
		return "queued"
	case status < 300:
		return "ok"
	case status == http.StatusUnauthorized:
		return "unauthorized"
	case status == http.StatusForbidden:
		return "refused"
	case status == http.StatusNotFound || status == http.StatusMethodNotAllowed || status == http.StatusNotImplemented:
		return "not_found"
	case status < 500:
		return "bad_request"
	}
	return "error"
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	sw := &statusWriter{ResponseWriter: w}
	op := "unknown"
	defer func() {
		v := recover()
		if v != nil && v != http.ErrAbortHandler {
			s.log.Error("est: panic serving request", "path", r.URL.Path, "panic", fmt.Sprint(v))
			if sw.status == 0 {
				http.Error(sw, "internal error", http.StatusInternalServerError)
			}
		}
		if s.o.Observe != nil {
			s.o.Observe(op, resultOf(sw.status))
		}
		if v == http.ErrAbortHandler {
			panic(v)
		}
	}()
	rest, ok := strings.CutPrefix(r.URL.Path, PathPrefix)
	if !ok {
		http.NotFound(sw, r)
		return
	}
	parts := strings.Split(rest, "/")
	if last := parts[len(parts)-1]; isOperation(last) {
		op = last
	}
	profile, label := s.o.DefaultProfile, ""
	switch len(parts) {
	case 1:
		if profile == "" {
			http.Error(sw, "this EST server needs a label: /.well-known/est/<label>/"+parts[0], http.StatusNotFound)
			return
		}
	case 2:
		label = parts[0]
		p, ok := s.o.Labels[label]
		if !ok {
			http.Error(sw, fmt.Sprintf("unknown EST label %q", label), http.StatusNotFound)
			return
		}
		profile = p
	default:
		http.NotFound(sw, r)
		return
	}
	s.serve(sw, r, parts[len(parts)-1], profile, label)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request, op, profile, label string) {
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
	case "serverkeygen":
		if !s.o.ServerKeygen {
			http.Error(w, "EST serverkeygen is not enabled on this server (est.server_keygen)", http.StatusNotImplemented)
			return
		}
		if allow(w, r, http.MethodPost) {
			s.serverkeygen(w, r, profile, label)
		}
	case "fullcmc":
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

// manual reports whether simpleenroll under label waits for approval.
func (s *Server) manual(label string) bool { return s.o.ManualApproval[label] && s.o.Queue != nil }
