// Package ocspresp is an RFC 6960 OCSP responder for one issuing CA: an
// http.Handler answering GET (RFC 6960 appendix A.1, RFC 5019) and POST
// requests from an in-memory status Source, signing with a delegated
// responder certificate (or the issuer) that can be swapped while serving.
package ocspresp

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"fmt"
	"log/slog"
	"math/big"
	"sync/atomic"
	"time"
)

// State is a certificate's revocation state. The zero value is Unknown, so a
// Source that returns Status{} for a serial it does not know never vouches
// for it.
type State int

// States, as reported in a SingleResponse's certStatus.
const (
	Unknown State = iota
	Good
	Revoked
)

// String names the state as RFC 6960 does.
func (s State) String() string {
	switch s {
	case Good:
		return "good"
	case Revoked:
		return "revoked"
	case Unknown:
		return "unknown"
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// Status is what a Source knows about one serial number.
type Status struct {
	State State
	// RevokedAt and Reason (an RFC 5280 CRLReason; 0, unspecified, is sent
	// as an absent reason) apply to Revoked only.
	RevokedAt time.Time
	Reason    int
}

// equal compares two statuses, ignoring the revocation fields unless both
// are Revoked, and comparing RevokedAt to the second as it is encoded.
func (s Status) equal(o Status) bool {
	if s.State != o.State {
		return false
	}
	if s.State != Revoked {
		return true
	}
	return s.Reason == o.Reason &&
		s.RevokedAt.Truncate(time.Second).Equal(o.RevokedAt.Truncate(time.Second))
}

// Source reports the status of a serial number issued by the responder's
// issuer. It is called on every request (including those answered from the
// cache), so it must be cheap (an in-memory lookup) and safe for concurrent
// use.
type Source interface {
	Status(serial *big.Int) Status
}

// SourceFunc adapts a function to Source.
type SourceFunc func(serial *big.Int) Status

// Status calls f.
func (f SourceFunc) Status(serial *big.Int) Status { return f(serial) }

// Options tune a Responder. Zero values give the defaults.
type Options struct {
	// Validity is nextUpdate - thisUpdate of every response (default 1h).
	// Cached responses are re-signed once half of it has passed.
	Validity time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// MaxBody bounds a POST body and a decoded GET request (default 16 KiB).
	MaxBody int64
	// Logger receives request problems at Debug and signing failures at
	// Error (default slog.Default()).
	Logger *slog.Logger
	// CacheSize bounds the number of cached responses (default
	// DefaultCacheSize; negative disables the cache).
	CacheSize int
}

// Defaults for Options.
const (
	DefaultValidity = time.Hour
	DefaultMaxBody  = 16 << 10
)

// issuerHashes are the CertID issuer hashes of the issuer under one hash
// algorithm.
type issuerHashes struct {
	hash      crypto.Hash
	name, key []byte
}

// Responder answers OCSP requests about certificates issued by one CA. It is
// safe for concurrent use; SetSigner may be called while it serves.
type Responder struct {
	issuer   *x509.Certificate
	hashes   []issuerHashes
	src      Source
	validity time.Duration
	now      func() time.Time
	maxBody  int64
	log      *slog.Logger
	cache    *responseCache
	signer   atomic.Pointer[signerState]

	requests, cacheHits, failures atomic.Uint64
}

// New returns a Responder for certificates issued by issuer, reporting the
// statuses src gives. It answers tryLater until SetSigner is called.
func New(issuer *x509.Certificate, src Source, opts Options) *Responder {
	r := &Responder{
		issuer:   issuer,
		src:      src,
		validity: opts.Validity,
		now:      opts.Now,
		maxBody:  opts.MaxBody,
		log:      opts.Logger,
		cache:    newResponseCache(opts.CacheSize),
	}
	if r.validity <= 0 {
		r.validity = DefaultValidity
	}
	if r.now == nil {
		r.now = time.Now
	}
	if r.maxBody <= 0 {
		r.maxBody = DefaultMaxBody
	}
	if r.log == nil {
		r.log = slog.Default()
	}
	r.hashes = computeIssuerHashes(issuer, r.log)
	return r
}

// computeIssuerHashes hashes the issuer's subject and public key under every
// supported algorithm. A missing or unparsable issuer yields none, so every
// request is answered unauthorized.
func computeIssuerHashes(issuer *x509.Certificate, log *slog.Logger) []issuerHashes {
	if issuer == nil {
		log.Error("ocsp responder has no issuer certificate; every request will be unauthorized")
		return nil
	}
	key, err := subjectPublicKeyBytes(issuer.RawSubjectPublicKeyInfo)
	if err != nil {
		log.Error("ocsp responder cannot hash its issuer's public key; every request will be unauthorized",
			"issuer", issuer.Subject.String(), "err", err)
		return nil
	}
	var out []issuerHashes
	for _, sh := range supportedHashes {
		h := sh.hash.New()
		h.Write(issuer.RawSubject)
		name := h.Sum(nil)
		h.Reset()
		h.Write(key)
		out = append(out, issuerHashes{hash: sh.hash, name: name, key: h.Sum(nil)})
	}
	return out
}

// SetSigner installs the key and certificate that sign responses from now
// on, atomically: in-flight requests finish with the previous one, cached
// responses signed by it are not served again. A Signer without certificate
// or key, or one that cannot sign at all (key not matching the certificate,
// unsupported key type), clears the signer, so that requests are answered
// tryLater. A signer that fails CheckSigner is installed anyway, with a
// warning logged: call CheckSigner first to refuse it.
func (r *Responder) SetSigner(s Signer) {
	st, err := prepareSigner(r.issuer, s)
	if err != nil {
		if s.Cert != nil || s.Key != nil {
			r.log.Error("ocsp signer unusable; answering tryLater until a usable one is set", "err", err)
		}
		r.signer.Store(nil)
		return
	}
	if err := CheckSigner(r.issuer, s, r.now()); err != nil {
		r.log.Warn("ocsp signer installed but clients may reject its responses", "err", err)
	}
	r.signer.Store(st)
}

// Stats reports the number of HTTP requests handled, how many were answered
// from the cache, and how many did not get a signed response (malformed,
// unauthorized, tryLater, internalError, or an HTTP-level rejection).
func (r *Responder) Stats() (requests, cacheHits, errors uint64) {
	return r.requests.Load(), r.cacheHits.Load(), r.failures.Load()
}

// answer is the outcome of one OCSP request.
type answer struct {
	der []byte
	// signed is true for a successful response; v, refreshAt and nonce are
	// set only then.
	signed    bool
	nonce     bool
	v         validity
	refreshAt time.Time
}

// failure returns an unsigned error response.
func failure(der []byte) answer { return answer{der: der} }

// respond turns a DER request into a response. It never panics: a panic in
// the Source or the key is logged and answered internalError.
func (r *Responder) respond(der []byte) (a answer) {
	defer func() {
		if p := recover(); p != nil {
			r.log.Error("ocsp responder: panic while answering", "panic", fmt.Sprint(p))
			a = failure(internalErrResponse)
		}
	}()
	req, err := ParseRequest(der)
	if err != nil {
		r.log.Debug("ocsp: malformed request", "err", err)
		return failure(malformedResponse)
	}
	st := r.signer.Load()
	if st == nil {
		return failure(tryLaterResponse)
	}
	matched, anyMatch := r.match(req.IDs)
	if !anyMatch {
		r.log.Debug("ocsp: request for another issuer", "certids", len(req.IDs))
		return failure(unauthorizedResponse)
	}
	if len(req.IDs) == 1 && req.Nonce == nil {
		return r.respondCached(st, req.IDs[0])
	}
	answers := make([]singleAnswer, len(req.IDs))
	for i, id := range req.IDs {
		answers[i] = singleAnswer{id: id} // Unknown for a foreign issuer (RFC 6960 §2.2)
		if matched[i] {
			answers[i].status = r.src.Status(id.Serial)
		}
	}
	a = r.signFresh(st, answers, req.Nonce)
	a.nonce = req.Nonce != nil
	return a
}

// match reports, per CertID, whether it names the issuer, and whether any
// does.
func (r *Responder) match(ids []CertID) ([]bool, bool) {
	matched := make([]bool, len(ids))
	anyMatch := false
	for i, id := range ids {
		for _, h := range r.hashes {
			if h.hash == id.Hash && bytes.Equal(h.name, id.IssuerNameHash) && bytes.Equal(h.key, id.IssuerKeyHash) {
				matched[i], anyMatch = true, true
				break
			}
		}
	}
	return matched, anyMatch
}

// respondCached answers a single CertID without nonce, from the cache when
// the cached response is still usable.
func (r *Responder) respondCached(st *signerState, id CertID) answer {
	status := r.src.Status(id.Serial)
	key := newCacheKey(id)
	now := r.now()
	if e := r.cache.get(key); e != nil {
		refreshAt := e.v.thisUpdate.Add(r.validity / 2)
		if e.usable(st, status, now, refreshAt) {
			r.cacheHits.Add(1)
			return answer{der: e.der, signed: true, v: e.v, refreshAt: refreshAt}
		}
	}
	a := r.signFresh(st, []singleAnswer{{id: id, status: status}}, nil)
	if a.signed {
		r.cache.put(key, &cacheEntry{signer: st, status: status, v: a.v, der: a.der})
	}
	return a
}

// signFresh signs a response valid from now.
func (r *Responder) signFresh(st *signerState, answers []singleAnswer, nonce []byte) answer {
	now := r.now().UTC().Truncate(time.Second)
	v := validity{thisUpdate: now, nextUpdate: now.Add(r.validity)}
	der, err := st.sign(answers, nonce, v)
	if err != nil {
		r.log.Error("ocsp responder cannot sign", "err", err)
		return failure(internalErrResponse)
	}
	return answer{der: der, signed: true, v: v, refreshAt: now.Add(r.validity / 2)}
}
