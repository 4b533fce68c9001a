package est

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"

	"github.com/mtlsgate/mtlsgate/internal/ca"
)

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

// writeCert answers with one issued certificate.
func (s *Server) writeCert(w http.ResponseWriter, cert *x509.Certificate) bool {
	der, err := EncodeCertsOnly([]*x509.Certificate{cert})
	if err != nil {
		s.log.Error("est: encoding issued certificate", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return false
	}
	writeCertsOnly(w, der)
	return true
}

// readCSR reads and parses the request body and checks its channel
// binding; on failure it has answered.
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
		s.refuse(w, r, "est: bad CSR", err)
		return nil, nil, false
	}
	if err := checkChannelBinding(r.TLS, csr); err != nil {
		s.log.Info("est: channel binding refused", "path", r.URL.Path, "remote", r.RemoteAddr, "err", err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return nil, nil, false
	}
	return data, csr, true
}

// refuse answers a failure from the CA (or its store) with the status its
// class calls for: 400 for a malformed or invalid request and 403 for one
// the profile or policy refuses, each with the CA's reason, and 500 with a
// generic body for anything else (the details go to the log only). It is
// the one place where such errors become responses.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, msg string, err error, logAttrs ...any) {
	logAttrs = append([]any{"path", r.URL.Path, "err", err}, logAttrs...)
	switch {
	case r.Context().Err() != nil:
		http.Error(w, "request cancelled", http.StatusServiceUnavailable)
	case errors.Is(err, ca.ErrMalformedCSR), errors.Is(err, ca.ErrInvalidRequest):
		s.log.Info(msg, logAttrs...)
		http.Error(w, "certificate request refused: "+err.Error(), http.StatusBadRequest)
	case errors.Is(err, ca.ErrNotPermitted), errors.Is(err, ca.ErrIssuerRevoked):
		s.log.Info(msg, logAttrs...)
		http.Error(w, "certificate request refused: "+err.Error(), http.StatusForbidden)
	default:
		s.log.Error(msg, logAttrs...)
		http.Error(w, "internal error", http.StatusInternalServerError)
	}
}

// checkNames checks the CSR's names against what the credential may ask
// for; on failure it has answered 403.
func (s *Server) checkNames(w http.ResponseWriter, cred *Credential, csr *x509.CertificateRequest) bool {
	if !cred.AllowsCN(csr.Subject.CommonName) {
		s.log.Info("est: CN not allowed", "credential", cred.Name, "cn", csr.Subject.CommonName)
		http.Error(w, fmt.Sprintf("%s may not enroll common name %q", cred.Name, csr.Subject.CommonName), http.StatusForbidden)
		return false
	}
	// The names the credential may ask for bind the SANs too: DNS names
	// must match the same patterns, and other kinds are not requested
	// through a name-bound credential.
	for _, d := range csr.DNSNames {
		if !cred.AllowsCN(d) {
			http.Error(w, fmt.Sprintf("%s may not enroll DNS name %q", cred.Name, d), http.StatusForbidden)
			return false
		}
	}
	if len(csr.IPAddresses)+len(csr.EmailAddresses)+len(csr.URIs) > 0 {
		http.Error(w, fmt.Sprintf("%s may only ask for DNS names matching its allowed names; the CSR asks for IP, e-mail or URI names", cred.Name), http.StatusForbidden)
		return false
	}
	return true
}

// spend uses up a one-time credential; on failure it has answered 401.
func (s *Server) spend(w http.ResponseWriter, cred *Credential) bool {
	if cred.Spend == nil {
		return true
	}
	if err := cred.Spend(); err != nil {
		s.log.Info("est: credential could not be used", "credential", cred.Name, "err", err)
		unauthorized(w, "this enrollment token was already used or has expired")
		return false
	}
	return true
}

func unauthorized(w http.ResponseWriter, msg string) {
	w.Header().Set("WWW-Authenticate", `Basic realm="`+Realm+`"`)
	http.Error(w, msg, http.StatusUnauthorized)
}

func (s *Server) simpleenroll(w http.ResponseWriter, r *http.Request, profile, label string) {
	cred, ok := s.authenticate(w, r)
	if !ok {
		return
	}
	data, csr, ok := s.readCSR(w, r)
	if !ok || !s.checkNames(w, &cred, csr) {
		return
	}
	if s.manual(label) {
		s.enqueue(w, r, &cred, csr, profile, label)
		return
	}
	if cred.PollOnly {
		unauthorized(w, "this enrollment token was already used or has expired")
		return
	}
	if !s.spend(w, &cred) {
		return
	}
	detail := fmt.Sprintf("EST simpleenroll by %s", cred.Name)
	if cert, ok := s.issue(w, r, data, profile, label, detail, nil); ok {
		s.writeCert(w, cert)
	}
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
	cert, ok := s.issue(w, r, data, profile, label, detail, nil)
	if !ok || !s.writeCert(w, cert) || s.o.Reenrolled == nil {
		return
	}
	if err := s.o.Reenrolled(r.Context(), old); err != nil {
		s.log.Error("est: the replaced certificate could not be revoked", "serial", old.SerialNumber.Text(16), "err", err)
	}
}

// issuedHere reports whether cert was signed by the issuing CA.
func (s *Server) issuedHere(cert *x509.Certificate) bool {
	chain := s.o.Signer.Chain()
	return len(chain) > 0 && chain[0] != nil && cert.CheckSignatureFrom(chain[0]) == nil
}

// issue signs; on failure it has answered.
func (s *Server) issue(w http.ResponseWriter, r *http.Request, data []byte, profile, label, detail string, edit func(*ca.IssueRequest)) (*x509.Certificate, bool) {
	if label != "" {
		detail += " (label " + label + ")"
	}
	cert, err := s.o.Signer.SignCSR(WithDetail(r.Context(), detail), data, profile, edit)
	if err != nil {
		s.refuse(w, r, "est: signing refused", err, "profile", profile, "detail", detail)
		return nil, false
	}
	return cert, true
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
