package revocation

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// sourceKind says where a CRL comes from.
type sourceKind uint8

const (
	kindFile sourceKind = iota
	kindURL
	kindCDP
)

// source is one place CRLs are loaded from. Its CRL in force changes only
// through install, under mu.
type source struct {
	kind    sourceKind
	label   string // metric label and Result.Source: the path or URL
	desc    string // for sentences: "CRL file x", "CRL URL y"
	path    string // file
	url     string // URL and CDP
	refresh time.Duration

	mu       sync.Mutex
	current  *crl
	prevGood *crl // kept while current has not been verified yet
	// issuers that verified this source's CRLs: new CRLs are checked
	// against them at load.
	issuers []*x509.Certificate
	// Fetch and poll state.
	modTime      time.Time
	size         int64
	etag         string
	lastModified string
	nextAt       time.Time // next fetch (URL, CDP) or poll (file)
	failures     int
	lastErr      string
	lastErrAt    time.Time
	lastOK       time.Time
	// fetchMu is held while a URL or CDP source is fetched; queued is set
	// while a background fetch waits for a slot.
	fetchMu sync.Mutex
	queued  atomic.Bool

	loadsOK, loadsUnchanged, loadsErr atomic.Uint64
}

// crl is a parsed CRL in force for a source.
type crl struct {
	*parsedCRL
	src      *source
	loadedAt time.Time

	mu       sync.Mutex // serializes signature checks
	verifs   atomic.Pointer[[]verification]
	verified atomic.Bool // verified against some issuer
	bad      atomic.Bool // failed against an issuer whose name and key id match
}

// verification is a cached signature check of a CRL against one issuer.
type verification struct {
	issuer *x509.Certificate
	err    error
}

const maxVerifsPerCRL = 8

// matchesIssuer reports whether the CRL may have been signed by issuer:
// same name, and the same key identifier when both are present.
func (l *crl) matchesIssuer(issuer *x509.Certificate) bool {
	if l.issuer != string(issuer.RawSubject) {
		return false
	}
	return len(l.akid) == 0 || len(issuer.SubjectKeyId) == 0 || bytes.Equal(l.akid, issuer.SubjectKeyId)
}

// covers reports whether the CRL's scope includes cert.
func (l *crl) covers(cert *x509.Certificate) bool {
	if (l.onlyUser && cert.IsCA) || (l.onlyCA && !cert.IsCA) {
		return false
	}
	if !l.idpPresent {
		return true
	}
	for _, u := range cert.CRLDistributionPoints {
		for _, v := range l.idpURIs {
			if u == v {
				return true
			}
		}
	}
	return false
}

// checkSignature verifies the CRL's signature with issuer's key.
func (l *crl) checkSignature(issuer *x509.Certificate) error {
	if issuer.KeyUsage != 0 && issuer.KeyUsage&x509.KeyUsageCRLSign == 0 {
		return errors.New("the issuer's key usage does not include cRLSign")
	}
	if err := l.alg.verifyDigest(issuer, l.digest, l.tbs, l.sig); err != nil {
		return fmt.Errorf("signature check failed: %w", err)
	}
	return nil
}

// verifiedBy returns the cached signature check of l against issuer, or
// (nil, false) when there is none. It does not allocate.
func (l *crl) verifiedBy(issuer *x509.Certificate) (error, bool) {
	p := l.verifs.Load()
	if p == nil {
		return nil, false
	}
	for i := range *p {
		v := &(*p)[i]
		if v.issuer == issuer || bytes.Equal(v.issuer.Raw, issuer.Raw) {
			return v.err, true
		}
	}
	return nil, false
}

// remember caches the result of a signature check (l.mu held).
func (l *crl) remember(issuer *x509.Certificate, err error) {
	var next []verification
	if p := l.verifs.Load(); p != nil {
		next = append(next, (*p)...)
	}
	if len(next) >= maxVerifsPerCRL {
		next = next[1:]
	}
	next = append(next, verification{issuer: issuer, err: err})
	l.verifs.Store(&next)
	if err == nil {
		l.verified.Store(true)
	}
}

// verifyFor returns whether l's signature verifies against issuer,
// checking it (once) if needed. The slow path logs a failure once and
// tells the source about a success.
func (c *Checker) verifyFor(l *crl, issuer *x509.Certificate) bool {
	if err, ok := l.verifiedBy(issuer); ok {
		return err == nil
	}
	l.mu.Lock()
	if err, ok := l.verifiedBy(issuer); ok {
		l.mu.Unlock()
		return err == nil
	}
	err := l.checkSignature(issuer)
	l.remember(issuer, err)
	l.mu.Unlock()
	if err != nil {
		l.bad.Store(true)
		c.log.Warn("CRL does not verify against the issuer of a client certificate; it is not used for that issuer",
			"source", l.src.label, "issuer", issuer.Subject.String(), "error", err)
		return false
	}
	c.sourceVerified(l, issuer)
	return true
}

// sourceVerified records that l (lazily) verified against issuer: later
// CRLs of its source are checked against issuer at load, and a fallback
// CRL kept for l's sake is dropped.
func (c *Checker) sourceVerified(l *crl, issuer *x509.Certificate) {
	s := l.src
	s.mu.Lock()
	s.addIssuer(issuer)
	drop := s.current == l && s.prevGood != nil
	if drop {
		s.prevGood = nil
	}
	s.mu.Unlock()
	if drop && c.rebuild() {
		c.gen.Add(1)
	}
}

// addIssuer remembers an issuer (s.mu held), at most four.
func (s *source) addIssuer(issuer *x509.Certificate) {
	for _, i := range s.issuers {
		if bytes.Equal(i.Raw, issuer.Raw) {
			return
		}
	}
	if len(s.issuers) >= 4 {
		s.issuers = s.issuers[1:]
	}
	s.issuers = append(s.issuers, issuer)
}

// errUnchanged reports a CRL identical to the one in force.
var errUnchanged = errors.New("unchanged")

// install makes p the CRL in force for s if it passes every check, and
// returns why not otherwise (the previous CRL stays in force). It returns
// errUnchanged for a CRL identical to the current one.
func (c *Checker) install(s *source, p *parsedCRL) error {
	now := c.cfg.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.current != nil && s.current.sum == p.sum {
		return errUnchanged
	}
	if p.thisUpdate > now.Add(maxSkew).Unix() {
		return fmt.Errorf("thisUpdate %s is in the future", unixUTC(p.thisUpdate).Format(time.RFC3339))
	}
	if p.hasNext && p.nextUpdate < p.thisUpdate {
		return errors.New("nextUpdate is before thisUpdate")
	}
	l := &crl{parsedCRL: p, src: s, loadedAt: now}
	// Check the signature now when the issuer is known.
	var candidates []*x509.Certificate
	for _, list := range [][]*x509.Certificate{s.issuers, c.cfg.Issuers} {
		for _, iss := range list {
			if iss != nil && l.matchesIssuer(iss) {
				candidates = append(candidates, iss)
			}
		}
	}
	if len(candidates) > 0 {
		var firstErr error
		for _, iss := range candidates {
			err := l.checkSignature(iss)
			if err == nil {
				l.mu.Lock()
				l.remember(iss, nil)
				l.mu.Unlock()
				s.addIssuer(iss)
				firstErr = nil
				break
			}
			if firstErr == nil {
				firstErr = fmt.Errorf("does not verify against issuer %q: %w", iss.Subject.String(), err)
			}
		}
		if firstErr != nil {
			return firstErr
		}
	}
	// The CRL number (or, without one, thisUpdate) must not go backwards.
	// Compare with the CRL in force unless it proved forged, then with the
	// last one that verified.
	ref := s.current
	if ref != nil && ref.bad.Load() && !ref.verified.Load() {
		ref = s.prevGood
	}
	if ref != nil && ref.issuer == p.issuer {
		if err := notOlder(p, ref.parsedCRL); err != nil {
			return err
		}
	}
	switch {
	case l.verified.Load():
		s.prevGood = nil
	case s.current != nil && s.current.verified.Load():
		s.prevGood = s.current
	}
	s.current = l
	return nil
}

// notOlder refuses a CRL older than the one in force.
func notOlder(p, ref *parsedCRL) error {
	if p.number != nil && ref.number != nil {
		switch p.number.Cmp(ref.number) {
		case -1:
			return fmt.Errorf("CRL number %s is lower than %s of the CRL in force (replayed or rolled back?)", p.number, ref.number)
		case 0:
			if p.thisUpdate < ref.thisUpdate {
				return fmt.Errorf("same CRL number %s with an older thisUpdate", p.number)
			}
		}
		return nil
	}
	if p.thisUpdate < ref.thisUpdate {
		return fmt.Errorf("thisUpdate %s is older than the CRL in force (%s)",
			unixUTC(p.thisUpdate).Format(time.RFC3339), unixUTC(ref.thisUpdate).Format(time.RFC3339))
	}
	return nil
}

func unixUTC(s int64) time.Time { return time.Unix(s, 0).UTC() }

// maxSkew is the clock skew tolerated on thisUpdate of CRLs and OCSP
// answers.
const maxSkew = 5 * time.Minute

// snapshot is the immutable CRL index Check reads.
type snapshot struct {
	// byIssuer maps a DER issuer name to the CRLs naming it.
	byIssuer map[string][]*crl
}

// rebuild publishes a new snapshot from the sources' CRLs in force. It
// returns whether the set of CRLs changed.
func (c *Checker) rebuild() bool {
	c.rebuildMu.Lock()
	defer c.rebuildMu.Unlock()
	next := &snapshot{byIssuer: map[string][]*crl{}}
	n := 0
	for _, s := range c.allSources() {
		s.mu.Lock()
		for _, l := range []*crl{s.current, s.prevGood} {
			if l != nil {
				next.byIssuer[l.issuer] = append(next.byIssuer[l.issuer], l)
				n++
			}
		}
		s.mu.Unlock()
	}
	old := c.snap.Load()
	c.snap.Store(next)
	return !sameCRLs(old, next, n)
}

func sameCRLs(a, b *snapshot, nb int) bool {
	if a == nil {
		return nb == 0
	}
	na := 0
	for k, la := range a.byIssuer {
		na += len(la)
		lb := b.byIssuer[k]
		if len(la) != len(lb) {
			return false
		}
		for i := range la {
			if la[i] != lb[i] {
				return false
			}
		}
	}
	return na == nb
}

// crlState is the outcome of the CRL lookup for one certificate.
type crlState uint8

const (
	crlNone crlState = iota // no covering CRL that verifies
	crlGood
	crlStale
	crlRevoked
)

type crlAnswer struct {
	state  crlState
	l      *crl
	at     int64
	reason int
}

// lookupCRL looks cert (issued by issuer) up in the CRLs of snap. A
// revocation in any verified covering CRL wins; otherwise a fresh one says
// good; otherwise a stale one says stale. No allocation on the cached path.
func (c *Checker) lookupCRL(snap *snapshot, cert, issuer *x509.Certificate, serial []byte, now int64) crlAnswer {
	var ans crlAnswer
	for _, l := range snap.byIssuer[string(cert.RawIssuer)] {
		if !l.matchesIssuer(issuer) || !l.covers(cert) || !c.verifyFor(l, issuer) {
			continue
		}
		if v, ok := l.entries.get(serial); ok {
			at, reason := unpackEntry(v)
			return crlAnswer{state: crlRevoked, l: l, at: at, reason: reason}
		}
		switch {
		case !l.hasNext || now < l.nextUpdate:
			if ans.state != crlGood {
				ans = crlAnswer{state: crlGood, l: l}
			}
		case ans.state == crlNone:
			ans = crlAnswer{state: crlStale, l: l}
		}
	}
	return ans
}

// explainNoCRL says why no CRL covers cert (slow path, for Reason).
func (c *Checker) explainNoCRL(snap *snapshot, cert, issuer *x509.Certificate) string {
	name := issuer.Subject.String()
	var why []string
	for _, l := range snap.byIssuer[string(cert.RawIssuer)] {
		switch {
		case !l.matchesIssuer(issuer):
			why = append(why, fmt.Sprintf("%s is for another key of that issuer (authority key id %x)", l.src.desc, l.akid))
		case !l.covers(cert):
			why = append(why, fmt.Sprintf("%s is a partial CRL whose scope does not include this certificate", l.src.desc))
		default:
			if err, ok := l.verifiedBy(issuer); ok && err != nil {
				why = append(why, fmt.Sprintf("%s does not verify against this issuer (%v)", l.src.desc, err))
			}
		}
	}
	if c.cfg.UseCDP {
		for i, u := range cert.CRLDistributionPoints {
			if i == maxCDPPerCert {
				break
			}
			why = append(why, c.cdpStatus(u))
		}
		if len(cert.CRLDistributionPoints) == 0 {
			why = append(why, "the certificate names no CRL distribution point")
		}
	}
	for _, s := range c.sources {
		s.mu.Lock()
		if s.current == nil && s.lastErr != "" {
			why = append(why, fmt.Sprintf("%s has never loaded (last error: %s)", s.desc, s.lastErr))
		}
		s.mu.Unlock()
	}
	msg := fmt.Sprintf("no usable CRL for issuer %q", name)
	for i, w := range why {
		if i == 0 {
			msg += ": "
		} else {
			msg += "; "
		}
		msg += w
	}
	return msg
}
