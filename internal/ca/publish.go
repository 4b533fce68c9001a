package ca

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"log/slog"
	"math/big"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mtlsgate/mtlsgate/internal/ocspresp"
	"github.com/mtlsgate/mtlsgate/internal/store"
)

// Publisher serves a CA over HTTP for serve: GET /ca/crl (DER),
// /ca/root.pem, /ca/chain.pem, and the OCSP responder at /ca/ocsp (GET and
// POST). Tick keeps it current: it picks up revocations made by other
// processes, re-signs the CRL when revocations change and before its
// nextUpdate, and renews the delegated OCSP responder certificate.
type Publisher struct {
	a    *Authority
	log  *slog.Logger
	ocsp *ocspresp.Responder
	mux  *http.ServeMux

	crl       atomic.Pointer[CRL]
	signerMu  sync.Mutex
	signerExp time.Time // NotAfter of the current OCSP signer
	signerAt  time.Time // when to renew it

	rootWarned time.Time // last warning about root.crl's nextUpdate

	// CRLs and OCSPSignerRenewals count work done, for metrics.
	CRLs, OCSPSignerRenewals, Failures atomic.Uint64
}

// NewPublisher prepares a publisher: it signs the first CRL and issues the
// first OCSP responder certificate, so it answers as soon as it is mounted.
// Call Tick periodically to keep it current.
func NewPublisher(ctx context.Context, a *Authority, log *slog.Logger) (*Publisher, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p := &Publisher{a: a, log: log}
	p.ocsp = ocspresp.New(a.inter, statusSource{a}, ocspresp.Options{Validity: a.settings.ocspValidity, Now: a.now, Logger: log, CacheSize: ocspCacheSize})
	if err := p.renewSigner(ctx); err != nil {
		return nil, err
	}
	if err := p.refreshCRL(ctx); err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ca/crl", p.serveCRL)
	mux.HandleFunc("GET /ca/root.pem", p.servePEM(func() []*x509.Certificate { return []*x509.Certificate{a.root} }))
	mux.HandleFunc("GET /ca/root.crl", p.serveRootCRL)
	mux.HandleFunc("GET /ca/root.crt", p.serveDER(a.root))
	mux.HandleFunc("GET /ca/intermediate.crt", p.serveDER(a.inter))
	mux.HandleFunc("GET /ca/chain.pem", p.servePEM(func() []*x509.Certificate { return []*x509.Certificate{a.inter, a.root} }))
	mux.Handle("/ca/ocsp", http.StripPrefix("/ca/ocsp", p.ocsp))
	p.mux = mux
	return p, nil
}

// ServeHTTP serves the /ca/ endpoints. OCSP GET requests carry base64 in
// the path, which may hold "//" or "/./"; they go to the responder before
// ServeMux would clean (and so corrupt) the path.
func (p *Publisher) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if rest, ok := strings.CutPrefix(r.URL.Path, "/ca/ocsp/"); ok {
		r2 := *r
		u := *r.URL
		u.Path, u.RawPath = rest, ""
		r2.URL = &u
		p.ocsp.ServeHTTP(w, &r2)
		return
	}
	p.mux.ServeHTTP(w, r)
}

// OCSPStats are the responder's counters.
func (p *Publisher) OCSPStats() (requests, cacheHits, errors uint64) { return p.ocsp.Stats() }

// CurrentCRL is the CRL being served.
func (p *Publisher) CurrentCRL() *CRL { return p.crl.Load() }

func (p *Publisher) serveCRL(w http.ResponseWriter, _ *http.Request) {
	c := p.crl.Load()
	h := w.Header()
	h.Set("Content-Type", "application/pkix-crl")
	h.Set("Content-Length", strconv.Itoa(len(c.DER)))
	h.Set("Last-Modified", c.ThisUpdate.UTC().Format(http.TimeFormat))
	h.Set("Expires", c.NextUpdate.UTC().Format(http.TimeFormat))
	h.Set("Cache-Control", "no-cache") // revocations apply at once; clients revalidate
	_, _ = w.Write(c.DER)
}

func (p *Publisher) servePEM(certs func() []*x509.Certificate) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/x-pem-file")
		_, _ = w.Write(CertPEM(certs()...))
	}
}

// serveRootCRL serves root.crl (signed offline with the root key by "ca
// init" and "ca root-crl").
func (p *Publisher) serveRootCRL(w http.ResponseWriter, _ *http.Request) {
	der, ok := p.a.RootCRL()
	if !ok {
		http.Error(w, "no root CRL: sign one with mtlsgate ca root-crl", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/pkix-crl")
	_, _ = w.Write(der)
}

// serveDER serves one certificate as application/pkix-cert (the AIA
// caIssuers format, RFC 5280 §4.2.2.1).
func (p *Publisher) serveDER(c *x509.Certificate) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/pkix-cert")
		_, _ = w.Write(c.Raw)
	}
}

// Tick keeps the publisher current; serve calls it every revocation_poll.
// It loads revocations made by other processes (calling onRevocations when
// there were any), re-signs the CRL when they changed or it is past half its
// validity, and renews the OCSP responder certificate when due.
func (p *Publisher) Tick(ctx context.Context, onRevocations func()) {
	before := p.a.RevocationGeneration()
	if err := p.a.SyncRevocations(ctx); err != nil {
		p.fail("reading revocations from the CA store failed; retrying", err)
		return
	}
	gen := p.a.RevocationGeneration()
	if gen != before && onRevocations != nil {
		onRevocations()
	}
	now := p.a.now()
	if c := p.crl.Load(); c.Generation != gen || now.After(c.ThisUpdate.Add(c.NextUpdate.Sub(c.ThisUpdate)/2)) {
		if err := p.refreshCRL(ctx); err != nil {
			p.fail("re-signing the CRL failed; the previous one is still served", err)
		}
	}
	p.warnRootCRL(now)
	p.signerMu.Lock()
	due := now.After(p.signerAt)
	p.signerMu.Unlock()
	if due {
		if err := p.renewSigner(ctx); err != nil {
			p.fail("renewing the OCSP responder certificate failed; the current one stays in use", err)
		}
	}
}

// RootCRLNextUpdate is root.crl's nextUpdate (zero without one).
func (p *Publisher) RootCRLNextUpdate() time.Time {
	crl, err := p.a.readRootCRL()
	if err != nil {
		return time.Time{}
	}
	return crl.NextUpdate
}

// warnRootCRL logs, at most daily, when root.crl is missing, invalid or
// within 30 days of its nextUpdate: clients that check the whole chain
// refuse every certificate once it is stale, and only the root key holder
// can re-sign it.
func (p *Publisher) warnRootCRL(now time.Time) {
	if now.Sub(p.rootWarned) < 24*time.Hour {
		return
	}
	crl, err := p.a.readRootCRL()
	switch {
	case err != nil:
		p.log.Warn("the root CRL is missing or invalid; sign one with: mtlsgate ca root-crl", "ca", p.a.dir, "error", err.Error())
	case crl.NextUpdate.Sub(now) < 30*day:
		p.log.Warn("the root CRL is due for re-signing; run: mtlsgate ca root-crl", "ca", p.a.dir, "next_update", crl.NextUpdate)
	default:
		return
	}
	p.rootWarned = now
}

func (p *Publisher) fail(msg string, err error) {
	p.Failures.Add(1)
	p.log.Error(msg, "ca", p.a.dir, "error", err.Error())
}

func (p *Publisher) refreshCRL(ctx context.Context) error {
	c, err := p.a.NewCRL(ctx)
	if err != nil {
		return err
	}
	p.crl.Store(c)
	p.CRLs.Add(1)
	p.log.Info("CRL signed", "number", c.Number, "entries", c.Entries, "next_update", c.NextUpdate)
	return nil
}

// ocspCacheSize bounds the signed OCSP responses kept (about 1 KiB each).
const ocspCacheSize = 10_000

// ocspSignerTTL is the delegated responder certificate's lifetime. It
// carries id-pkix-ocsp-nocheck (clients do not check its revocation), so it
// is kept short (RFC 6960 §4.2.2.2.1) and renewed at 2/3 of it.
const ocspSignerTTL = 7 * day

var oidOCSPNoCheck = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1, 5}

func (p *Publisher) renewSigner(ctx context.Context) error {
	cert, key, err := p.a.NewOCSPSigner(ctx, ocspSignerTTL)
	if err != nil {
		return err
	}
	p.ocsp.SetSigner(ocspresp.Signer{Cert: cert, Key: key})
	life := cert.NotAfter.Sub(cert.NotBefore)
	jitter := time.Duration(rand.Int64N(int64(life / 20)))
	p.signerMu.Lock()
	p.signerExp = cert.NotAfter
	p.signerAt = cert.NotBefore.Add(life*2/3 - jitter)
	p.signerMu.Unlock()
	p.OCSPSignerRenewals.Add(1)
	return nil
}

// NewOCSPSigner issues a delegated OCSP responder certificate (EKU
// OCSPSigning, id-pkix-ocsp-nocheck) with a fresh key, recorded in the store.
func (a *Authority) NewOCSPSigner(ctx context.Context, ttl time.Duration) (*x509.Certificate, crypto.Signer, error) {
	if err := a.checkIssuerUsable(); err != nil {
		return nil, nil, err
	}
	key, err := GenerateKey(KeyTypeOf(a.interKey.Public()))
	if err != nil {
		return nil, nil, err
	}
	now := a.now()
	skid, err := subjectKeyID(key.Public())
	if err != nil {
		return nil, nil, err
	}
	serial, err := newSerial()
	if err != nil {
		return nil, nil, err
	}
	notAfter := now.Add(ttl).UTC().Truncate(time.Second)
	if notAfter.After(a.inter.NotAfter) {
		notAfter = a.inter.NotAfter
	}
	null, _ := asn1.Marshal(asn1.NullRawValue)
	t := &x509.Certificate{
		SerialNumber: serial,
		Subject:      subjectLike(a.inter, "OCSP Responder"),
		NotBefore:    now.Add(-clockSkew).UTC().Truncate(time.Second), NotAfter: notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageOCSPSigning},
		BasicConstraintsValid: true,
		SubjectKeyId:          skid,
		ExtraExtensions:       []pkix.Extension{{Id: oidOCSPNoCheck, Value: null}},
	}
	cert, err := a.signAndStore(ctx, t, key.Public(), "ocsp-responder", nil, IssueRequest{Action: "issue"})
	if err != nil {
		return nil, nil, fmt.Errorf("OCSP responder certificate: %w", err)
	}
	return cert, key, nil
}

// statusSource answers OCSP status from the revoked set.
type statusSource struct{ a *Authority }

func (s statusSource) Status(serial *big.Int) ocspresp.Status {
	if r := s.a.interRevoked.Load(); r != nil && s.a.issuedSerial(serial) {
		return ocspresp.Status{State: ocspresp.Revoked, RevokedAt: r.RevokedAt, Reason: r.Reason}
	}
	if r, ok := s.a.RevokedSerial(serial); ok {
		return ocspresp.Status{State: ocspresp.Revoked, RevokedAt: r.RevokedAt, Reason: r.Reason}
	}
	if s.a.issuedSerial(serial) {
		return ocspresp.Status{State: ocspresp.Good}
	}
	return ocspresp.Status{State: ocspresp.Unknown}
}

// issuedSerial reports whether the store holds a certificate with serial.
func (a *Authority) issuedSerial(serial *big.Int) bool {
	if serial == nil || serial.Sign() <= 0 {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	ok, err := a.st.Issued(ctx, store.SerialHex(serial))
	return err == nil && ok
}

// subjectLike names a certificate after the CA's organisation.
func subjectLike(ca *x509.Certificate, cn string) pkix.Name {
	return pkix.Name{CommonName: ca.Subject.CommonName + " " + cn, Organization: ca.Subject.Organization}
}

// KeyTypeOf picks the key type matching an existing public key.
func KeyTypeOf(pub crypto.PublicKey) KeyType {
	switch pub := pub.(type) {
	case *ecdsa.PublicKey:
		if pub.Curve == elliptic.P384() || pub.Curve == elliptic.P521() {
			return ECDSAP384
		}
		return ECDSAP256
	case *rsa.PublicKey:
		if pub.N.BitLen() > 2048 {
			return RSA3072
		}
		return RSA2048
	case ed25519.PublicKey:
		return Ed25519
	}
	return ECDSAP256
}
