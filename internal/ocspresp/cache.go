package ocspresp

import (
	"crypto"
	"sync"
	"time"
)

// DefaultCacheSize bounds the response cache when Options.CacheSize is 0.
const DefaultCacheSize = 100_000

// cacheKey names a cached response: one CertID (already matched against the
// issuer) by hash algorithm and serial.
type cacheKey struct {
	hash   crypto.Hash
	serial string // sign octet then big-endian magnitude
}

// newCacheKey builds the key for a CertID.
func newCacheKey(id CertID) cacheKey {
	mag := id.Serial.Bytes()
	k := make([]byte, 1, 1+len(mag))
	k[0] = byte(id.Serial.Sign() + 1)
	return cacheKey{hash: id.Hash, serial: string(append(k, mag...))}
}

// cacheEntry is a signed response and what it was signed from.
type cacheEntry struct {
	signer *signerState
	status Status
	v      validity
	der    []byte
}

// usable reports whether e may be served at now for a request whose status
// is now s: same signer and status, and now within the first half of the
// response's validity (refreshAt), so that nobody is handed a response close
// to its nextUpdate.
func (e *cacheEntry) usable(signer *signerState, s Status, now, refreshAt time.Time) bool {
	return e.signer == signer && e.status.equal(s) &&
		!now.Before(e.v.thisUpdate) && now.Before(refreshAt)
}

// responseCache is a bounded map of signed responses. When full, inserting
// evicts an arbitrary entry. Safe for concurrent use.
type responseCache struct {
	mu    sync.RWMutex
	limit int
	m     map[cacheKey]*cacheEntry
}

// newResponseCache returns a cache of at most limit entries
// (DefaultCacheSize when 0), or nil (no caching) when limit < 0.
func newResponseCache(limit int) *responseCache {
	if limit < 0 {
		return nil
	}
	if limit == 0 {
		limit = DefaultCacheSize
	}
	return &responseCache{limit: limit, m: make(map[cacheKey]*cacheEntry)}
}

// get returns the entry for k, or nil.
func (c *responseCache) get(k cacheKey) *cacheEntry {
	if c == nil {
		return nil
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.m[k]
}

// put stores e under k, evicting an arbitrary other entry when full.
func (c *responseCache) put(k cacheKey, e *cacheEntry) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[k]; !ok && len(c.m) >= c.limit {
		for old := range c.m {
			delete(c.m, old)
			break
		}
	}
	c.m[k] = e
}

// len reports the number of entries.
func (c *responseCache) len() int {
	if c == nil {
		return 0
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}
