package revocation

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"strings"
	"time"
)

// readLimited reads r up to max bytes and fails, having read max+1 bytes
// at most, when there is more.
func readLimited(r io.Reader, max int64, what string) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("%s is larger than the limit of %d bytes (max_crl_bytes)", what, max)
	}
	return data, nil
}

// readCRLFile reads a CRL file within the size limit.
func readCRLFile(path string, max int64) ([]byte, os.FileInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, nil, fmt.Errorf("%s is not a regular file", path)
	}
	if fi.Size() > max {
		return nil, nil, fmt.Errorf("%s has %d bytes, more than the limit of %d bytes (max_crl_bytes)", path, fi.Size(), max)
	}
	data, err := readLimited(f, max, path)
	return data, fi, err
}

// loadFile (re)reads a file source. Unless force is set, a file whose
// modification time and size did not change since the last attempt is not
// read again (so a broken file is reported once, not at every poll).
func (c *Checker) loadFile(s *source, force bool) error {
	if !force {
		fi, err := os.Stat(s.path)
		s.mu.Lock()
		same := err == nil && !s.modTime.IsZero() && fi.ModTime().Equal(s.modTime) && fi.Size() == s.size
		repeated := err != nil && s.lastErr != "" && strings.Contains(s.lastErr, err.Error())
		s.mu.Unlock()
		if same || repeated {
			return nil
		}
	}
	data, fi, err := readCRLFile(s.path, c.cfg.MaxCRLBytes)
	if err == nil {
		err = c.parseAndInstall(s, data)
	}
	if fi != nil {
		s.mu.Lock()
		s.modTime, s.size = fi.ModTime(), fi.Size()
		s.mu.Unlock()
	}
	return c.recordLoad(s, err)
}

// parseAndInstall decodes, parses and installs a CRL.
func (c *Checker) parseAndInstall(s *source, data []byte) error {
	der, err := decodeCRL(data)
	if err != nil {
		return err
	}
	// A re-fetched CRL is usually the same: skip the parse.
	sum := sha256.Sum256(der)
	s.mu.Lock()
	same := s.current != nil && s.current.sum == sum
	s.mu.Unlock()
	if same {
		return errUnchanged
	}
	p, err := parseCRL(der)
	if err != nil {
		return err
	}
	return c.install(s, p)
}

// recordLoad logs and counts a load attempt, publishes a new snapshot when
// the CRL in force changed, and returns err (nil for errUnchanged).
func (c *Checker) recordLoad(s *source, err error) error {
	now := c.cfg.Now()
	switch {
	case err == nil:
		s.loadsOK.Add(1)
		s.mu.Lock()
		s.lastOK, s.lastErr, s.failures = now, "", 0
		l := s.current
		s.mu.Unlock()
		if c.rebuild() {
			c.gen.Add(1)
		}
		attrs := []any{"source", s.label, "issuer", issuerString(l.issuer), "entries", l.count,
			"this_update", unixUTC(l.thisUpdate), "verified", l.verified.Load()}
		if l.number != nil {
			attrs = append(attrs, "crl_number", l.number.String())
		}
		if l.hasNext {
			attrs = append(attrs, "next_update", unixUTC(l.nextUpdate))
			if now.Unix() >= l.nextUpdate {
				c.log.Warn("loaded CRL is already past its nextUpdate", attrs...)
			}
		}
		c.log.Info("CRL loaded", attrs...)
		return nil
	case errors.Is(err, errUnchanged):
		s.loadsUnchanged.Add(1)
		s.mu.Lock()
		s.lastOK, s.lastErr, s.failures = now, "", 0
		s.mu.Unlock()
		return nil
	}
	s.loadsErr.Add(1)
	s.mu.Lock()
	s.lastErr, s.lastErrAt = err.Error(), now
	s.failures++
	inForce := s.current != nil
	s.mu.Unlock()
	if inForce {
		c.log.Warn("CRL rejected; the previous CRL stays in force", "source", s.label, "error", err)
	} else {
		c.log.Warn("CRL rejected; no CRL from this source is in force", "source", s.label, "error", err)
	}
	return fmt.Errorf("%s: %w", s.desc, err)
}

// fetch downloads a URL or CDP source once. Unless wait is set, it does
// nothing when a fetch of s is already running.
func (c *Checker) fetch(ctx context.Context, s *source, wait bool) error {
	if wait {
		s.fetchMu.Lock()
	} else if !s.fetchMu.TryLock() {
		return nil
	}
	defer s.fetchMu.Unlock()
	err := c.download(ctx, s)
	err = c.recordLoad(s, err)
	c.scheduleNext(s, err)
	return err
}

func (c *Checker) download(ctx context.Context, s *source) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.FetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/pkix-crl, application/x-pkcs7-crl;q=0.5, */*;q=0.1")
	s.mu.Lock()
	if s.current != nil {
		if s.etag != "" {
			req.Header.Set("If-None-Match", s.etag)
		}
		if s.lastModified != "" {
			req.Header.Set("If-Modified-Since", s.lastModified)
		}
	}
	s.mu.Unlock()
	resp, err := c.clientFor(s.kind).Do(req)
	if err != nil {
		return fmt.Errorf("fetching %s: %w", s.url, err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotModified:
		s.mu.Lock()
		unchanged := s.current != nil
		s.mu.Unlock()
		if unchanged {
			return errUnchanged
		}
		return errors.New("HTTP 304 Not Modified without a CRL in force")
	default:
		return fmt.Errorf("HTTP %s from %s", resp.Status, s.url)
	}
	if resp.ContentLength > c.cfg.MaxCRLBytes {
		return fmt.Errorf("the server announces %d bytes, more than the limit of %d bytes (max_crl_bytes)", resp.ContentLength, c.cfg.MaxCRLBytes)
	}
	data, err := readLimited(resp.Body, c.cfg.MaxCRLBytes, "the CRL at "+s.url)
	if err != nil {
		return err
	}
	if err := c.parseAndInstall(s, data); err != nil {
		if ct := resp.Header.Get("Content-Type"); ct != "" && !errors.Is(err, errUnchanged) {
			if mt, _, _ := mime.ParseMediaType(ct); strings.HasPrefix(mt, "text/") {
				return fmt.Errorf("%w (the server sent %s)", err, mt)
			}
		}
		if !errors.Is(err, errUnchanged) {
			return err
		}
	}
	s.mu.Lock()
	s.etag, s.lastModified = resp.Header.Get("ETag"), resp.Header.Get("Last-Modified")
	s.mu.Unlock()
	return err
}

// scheduleNext sets when a URL or CDP source is fetched again: after its
// refresh interval, at its CRL's nextUpdate if sooner, and with a growing
// backoff after failures.
func (c *Checker) scheduleNext(s *source, err error) {
	now := c.cfg.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	next := now.Add(s.refresh)
	if err != nil {
		back := 30 * time.Second << min(s.failures-1, 10)
		if back > s.refresh || back <= 0 {
			back = s.refresh
		}
		next = now.Add(back)
	} else if l := s.current; l != nil && l.hasNext {
		nu := unixUTC(l.nextUpdate)
		switch {
		case nu.After(now) && nu.Before(next):
			next = nu
		case !nu.After(now):
			next = now.Add(min(s.refresh, 5*time.Minute))
		}
	}
	s.nextAt = next
}

// clientFor returns the HTTP client for a kind of fetch: redirects of CDP
// fetches must stay on allowed hosts; other fetches follow at most five
// http(s) redirects.
func (c *Checker) clientFor(k sourceKind) *http.Client {
	if k == kindCDP {
		return c.cdpClient
	}
	return c.urlClient
}

func (c *Checker) initClients() {
	base := c.cfg.HTTPClient
	mk := func(check func(u string) error) *http.Client {
		cl := *base
		cl.CheckRedirect = func(req *http.Request, via []*http.Request) error {
			if len(via) >= 5 {
				return errors.New("stopped after 5 redirects")
			}
			return check(req.URL.String())
		}
		return &cl
	}
	c.urlClient = mk(func(u string) error { _, err := checkHTTPURL(u); return err })
	c.cdpClient = mk(func(u string) error { _, err := c.cdpAllow.check(u, false, "CDP"); return err })
	c.ocspClient = mk(func(string) error { return errors.New("OCSP responders must not redirect") })
}

func issuerString(der string) string {
	if name, ok := parseName([]byte(der)); ok {
		return name
	}
	return fmt.Sprintf("%x", der)
}
