package gateway

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"sync"
	"time"

	"github.com/mtlsgate/mtlsgate/internal/identity"
)

// maxVerifiedChains bounds the verified-chain cache of one listener.
const (
	maxVerifiedChains = 10000
	verifiedChainTTL  = 5 * time.Minute
)

// chainVerifier verifies client certificate chains against one trust bundle
// and remembers the chains it verified. Fleets of clients reconnect with the
// same certificate over and over; building and signature-checking the chain
// is a large share of a full handshake, so a chain verified a moment ago is
// not verified again. What is cached is only the chain-building result for
// the exact bytes the client sent: the handshake signature that proves the
// client holds the key is checked by crypto/tls on every handshake.
//
// An entry lives at most verifiedChainTTL and never past the earliest
// NotAfter in its chain; failures are never cached, and entries are keyed by
// the leaf, so filling the cache takes as many distinct valid certificates. A reload builds a new
// verifier, so a changed trust bundle takes effect at once. Safe for
// concurrent use.
type chainVerifier struct {
	roots *x509.CertPool
	now   func() time.Time
	// revocation, when set, is consulted after every verification (cached
	// or not): it answers from memory and changes its generation whenever
	// its answers may have changed.
	revocation revocationChecker
	// bootstrap, when set (the EST listener with est.bootstrap_ca), admits
	// at the handshake a chain that fails roots but verifies against it.
	// Such a chain never becomes an identity (verify does not know it, so
	// it is not cached with the others); only EST reads it, see
	// bootstrapChain. Set while the state is built, never after.
	bootstrap *x509.CertPool

	mu      sync.Mutex
	entries map[[sha256.Size]byte]*verified
}

// verified is a cached verification: the chain and the identity built from
// it, shared by every connection that presents the same certificates.
type verified struct {
	chain   []*x509.Certificate
	id      *identity.Identity
	expires time.Time
}

func newChainVerifier(roots *x509.CertPool, now func() time.Time) *chainVerifier {
	return &chainVerifier{roots: roots, now: now, entries: map[[sha256.Size]byte]*verified{}}
}

// leafKey keys the cache by the leaf certificate alone. Extra certificates
// a client appends must not create new entries (VerifyConnection runs
// before crypto/tls checks the client's signature, so a client without the
// key could otherwise fill the cache with one public certificate). A leaf
// that verified once chains to a trusted root whatever intermediates it is
// sent with later, so this weakens nothing.
func leafKey(certs []*x509.Certificate) [sha256.Size]byte {
	return sha256.Sum256(certs[0].Raw)
}

// verify returns the verified chain for the certificates a client sent
// (leaf first), from the cache or by verifying them as crypto/tls would
// (trust bundle, intermediates from the client, clientAuth usage, now). Its
// error is a *tls.CertificateVerificationError, as crypto/tls returns.
func (v *chainVerifier) verify(certs []*x509.Certificate) (*verified, error) {
	now := v.now()
	key := leafKey(certs)
	v.mu.Lock()
	e := v.entries[key]
	v.mu.Unlock()
	if e != nil && now.Before(e.expires) {
		return e, nil
	}
	chains, err := verifyClientChain(v.roots, now, certs)
	if err != nil {
		return nil, &tls.CertificateVerificationError{UnverifiedCertificates: certs, Err: err}
	}
	expires := now.Add(verifiedChainTTL)
	for _, c := range chains[0] {
		if c.NotAfter.Before(expires) {
			expires = c.NotAfter
		}
	}
	e = &verified{chain: chains[0], id: identity.FromChain(chains[0]), expires: expires}
	v.mu.Lock()
	if _, exists := v.entries[key]; !exists && len(v.entries) >= maxVerifiedChains {
		// Drop one entry (map iteration starts at a random place): the
		// cache is an optimisation, never a source of truth, and eviction
		// stays O(1) under the lock.
		for k := range v.entries {
			delete(v.entries, k)
			break
		}
	}
	v.entries[key] = e
	v.mu.Unlock()
	return e, nil
}

// verifyConnection is the listener's tls.Config.VerifyConnection. It runs
// on full and resumed handshakes, so a session resumed after a reload is
// checked against the current trust bundle too.
func (v *chainVerifier) verifyConnection(required bool) func(tls.ConnectionState) error {
	return func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			if required {
				return errNoClientCert
			}
			return nil
		}
		e, err := v.verify(cs.PeerCertificates)
		if err != nil {
			if _, berr := v.verifyBootstrap(cs.PeerCertificates); berr == nil {
				return nil // EST only; no identity (see bootstrapChain)
			}
			return err
		}
		err, _ = v.revocationStatus(e.chain)
		return err
	}
}

// verifyBootstrap verifies certs (leaf first) against the bootstrap CA, as
// verify does against the trust bundle but without the cache: enrollments
// are rare, and a bootstrap chain must never be found where verify looks.
// Revocation is not checked: the bootstrap CA is not the built-in CA, and
// its revocation data is not configured here.
func (v *chainVerifier) verifyBootstrap(certs []*x509.Certificate) ([]*x509.Certificate, error) {
	if v == nil || v.bootstrap == nil || len(certs) == 0 {
		return nil, errNoBootstrap
	}
	chains, err := verifyClientChain(v.bootstrap, v.now(), certs)
	if err != nil {
		return nil, err
	}
	return chains[0], nil
}

var errNoBootstrap = errors.New("no bootstrap CA on this listener")

// revocationChecker says whether a verified chain's leaf is revoked, from
// memory (it never blocks a handshake on the network).
type revocationChecker interface {
	// Check returns a *diagnose.RevokedError for a revoked leaf, else nil.
	Check(chain []*x509.Certificate) error
	// Generation changes whenever Check's answers may have changed.
	Generation() uint64
}

// revocationStatus is the verdict on a verified chain: a refusal, or nil
// with the fail-open code when a fail_open rule let it through.
func (v *chainVerifier) revocationStatus(chain []*x509.Certificate) (refusal error, failOpen string) {
	if v == nil || v.revocation == nil {
		return nil, ""
	}
	err := v.revocation.Check(chain)
	var n *failOpenNotice
	if errors.As(err, &n) {
		return nil, n.code
	}
	return err, ""
}

func (v *chainVerifier) revocationGeneration() uint64 {
	if v == nil || v.revocation == nil {
		return 0
	}
	return v.revocation.Generation()
}

// errNoClientCert matches crypto/tls's wording so diagnose explains it.
var errNoClientCert = errors.New("tls: client didn't provide a certificate")

// verifyClientChain verifies certs (leaf first, then the intermediates the
// client sent) up to roots for client authentication at now.
func verifyClientChain(roots *x509.CertPool, now time.Time, certs []*x509.Certificate) ([][]*x509.Certificate, error) {
	opts := x509.VerifyOptions{
		Roots:         roots,
		CurrentTime:   now,
		Intermediates: x509.NewCertPool(),
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	for _, c := range certs[1:] {
		opts.Intermediates.AddCert(c)
	}
	return certs[0].Verify(opts)
}
