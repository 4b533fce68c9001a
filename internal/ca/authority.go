package ca

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mtlsgate/mtlsgate/internal/certload"
	"github.com/mtlsgate/mtlsgate/internal/store"
)

// Authority is an opened CA directory: the issuing CA's certificate and key,
// its settings and its store. Safe for concurrent use.
type Authority struct {
	dir      string
	settings *compiled
	root     *x509.Certificate
	inter    *x509.Certificate
	interKey crypto.Signer
	st       store.Store
	ownStore bool
	actor    string
	now      func() time.Time

	revoked revokedSet
	// interRevoked is set when root.crl lists the issuing CA: every
	// certificate it issued is then refused.
	interRevoked atomic.Pointer[store.Revocation]
	rootMu       sync.Mutex // guards rootCRLMod
	rootCRLMod   time.Time

	crlMu sync.Mutex // serialises CRL generation so numbers match content
}

// Options tune Open.
type Options struct {
	// Actor is recorded in the audit log for every operation ("cli:alice@host",
	// "serve"). Default: Actor().
	Actor string
	// Store overrides the CA directory's SQLite store (tests, PostgreSQL).
	// The Authority does not close a store it was given.
	Store store.Store
	// Now overrides the clock (tests).
	Now func() time.Time
}

// DefaultActor names the local user and host, for the audit log.
func DefaultActor(prefix string) string {
	name := "unknown"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	host, _ := os.Hostname()
	return fmt.Sprintf("%s:%s@%s", prefix, name, host)
}

// ErrNoCA means the directory holds no CA (run "mtlsgate ca init").
var ErrNoCA = errors.New("no CA here")

// Open loads the CA in dir. It does not need the root key.
func Open(dir string, o Options) (*Authority, error) {
	if _, err := os.Stat(filepath.Join(dir, IntermediateCertFile)); errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("CA directory %s: %w: %s is missing (create a CA with: mtlsgate ca init --dir %s)", dir, ErrNoCA, IntermediateCertFile, dir)
	}
	settings, err := loadSettings(dir)
	if err != nil {
		return nil, err
	}
	a := &Authority{dir: dir, settings: settings, actor: o.Actor, now: o.Now}
	if a.actor == "" {
		a.actor = DefaultActor("cli")
	}
	if a.now == nil {
		a.now = time.Now
	}
	if err := a.loadCerts(); err != nil {
		return nil, err
	}
	a.st = o.Store
	if a.st == nil {
		s, err := store.OpenSQLite(filepath.Join(dir, StoreFile))
		if err != nil {
			return nil, err
		}
		a.st, a.ownStore = s, true
	}
	if err := a.SyncRevocations(context.Background()); err != nil {
		a.Close()
		return nil, err
	}
	return a, nil
}

func (a *Authority) loadCerts() error {
	rootBundle, err := certload.LoadTrustBundle(certload.TrustSpec{File: filepath.Join(a.dir, RootCertFile)})
	if err != nil {
		return err
	}
	if len(rootBundle.Certs) != 1 {
		return fmt.Errorf("%s: want exactly one certificate, found %d", filepath.Join(a.dir, RootCertFile), len(rootBundle.Certs))
	}
	a.root = rootBundle.Certs[0]
	kp, err := certload.LoadKeyPair(certload.KeyPairSpec{
		Cert: filepath.Join(a.dir, IntermediateCertFile),
		Key:  filepath.Join(a.dir, IntermediateKeyFile),
	})
	if err != nil {
		return err
	}
	a.inter = kp.Leaf
	signer, ok := kp.PrivateKey.(crypto.Signer)
	if !ok {
		return fmt.Errorf("%s: key cannot sign", filepath.Join(a.dir, IntermediateKeyFile))
	}
	a.interKey = signer
	if !a.inter.IsCA {
		return fmt.Errorf("%s: not a CA certificate", filepath.Join(a.dir, IntermediateCertFile))
	}
	if err := a.inter.CheckSignatureFrom(a.root); err != nil {
		return fmt.Errorf("%s is not signed by %s: %w", IntermediateCertFile, RootCertFile, err)
	}
	return nil
}

// Close releases the store if Open opened it.
func (a *Authority) Close() error {
	if a.ownStore && a.st != nil {
		return a.st.Close()
	}
	return nil
}

// Dir is the CA directory.
func (a *Authority) Dir() string { return a.dir }

// Root is the root CA certificate.
func (a *Authority) Root() *x509.Certificate { return a.root }

// Intermediate is the issuing CA certificate.
func (a *Authority) Intermediate() *x509.Certificate { return a.inter }

// Chain is the issuing chain without the root (intermediate only), as
// served in chain files and EST cacerts alongside the root.
func (a *Authority) Chain() []*x509.Certificate { return []*x509.Certificate{a.inter} }

// Store is the CA's store.
func (a *Authority) Store() store.Store { return a.st }

// CRLURL and OCSPURL are the published endpoints ("" when publish_url is unset).
func (a *Authority) CRLURL() string  { return a.settings.crlURL }
func (a *Authority) OCSPURL() string { return a.settings.ocspURL }

// CRLValidity and OCSPValidity are the configured update intervals.
func (a *Authority) CRLValidity() time.Duration  { return a.settings.crlValidity }
func (a *Authority) OCSPValidity() time.Duration { return a.settings.ocspValidity }

// Profile returns a profile by name.
func (a *Authority) Profile(name string) (*Profile, error) {
	p, ok := a.settings.profiles[name]
	if !ok {
		return nil, fmt.Errorf("unknown profile %q (have %s)", name, profileNames(a.settings.profiles))
	}
	return p, nil
}

// IssuedBy reports whether cert was signed by this CA's issuing certificate
// (name and key identifier match; the signature is checked by whoever
// verified the chain).
func (a *Authority) IssuedBy(cert *x509.Certificate) bool {
	if !bytes.Equal(cert.RawIssuer, a.inter.RawSubject) {
		return false
	}
	return len(cert.AuthorityKeyId) == 0 || bytes.Equal(cert.AuthorityKeyId, a.inter.SubjectKeyId)
}

func (a *Authority) audit(action, serial, detail string) store.Audit {
	return store.Audit{Time: a.now().UTC(), Actor: a.actor, Action: action, Serial: serial, Detail: detail}
}

// revokedSet is the in-memory view of the store's revocations: O(1) lookup
// by serial for handshakes and OCSP, refreshed by SyncRevocations.
type revokedSet struct {
	mu      sync.RWMutex
	bySer   map[string]store.Revocation // key: serial as big-endian bytes
	lastSeq int64
	gen     atomic.Uint64
}
