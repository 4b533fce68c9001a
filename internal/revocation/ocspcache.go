package revocation

import (
	"crypto/x509"
	"fmt"
	"hash/maphash"
	"math/bits"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ocsp"
)

// The OCSP cache. Readers find an entry with one atomic load and one map
// lookup in one of 64 shards; writers (answers arriving, eviction) copy
// the shard's map under the shard's mutex and publish the copy. Entries are
// immutable except for their lastSeen and refreshAt clocks. Concurrent
// queries for one certificate share one HTTP request (inflight).

const (
	ocspShards = 64
	// ocspRetryAfterFailure: after a failed query no new query is made for
	// that certificate for this long (a handshake in require mode gets the
	// failure at once instead of waiting for the timeout again).
	ocspRetryAfterFailure = 5 * time.Second
	// ocspRecent: a certificate checked within this window has its answer
	// refreshed before it expires; others are evicted once expired.
	ocspRecent = time.Hour
	// maxBackgroundOCSP bounds concurrent background queries; maxSyncOCSP
	// bounds queries a handshake waits for.
	maxBackgroundOCSP = 16
	maxSyncOCSP       = 256
	// ocspScanEvery is the period of the refresh and eviction scan.
	ocspScanEvery = 5 * time.Second
)

// ocspEntry is the cached outcome of the last query for one certificate.
type ocspEntry struct {
	issuerName, issuerKey, serial string // identity, compared on lookup
	q                             *ocspQuery
	ans                           ocspAnswer
	failed                        bool
	err                           string
	expires                       int64 // Unix ns: answer usable before (answers)
	retryAt                       int64 // Unix ns: no new query before (failures)
	revoked                       Result
	refreshAt                     atomic.Int64 // Unix ns
	lastSeen                      atomic.Int64 // Unix s
	expiryNoted                   atomic.Bool
}

func (e *ocspEntry) fresh(now int64) bool { return !e.failed && now < e.expires }

type ocspShard struct {
	mu sync.Mutex
	m  atomic.Pointer[map[uint64]*ocspEntry]
}

type ocspCall struct {
	done chan struct{}
	e    *ocspEntry
}

type ocspCache struct {
	seed     maphash.Seed
	shards   [ocspShards]ocspShard
	perShard int

	mu       sync.Mutex
	inflight map[uint64]*ocspCall
	syncN    int
	issuers  map[string]*x509.Certificate // one copy per issuer certificate
	warned   map[string]time.Time         // responder URL -> last warning
	bgSem    chan struct{}
}

func (oc *ocspCache) init(size int) {
	oc.seed = maphash.MakeSeed()
	oc.perShard = max(1, (size+ocspShards-1)/ocspShards)
	for i := range oc.shards {
		m := map[uint64]*ocspEntry{}
		oc.shards[i].m.Store(&m)
	}
	oc.inflight = map[uint64]*ocspCall{}
	oc.issuers = map[string]*x509.Certificate{}
	oc.warned = map[string]time.Time{}
	oc.bgSem = make(chan struct{}, maxBackgroundOCSP)
}

// key hashes a certificate's identity: issuer name, issuer key, serial.
func (oc *ocspCache) key(issuerName, issuerKey, serial []byte) uint64 {
	h := maphash.Bytes(oc.seed, serial)
	h ^= bits.RotateLeft64(maphash.Bytes(oc.seed, issuerKey), 21) * 0x9e3779b97f4a7c15
	h ^= bits.RotateLeft64(maphash.Bytes(oc.seed, issuerName), 43)
	return h
}

// lookup returns the entry for the identity, or nil. No allocation.
func (oc *ocspCache) lookup(k uint64, issuerName, issuerKey, serial []byte) *ocspEntry {
	e := (*oc.shards[k%ocspShards].m.Load())[k]
	if e == nil || e.serial != string(serial) || e.issuerKey != string(issuerKey) || e.issuerName != string(issuerName) {
		return nil
	}
	return e
}

// canonicalIssuer returns one shared copy of an issuer certificate, so that
// cached entries do not each keep a client-sent intermediate alive.
func (oc *ocspCache) canonicalIssuer(c *x509.Certificate) *x509.Certificate {
	oc.mu.Lock()
	defer oc.mu.Unlock()
	if have := oc.issuers[string(c.Raw)]; have != nil {
		return have
	}
	if len(oc.issuers) < 1024 {
		oc.issuers[string(c.Raw)] = c
	}
	return c
}

// start begins (or joins) the query for k. background queries are dropped
// (nil) when maxBackgroundOCSP are running; waited-for ones when
// maxSyncOCSP are. seen is the cache entry the caller decided on (nil:
// none): when another query has stored a new answer for the same
// certificate since, no query starts and the call returned holds that
// answer (a query ends by storing its answer, then leaving inflight).
func (c *Checker) ocspStart(k uint64, q *ocspQuery, issuerName string, background bool, seen *ocspEntry) *ocspCall {
	oc := &c.ocsp
	oc.mu.Lock()
	if call := oc.inflight[k]; call != nil {
		oc.mu.Unlock()
		return call
	}
	if cur := oc.lookup(k, []byte(issuerName), q.issuer.RawSubjectPublicKeyInfo, q.serial); cur != nil && cur != seen {
		oc.mu.Unlock()
		call := &ocspCall{done: make(chan struct{}), e: cur}
		close(call.done)
		return call
	}
	if background {
		select {
		case oc.bgSem <- struct{}{}:
		default:
			oc.mu.Unlock()
			return nil
		}
	} else {
		if oc.syncN >= maxSyncOCSP {
			oc.mu.Unlock()
			return nil
		}
		oc.syncN++
	}
	call := &ocspCall{done: make(chan struct{})}
	oc.inflight[k] = call
	oc.mu.Unlock()
	release := func() {
		oc.mu.Lock()
		delete(oc.inflight, k)
		if background {
			<-oc.bgSem
		} else {
			oc.syncN--
		}
		oc.mu.Unlock()
		close(call.done)
	}
	ok := c.spawn(func() {
		defer release()
		var ans ocspAnswer
		_, err := c.ocspAllow.check(q.url, true, "OCSP responder")
		if err == nil {
			ans, err = c.queryOCSP(c.ctx, q, []byte(issuerName))
		}
		call.e = c.ocspStore(k, q, issuerName, ans, err)
	})
	if !ok {
		release()
	}
	return call
}

// ocspStore caches the outcome of a query and returns the entry in force.
func (c *Checker) ocspStore(k uint64, q *ocspQuery, issuerName string, ans ocspAnswer, err error) *ocspEntry {
	oc := &c.ocsp
	now := c.cfg.Now()
	nowNS := now.UnixNano()
	sh := &oc.shards[k%ocspShards]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	cur := *sh.m.Load()
	old := cur[k]
	if old != nil && (old.serial != string(q.serial) || old.issuerName != issuerName) {
		old = nil // hash collision: replace
	}
	e := &ocspEntry{issuerName: issuerName, issuerKey: string(q.issuer.RawSubjectPublicKeyInfo), serial: string(q.serial), q: q}
	if old != nil {
		e.lastSeen.Store(old.lastSeen.Load())
	} else {
		e.lastSeen.Store(now.Unix())
	}
	changed := false
	if err != nil {
		c.ocspErrors.add(q.serial, 1)
		c.warnOCSP(q.url, err)
		if old != nil && old.fresh(nowNS) {
			// A refresh failed; the answer in force is still valid.
			old.refreshAt.Store(nowNS + int64(30*time.Second))
			return old
		}
		e.failed, e.err = true, err.Error()
		e.retryAt = nowNS + int64(ocspRetryAfterFailure)
		changed = old != nil && !old.failed
	} else if old != nil && !old.failed && (old.ans.status == ocsp.Revoked || ans.thisUpdate.Before(old.ans.thisUpdate)) {
		// Never go back: a revocation is final here (this package does not
		// lift certificateHold), and an answer older than the one in force
		// may be a replay (responses without a nonce can be).
		old.refreshAt.Store(nowNS + (old.expires-nowNS)*2/3)
		if old.ans.status == ocsp.Revoked && old.fresh(nowNS) {
			return old
		}
		if old.ans.status != ocsp.Revoked {
			c.warnOCSP(q.url, fmt.Errorf("answer older than the one in force (thisUpdate %s < %s): ignored", ans.thisUpdate.UTC().Format(time.RFC3339), old.ans.thisUpdate.UTC().Format(time.RFC3339)))
			return old
		}
		// An expired revoked answer: keep it revoked, with a new expiry.
		e.ans, e.revoked = old.ans, old.revoked
		e.expires = now.Add(c.cfg.OCSPMaxTTL).UnixNano()
		e.refreshAt.Store(nowNS + (e.expires-nowNS)*2/3)
	} else {
		e.ans = ans
		exp := now.Add(c.cfg.OCSPMaxTTL)
		if !ans.nextUpdate.IsZero() {
			exp = ans.nextUpdate
		}
		e.expires = exp.UnixNano()
		e.refreshAt.Store(nowNS + (e.expires-nowNS)*2/3)
		if ans.status == ocsp.Revoked {
			e.revoked = Result{Revoked: true, Code: CodeRevoked, Source: q.url,
				RevokedAt: ans.revokedAt.UTC(), RevocationReason: ans.reason,
				Reason: fmt.Sprintf("certificate %q (serial %s) was revoked at %s (reason %s) according to the OCSP responder %s%s; issue a new certificate for this client",
					q.subject, q.serialBig.Text(16), ans.revokedAt.UTC().Format(time.RFC3339), ReasonName(ans.reason), q.url, delegatedNote(ans))}
		}
		changed = old == nil || !old.fresh(nowNS) || old.ans.status != ans.status || !old.ans.revokedAt.Equal(ans.revokedAt)
	}
	next := make(map[uint64]*ocspEntry, len(cur)+1)
	for kk, v := range cur {
		next[kk] = v
	}
	if old == nil && len(next) >= oc.perShard {
		evictOldest(next)
	}
	next[k] = e
	sh.m.Store(&next)
	if changed {
		c.gen.Add(1)
	}
	return e
}

// evictOldest removes the least recently seen entry of m.
func evictOldest(m map[uint64]*ocspEntry) {
	var victim uint64
	oldest := int64(1<<63 - 1)
	for k, e := range m {
		if s := e.lastSeen.Load(); s < oldest {
			victim, oldest = k, s
		}
	}
	delete(m, victim)
}

// warnOCSP logs a failed query, at most once a minute per responder.
func (c *Checker) warnOCSP(url string, err error) {
	oc := &c.ocsp
	now := time.Now()
	oc.mu.Lock()
	last, seen := oc.warned[url]
	if !seen && len(oc.warned) > 1024 {
		clear(oc.warned)
	}
	quiet := seen && now.Sub(last) < time.Minute
	if !quiet {
		oc.warned[url] = now
	}
	oc.mu.Unlock()
	if !quiet {
		c.log.Warn("OCSP query failed", "responder", url, "error", err)
	} else {
		c.log.Debug("OCSP query failed", "responder", url, "error", err)
	}
}

// maintainOCSP refreshes answers of recently seen certificates before they
// expire, evicts old entries, and moves the generation when an answer in
// use expires.
func (c *Checker) maintainOCSP(now time.Time) {
	nowNS, recent := now.UnixNano(), now.Add(-ocspRecent).Unix()
	expired := false
	for i := range c.ocsp.shards {
		sh := &c.ocsp.shards[i]
		var drop []uint64
		for k, e := range *sh.m.Load() {
			seen := e.lastSeen.Load() >= recent
			switch {
			case e.failed:
				if nowNS > e.retryAt+int64(10*time.Minute) {
					drop = append(drop, k)
				}
			case nowNS >= e.expires:
				if !e.expiryNoted.Swap(true) {
					expired = true
				}
				if !seen {
					drop = append(drop, k)
				} else if nowNS >= e.refreshAt.Load() {
					c.ocspStart(k, e.q, e.issuerName, true, e)
				}
			case seen && nowNS >= e.refreshAt.Load():
				if c.ocspStart(k, e.q, e.issuerName, true, e) != nil {
					e.refreshAt.Store(nowNS + int64(ocspScanEvery))
				}
			}
		}
		if len(drop) > 0 {
			sh.mu.Lock()
			cur := *sh.m.Load()
			next := make(map[uint64]*ocspEntry, len(cur))
			for k, v := range cur {
				next[k] = v
			}
			for _, k := range drop {
				if e := next[k]; e != nil && (e.failed || nowNS >= e.expires) {
					delete(next, k)
				}
			}
			sh.m.Store(&next)
			sh.mu.Unlock()
		}
	}
	if expired {
		c.gen.Add(1)
	}
}

// ocspLen counts cached entries.
func (c *Checker) ocspLen() int {
	n := 0
	for i := range c.ocsp.shards {
		n += len(*c.ocsp.shards[i].m.Load())
	}
	return n
}

func delegatedNote(a ocspAnswer) string {
	if a.delegatedSubject == "" {
		return ""
	}
	return fmt.Sprintf(" (signed by the delegated responder %q)", a.delegatedSubject)
}
