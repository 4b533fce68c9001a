package revocation

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ocsp"
)

// Checker answers revocation questions for one listener from memory:
// configured CRLs, CRLs of distribution points, and an OCSP cache. Safe for
// concurrent use. Create with New, start refreshing with Start, stop with
// Close.
type Checker struct {
	cfg                              Config
	log                              *slog.Logger
	sources                          []*source // configured CRLs
	crlEnabled                       bool
	cdpAllow, ocspAllow              *allowList
	urlClient, cdpClient, ocspClient *http.Client

	snap      atomic.Pointer[snapshot]
	rebuildMu sync.Mutex
	gen       atomic.Uint64
	stale     int // stale CRLs at the last maintain (loop goroutine only)

	cdp        atomic.Pointer[map[string]cdpEntry]
	cdpMu      sync.Mutex
	cdpCh      chan string
	cdpSources int
	cdpRefused int

	ocsp     ocspCache
	nextScan time.Time

	fetchSem  chan struct{}
	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	lifeMu    sync.Mutex
	closed    bool
	startOnce sync.Once

	decisions                        [8]stripedCounter
	ocspHits, ocspMisses, ocspErrors stripedCounter
	failOpen                         stripedCounter
}

// New validates cfg, reads the configured CRL files (an unreadable or
// invalid file is an error, so that configuration checks report it) and
// starts fetching the configured CRL URLs in the background. Nothing is
// refreshed until Start.
func New(cfg Config) (*Checker, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	c := &Checker{cfg: cfg, log: cfg.Logger, crlEnabled: len(cfg.CRLs) > 0 || cfg.UseCDP,
		cdpCh: make(chan string, cdpQueue), fetchSem: make(chan struct{}, maxFetches)}
	c.cdpAllow, _ = parseAllowList(cfg.CDPAllowHosts)
	c.ocspAllow, _ = parseAllowList(cfg.OCSPAllowHosts)
	c.initClients()
	c.ocsp.init(cfg.OCSPCacheSize)
	empty := map[string]cdpEntry{}
	c.cdp.Store(&empty)
	c.snap.Store(&snapshot{byIssuer: map[string][]*crl{}})
	c.ctx, c.cancel = context.WithCancel(context.Background())
	for _, s := range cfg.CRLs {
		src := &source{refresh: s.Refresh}
		if src.refresh == 0 {
			src.refresh = DefaultRefresh
		}
		if s.File != "" {
			src.kind, src.path, src.label, src.desc = kindFile, s.File, s.File, "CRL file "+s.File
		} else {
			src.kind, src.url, src.label, src.desc = kindURL, s.URL, s.URL, "CRL URL "+s.URL
		}
		c.sources = append(c.sources, src)
	}
	var errs []error
	for _, s := range c.sources {
		if s.kind == kindFile {
			if err := c.loadFile(s, true); err != nil {
				errs = append(errs, err)
			}
			s.nextAt = cfg.Now().Add(cfg.FilePoll)
		}
	}
	if err := errors.Join(errs...); err != nil {
		c.cancel()
		return nil, err
	}
	for _, s := range c.sources {
		if s.kind == kindURL {
			c.goFetch(c.ctx, s)
		}
	}
	if cfg.UseCDP {
		c.spawn(func() { c.cdpWorker(c.ctx) })
	}
	return c, nil
}

// spawn runs fn in a goroutine that Close waits for, unless the checker
// is closed.
func (c *Checker) spawn(fn func()) bool {
	c.lifeMu.Lock()
	defer c.lifeMu.Unlock()
	if c.closed {
		return false
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		fn()
	}()
	return true
}

// Start refreshes in the background until ctx ends or Close: polls CRL
// files, fetches CRL URLs and distribution points again when due,
// refreshes OCSP answers of recently seen certificates, and moves the
// generation when a CRL or an OCSP answer expires. Calls after the first
// do nothing.
func (c *Checker) Start(ctx context.Context) {
	c.startOnce.Do(func() {
		c.spawn(func() {
			t := time.NewTicker(time.Second)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-c.ctx.Done():
					return
				case <-t.C:
					c.maintain()
				}
			}
		})
	})
}

// maintain is one tick of the background loop.
func (c *Checker) maintain() {
	now := c.cfg.Now()
	for _, s := range c.allSources() {
		s.mu.Lock()
		due := !now.Before(s.nextAt)
		if due && s.kind == kindFile {
			s.nextAt = now.Add(c.cfg.FilePoll)
		}
		s.mu.Unlock()
		switch {
		case !due:
		case s.kind == kindFile:
			_ = c.loadFile(s, false)
		default:
			c.goFetch(c.ctx, s)
		}
	}
	stale := 0
	for _, list := range c.snap.Load().byIssuer {
		for _, l := range list {
			if l.hasNext && now.Unix() >= l.nextUpdate {
				stale++
			}
		}
	}
	if stale != c.stale {
		c.stale = stale
		c.gen.Add(1)
	}
	if !now.Before(c.nextScan) {
		c.nextScan = now.Add(ocspScanEvery)
		c.maintainOCSP(now)
	}
}

// Reload re-reads every CRL file and fetches every CRL URL and known
// distribution point now, and waits for them. A CRL that fails keeps the
// previous one in force; the errors are returned.
func (c *Checker) Reload(ctx context.Context) error {
	var errs []error
	for _, s := range c.sources {
		if s.kind == kindFile {
			if err := c.loadFile(s, true); err != nil {
				errs = append(errs, err)
			}
		}
	}
	errs = append(errs, c.fetchAll(ctx)...)
	return errors.Join(errs...)
}

// Close stops the background work and waits for it. Check keeps answering
// from memory.
func (c *Checker) Close() {
	c.lifeMu.Lock()
	c.closed = true
	c.lifeMu.Unlock()
	c.cancel()
	c.wg.Wait()
}

// Generation changes whenever Check's answers may have changed: a CRL was
// loaded or expired, an OCSP answer arrived, changed or expired.
func (c *Checker) Generation() uint64 { return c.gen.Load() }

func (c *Checker) allSources() []*source {
	if !c.cfg.UseCDP {
		return c.sources
	}
	return append(append([]*source(nil), c.sources...), c.cdpSourcesList()...)
}

// Check decides about a verified chain (leaf first, then its issuer, up to
// a trust anchor). It answers from memory, except in OCSPRequire mode
// without a fresh cached answer, where it waits at most OCSPTimeout. On
// the cached path it neither allocates nor takes a lock when the answer is
// OK. Only the leaf is checked against OCSP and the fail rules; each
// intermediate is refused if a CRL already loaded revokes it.
func (c *Checker) Check(chain []*x509.Certificate) Result {
	r := c.check(chain)
	var stripe []byte
	if len(chain) > 0 && chain[0] != nil {
		stripe = chain[0].Signature
	}
	c.decisions[codeIndex(r.Code)].add(stripe, 1)
	if r.FailOpen {
		c.failOpen.add(stripe, 1)
	}
	return r
}

func (c *Checker) check(chain []*x509.Certificate) Result {
	if len(chain) == 0 || chain[0] == nil {
		return Result{Revoked: true, Code: CodeInvalidChain, Reason: "no certificate to check"}
	}
	if len(chain) == 1 || chain[1] == nil {
		// The leaf is itself a trust anchor: nobody above it can revoke it.
		return Result{}
	}
	leaf, issuer := chain[0], chain[1]
	now := c.cfg.Now()
	nowSec := now.Unix()
	snap := c.snap.Load()
	for i := 1; i+1 < len(chain) && c.crlEnabled; i++ {
		if chain[i+1] == nil {
			break
		}
		if ans := c.lookupCRL(snap, chain[i], chain[i+1], serialOf(chain[i]), nowSec); ans.state == crlRevoked {
			return revokedByCRL(chain[i], ans, "intermediate CA ")
		}
	}
	serial := serialOf(leaf)
	var crlAns crlAnswer
	if c.crlEnabled {
		if c.cfg.UseCDP && len(leaf.CRLDistributionPoints) > 0 {
			c.noteCDP(leaf.CRLDistributionPoints)
		}
		crlAns = c.lookupCRL(snap, leaf, issuer, serial, nowSec)
		if crlAns.state == crlRevoked {
			return revokedByCRL(leaf, crlAns, "")
		}
	}
	url := ocspURL(leaf)
	if c.cfg.OCSP == OCSPOff {
		return c.fromCRL(snap, leaf, issuer, crlAns, "")
	}
	if url == "" {
		// Nothing to ask: the CRLs decide, in require mode too.
		if crlAns.state == crlGood {
			return Result{Source: crlAns.l.src.label}
		}
		return c.fromCRL(snap, leaf, issuer, crlAns, fmt.Sprintf("certificate %s names no http(s) OCSP responder", describe(leaf)))
	}
	nowNS := now.UnixNano()
	k := c.ocsp.key(leaf.RawIssuer, issuer.RawSubjectPublicKeyInfo, serial)
	e := c.ocsp.lookup(k, leaf.RawIssuer, issuer.RawSubjectPublicKeyInfo, serial)
	if e != nil && e.lastSeen.Load() < nowSec {
		e.lastSeen.Store(nowSec)
	}
	if e != nil && e.fresh(nowNS) {
		c.ocspHits.add(serial, 1)
		switch e.ans.status {
		case ocsp.Good:
			return Result{Source: e.q.url}
		case ocsp.Revoked:
			return e.revoked
		}
	} else {
		c.ocspMisses.add(serial, 1)
		retry := e == nil || !e.failed || nowNS >= e.retryAt
		if c.cfg.OCSP == OCSPRequire && retry {
			e = c.ocspWait(k, leaf, issuer, serial, url, e)
			if e != nil && e.fresh(nowNS) && e.ans.status != ocsp.Unknown {
				if e.ans.status == ocsp.Revoked {
					return e.revoked
				}
				return Result{Source: e.q.url}
			}
		} else if retry {
			c.ocspStart(k, c.newQuery(leaf, issuer, serial, url), string(leaf.RawIssuer), true, e)
		}
	}
	// No usable OCSP verdict.
	var why string
	code := CodeOCSPUnavailable
	switch {
	case e != nil && e.fresh(nowNS): // unknown
		code = CodeOCSPUnknown
		why = fmt.Sprintf("the OCSP responder %s does not know certificate %s", url, describe(leaf))
	case e != nil && e.failed:
		why = fmt.Sprintf("the OCSP responder %s could not be used for certificate %s: %s", url, describe(leaf), e.err)
	case c.cfg.OCSP == OCSPRequire:
		why = fmt.Sprintf("no answer from the OCSP responder %s for certificate %s within %s", url, describe(leaf), c.cfg.OCSPTimeout)
	default:
		why = fmt.Sprintf("no OCSP answer for certificate %s is cached yet; the responder %s is being asked in the background", describe(leaf), url)
	}
	if c.cfg.OCSP == OCSPRequire {
		return failure(c.cfg.OnUnavailable, "on_unavailable", code, url, why)
	}
	return c.fromCRL(snap, leaf, issuer, crlAns, why)
}

// fromCRL turns a CRL answer into a Result; ocspWhy explains why OCSP did
// not decide (empty when it was not asked).
func (c *Checker) fromCRL(snap *snapshot, leaf, issuer *x509.Certificate, a crlAnswer, ocspWhy string) Result {
	switch {
	case a.state == crlGood:
		return Result{Source: a.l.src.label}
	case a.state == crlStale:
		why := fmt.Sprintf("the CRL for certificate %s (%s) expired at %s (nextUpdate) and no newer one could be loaded",
			describe(leaf), a.l.src.desc, unixUTC(a.l.nextUpdate).Format(time.RFC3339))
		if ocspWhy != "" {
			why = ocspWhy + "; " + why
		}
		return failure(c.cfg.StaleCRL, "stale_crl", CodeCRLStale, a.l.src.label, why)
	case !c.crlEnabled && ocspWhy == "":
		return Result{} // nothing configured for this certificate
	case !c.crlEnabled:
		return failure(c.cfg.OnUnavailable, "on_unavailable", CodeOCSPUnavailable, "", ocspWhy)
	}
	why := fmt.Sprintf("certificate %s: %s", describe(leaf), c.explainNoCRL(snap, leaf, issuer))
	code := CodeCRLUnavailable
	if ocspWhy != "" {
		why = ocspWhy + "; " + why
		code = CodeOCSPUnavailable
	}
	return failure(c.cfg.OnUnavailable, "on_unavailable", code, "", why)
}

func revokedByCRL(cert *x509.Certificate, a crlAnswer, what string) Result {
	at := unixUTC(a.at)
	num := ""
	if a.l.number != nil {
		num = ", CRL number " + a.l.number.String()
	}
	return Result{Revoked: true, Code: CodeRevoked, Source: a.l.src.label, RevokedAt: at, RevocationReason: a.reason,
		Reason: fmt.Sprintf("%scertificate %s was revoked at %s (reason %s) according to the %s (issuer %q%s); issue a new certificate",
			what, describe(cert), at.Format(time.RFC3339), ReasonName(a.reason), a.l.src.desc, issuerString(a.l.issuer), num)}
}

func describe(cert *x509.Certificate) string {
	return fmt.Sprintf("%q (serial %s)", cert.Subject.String(), cert.SerialNumber.Text(16))
}

// serialOf returns the canonical serial octets of cert without allocating
// for certificates parsed by crypto/x509.
func serialOf(cert *x509.Certificate) []byte {
	if s, ok := certSerial(cert); ok {
		return s
	}
	return serialBytesOf(cert)
}

// ocspURL returns the first http(s) OCSP responder of cert, or "".
func ocspURL(cert *x509.Certificate) string {
	for _, u := range cert.OCSPServer {
		if len(u) > 7 && (u[:7] == "http://" || (len(u) > 8 && u[:8] == "https://")) {
			return u
		}
	}
	return ""
}

func (c *Checker) newQuery(leaf, issuer *x509.Certificate, serial []byte, url string) *ocspQuery {
	sn := leaf.SerialNumber
	if sn == nil {
		sn = new(big.Int)
	}
	return &ocspQuery{serial: append([]byte(nil), serial...), serialBig: sn, issuer: c.ocsp.canonicalIssuer(issuer), url: url,
		subject: leaf.Subject.String()}
}

// ocspWait queries (or joins the query) for the leaf and waits at most
// OCSPTimeout (plus a little) for the answer. nil: no answer. seen is the
// cache entry the caller found (see ocspStart).
func (c *Checker) ocspWait(k uint64, leaf, issuer *x509.Certificate, serial []byte, url string, seen *ocspEntry) *ocspEntry {
	call := c.ocspStart(k, c.newQuery(leaf, issuer, serial, url), string(leaf.RawIssuer), false, seen)
	if call == nil {
		return nil
	}
	t := time.NewTimer(c.cfg.OCSPTimeout + 250*time.Millisecond)
	defer t.Stop()
	select {
	case <-call.done:
		return call.e
	case <-t.C:
		return nil
	case <-c.ctx.Done():
		return nil
	}
}
