package revocation

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// CRL distribution points. Check never fetches: when a leaf names a CDP
// URL the checker does not know yet, the URL is handed (non-blocking) to
// one background goroutine, which checks it against the allow list and the
// bound on distinct URLs and then fetches it. Known URLs are found in an
// immutable map published atomically, so the common case is one map lookup.

const (
	// maxCDPPerCert bounds the CDP URLs looked at per certificate.
	maxCDPPerCert = 4
	// maxCDPRefused bounds the refused URLs remembered (beyond it, refusals
	// are logged at debug level and not remembered).
	maxCDPRefused = 1024
	// cdpQueue is the number of unknown URLs waiting for the CDP worker;
	// further ones are dropped and seen again at the next Check.
	cdpQueue = 64
	// maxFetches bounds concurrent CRL downloads.
	maxFetches = 4
)

// cdpEntry is a known CDP URL: a source, or the reason it is refused.
type cdpEntry struct {
	src     *source
	refused string
	// configured: the URL is one of the configured CRL sources.
	configured bool
}

// noteCDP schedules the unknown CDP URLs of leaf. It does not allocate
// when every URL is known.
func (c *Checker) noteCDP(urls []string) {
	m := *c.cdp.Load()
	for i, u := range urls {
		if i == maxCDPPerCert {
			return
		}
		if _, ok := m[u]; ok {
			continue
		}
		select {
		case c.cdpCh <- u:
		default:
		}
	}
}

// cdpStatus describes a CDP URL for a Reason.
func (c *Checker) cdpStatus(u string) string {
	e, ok := (*c.cdp.Load())[u]
	switch {
	case !ok:
		return fmt.Sprintf("the CRL distribution point %s has not been fetched yet (a background fetch is scheduled)", u)
	case e.configured:
		return fmt.Sprintf("the CRL distribution point %s is a configured CRL source", u)
	case e.src == nil:
		return fmt.Sprintf("the CRL distribution point %s is not fetched: %s", u, e.refused)
	}
	e.src.mu.Lock()
	defer e.src.mu.Unlock()
	switch {
	case e.src.current != nil:
		return fmt.Sprintf("the CRL from distribution point %s does not cover this certificate", u)
	case e.src.lastErr != "":
		return fmt.Sprintf("the CRL distribution point %s could not be loaded (%s, at %s)", u, e.src.lastErr, e.src.lastErrAt.UTC().Format(time.RFC3339))
	}
	return fmt.Sprintf("the CRL distribution point %s is being fetched", u)
}

// cdpWorker registers the URLs noteCDP hands it, until ctx ends.
func (c *Checker) cdpWorker(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case u := <-c.cdpCh:
			if s := c.registerCDP(u); s != nil {
				c.goFetch(ctx, s)
			}
		}
	}
}

// registerCDP decides about an unknown CDP URL and returns the new source
// to fetch, or nil.
func (c *Checker) registerCDP(u string) *source {
	c.cdpMu.Lock()
	defer c.cdpMu.Unlock()
	old := *c.cdp.Load()
	if _, ok := old[u]; ok {
		return nil
	}
	var e cdpEntry
	for _, s := range c.sources {
		if s.kind == kindURL && s.url == u {
			// Already a configured source: nothing more to fetch (and no
			// second metrics series with the same label).
			next := make(map[string]cdpEntry, len(old)+1)
			for k, v := range old {
				next[k] = v
			}
			next[u] = cdpEntry{configured: true}
			c.cdp.Store(&next)
			return nil
		}
	}
	if _, err := c.cdpAllow.check(u, false, "CDP"); err != nil {
		e.refused = err.Error()
	} else if c.cdpSources >= c.cfg.MaxCDPURLs {
		e.refused = fmt.Sprintf("the limit of %d distinct CDP URLs is reached", c.cfg.MaxCDPURLs)
	}
	if e.refused != "" {
		if c.cdpRefused >= maxCDPRefused {
			c.log.Debug("CRL distribution point refused", "url", u, "reason", e.refused)
			return nil
		}
		c.cdpRefused++
		c.log.Warn("CRL distribution point of a client certificate refused; it is never fetched", "url", u, "reason", e.refused)
	} else {
		c.cdpSources++
		e.src = &source{kind: kindCDP, label: u, desc: "CRL distribution point " + u, url: u, refresh: c.cfg.CDPRefresh}
		c.log.Info("fetching a CRL distribution point named by a client certificate", "url", u)
	}
	next := make(map[string]cdpEntry, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	next[u] = e
	c.cdp.Store(&next)
	return e.src
}

// cdpSourcesList returns the CDP sources.
func (c *Checker) cdpSourcesList() []*source {
	var out []*source
	for _, e := range *c.cdp.Load() {
		if e.src != nil {
			out = append(out, e.src)
		}
	}
	return out
}

// goFetch fetches s in the background, at most maxFetches at a time
// (waiting for a slot in the background, never on a handshake).
func (c *Checker) goFetch(ctx context.Context, s *source) {
	if !s.queued.CompareAndSwap(false, true) {
		return
	}
	if !c.spawn(func() {
		defer s.queued.Store(false)
		select {
		case c.fetchSem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		defer func() { <-c.fetchSem }()
		_ = c.fetch(ctx, s, false)
	}) {
		s.queued.Store(false)
	}
}

// fetchAll fetches every URL and CDP source now and waits (Reload).
func (c *Checker) fetchAll(ctx context.Context) []error {
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
	)
	for _, s := range c.allSources() {
		if s.kind == kindFile {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case c.fetchSem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			defer func() { <-c.fetchSem }()
			// After a fetch already running, if any.
			if err := c.fetch(ctx, s, true); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errs
}
