package est

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"net/http"
)

// authenticate decides who sent a simpleenroll or serverkeygen request;
// on failure it has answered. HTTP Basic credentials, when sent, are
// used; otherwise a bootstrap certificate the listener accepted for EST.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) (Credential, bool) {
	if s.o.Auth == nil && s.o.Bootstrap == nil {
		http.Error(w, "enrollment is not enabled on this server", http.StatusForbidden)
		return Credential{}, false
	}
	if r.Header.Get("Authorization") == "" && s.o.Bootstrap != nil {
		if chain := s.o.Bootstrap(r); len(chain) > 0 {
			return bootstrapCredential(chain[0], s.o.BootstrapAllowCN), true
		}
	}
	if s.o.Auth == nil {
		s.log.Info("est: no bootstrap certificate", "path", r.URL.Path, "remote", r.RemoteAddr)
		http.Error(w, "enrollment here needs a client certificate from the bootstrap CA", http.StatusUnauthorized)
		return Credential{}, false
	}
	cred, err := s.o.Auth.Authenticate(r)
	if err != nil {
		if errors.Is(err, ErrUnauthenticated) {
			s.log.Info("est: authentication failed", "path", r.URL.Path, "remote", r.RemoteAddr)
			unauthorized(w, "authentication required")
			return Credential{}, false
		}
		s.log.Error("est: authenticator failed", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return Credential{}, false
	}
	return cred, true
}

// bootstrapCredential is the credential of a bootstrap certificate: the
// names in allowCN, or its own common name only. Its ID is the
// certificate's SHA-256 fingerprint.
func bootstrapCredential(leaf *x509.Certificate, allowCN []string) Credential {
	sum := sha256.Sum256(leaf.Raw)
	fp := hex.EncodeToString(sum[:])
	allow := allowCN
	if len(allow) == 0 {
		allow = nil
		if cn := leaf.Subject.CommonName; cn != "" {
			allow = []string{escapeGlob(cn)}
		}
	}
	return Credential{
		Name:    "bootstrap certificate " + leaf.Subject.String() + " (issuer " + leaf.Issuer.String() + ", sha256 " + fp[:16] + ")",
		ID:      "bootstrap:" + fp,
		AllowCN: allow,
	}
}
