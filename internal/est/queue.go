package est

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mtlsgate/mtlsgate/internal/store"
)

// PendingLifetime is how long a queued request waits for a decision, and
// how long a decided one answers its client's retries.
const PendingLifetime = 7 * 24 * time.Hour

// Queue keeps simpleenroll requests under manual approval; store.Store is
// one. See store.Store for the methods' contracts.
type Queue interface {
	CreatePending(ctx context.Context, p store.Pending, now time.Time, a store.Audit) (store.Pending, bool, error)
	FindPending(ctx context.Context, matchKey string, now time.Time) (store.Pending, error)
	Certificate(ctx context.Context, serial string) (store.Certificate, error)
}

var _ Queue = store.Store(nil)

// enqueue answers a simpleenroll under manual approval whose names the
// credential may ask for: the outcome of the same request queued before,
// or a new queued request.
func (s *Server) enqueue(w http.ResponseWriter, r *http.Request, cred *Credential, csr *x509.CertificateRequest, profile, label string) {
	ctx, now := r.Context(), s.o.Now()
	key := matchKey(cred.ID, label, csr)
	p, err := s.o.Queue.FindPending(ctx, key, now)
	switch {
	case err == nil:
		s.answerPending(w, r, p)
		return
	case !errors.Is(err, store.ErrNotFound):
		s.refuse(w, r, "est: looking up queued requests", err)
		return
	}
	if cred.PollOnly {
		unauthorized(w, "this enrollment token was already used, and no request it queued matches this one (same key, subject and names) or that request has expired")
		return
	}
	// A token is used up here, when its request is queued, so it cannot
	// queue a second one; it then only collects this one's outcome.
	if !s.spend(w, cred) {
		return
	}
	id, err := newRequestID()
	if err != nil {
		s.refuse(w, r, "est: request ID", err)
		return
	}
	p = store.Pending{
		ID: id, MatchKey: key, Label: label, Profile: profile, CN: csr.Subject.CommonName, SANs: sanStrings(csr),
		Credential: cred.Name, KeyType: KeyTypeName(csr.PublicKey), CSR: csr.Raw,
		CreatedAt: now.UTC(), ExpiresAt: now.Add(PendingLifetime).UTC(), Status: store.PendingWaiting,
	}
	audit := store.Audit{Time: now.UTC(), Actor: "est:" + cred.Name, Action: "est-queue",
		Detail: fmt.Sprintf("request %s profile=%s cn=%q sans=%q key=%s label=%q", id, profile, p.CN, strings.Join(p.SANs, ","), p.KeyType, label)}
	got, found, err := s.o.Queue.CreatePending(ctx, p, now, audit)
	if err != nil {
		s.refuse(w, r, "est: queuing a request", err)
		return
	}
	if !found {
		s.log.Info("est: request queued for approval", "id", got.ID, "credential", cred.Name, "cn", got.CN, "profile", profile, "label", label)
	}
	s.answerPending(w, r, got)
}

// answerPending tells the client where its queued request stands.
func (s *Server) answerPending(w http.ResponseWriter, r *http.Request, p store.Pending) {
	switch p.Status {
	case store.PendingWaiting:
		secs := max(int(s.o.RetryAfter/time.Second), 1)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		writeText(w, http.StatusAccepted, fmt.Sprintf("request %s is waiting for approval; send the same request again in %d seconds\n", p.ID, secs))
	case store.PendingApproved:
		c, err := s.o.Queue.Certificate(r.Context(), p.Serial)
		if err != nil {
			s.refuse(w, r, "est: reading the certificate of request "+p.ID, err)
			return
		}
		cert, err := x509.ParseCertificate(c.DER)
		if err != nil {
			s.refuse(w, r, "est: the stored certificate of request "+p.ID, err)
			return
		}
		s.writeCert(w, cert)
	case store.PendingRejected:
		msg := fmt.Sprintf("request %s was rejected", p.ID)
		if p.Reason != "" {
			msg += ": " + p.Reason
		}
		http.Error(w, msg, http.StatusForbidden)
	default:
		s.refuse(w, r, "est: request "+p.ID, fmt.Errorf("unknown state %q", p.Status))
	}
}

// writeText answers with a short text body, its head flushed first (see
// writeCertsOnly).
func writeText(w http.ResponseWriter, status int, body string) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_ = http.NewResponseController(w).Flush()
	_, _ = w.Write([]byte(body))
}

// matchKey identifies retries of one request: the same credential, label,
// public key, subject and SANs.
func matchKey(credID, label string, csr *x509.CertificateRequest) string {
	h := sha256.New()
	for _, f := range [][]byte{[]byte("mtlsgate est pending v1"), []byte(credID), []byte(label),
		csr.RawSubjectPublicKeyInfo, csr.RawSubject, []byte(strings.Join(sortedSANs(csr), "\n"))} {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(f)))
		h.Write(n[:])
		h.Write(f)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func sortedSANs(csr *x509.CertificateRequest) []string {
	s := sanStrings(csr)
	slices.Sort(s)
	return s
}

// sanStrings lists a CSR's SANs as "kind:value".
func sanStrings(csr *x509.CertificateRequest) []string {
	var out []string
	for _, d := range csr.DNSNames {
		out = append(out, "dns:"+d)
	}
	for _, ip := range csr.IPAddresses {
		out = append(out, "ip:"+ip.String())
	}
	for _, e := range csr.EmailAddresses {
		out = append(out, "email:"+e)
	}
	for _, u := range csr.URIs {
		out = append(out, "uri:"+u.String())
	}
	return out
}

// newRequestID is 16 random hex digits.
func newRequestID() (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return hex.EncodeToString(b[:]), nil
}

// KeyTypeName names a public key as ca.KeyType does ("ecdsa-p256",
// "rsa-2048", "ed25519").
func KeyTypeName(pub any) string {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		return "ecdsa-" + strings.ToLower(strings.ReplaceAll(k.Curve.Params().Name, "-", ""))
	case *rsa.PublicKey:
		return fmt.Sprintf("rsa-%d", k.N.BitLen())
	case ed25519.PublicKey:
		return "ed25519"
	}
	return fmt.Sprintf("%T", pub)
}
