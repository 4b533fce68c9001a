package gateway

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ocsp"
)

// stapler keeps an OCSP response for one of the gateway's own certificates
// and hands crypto/tls the certificate with it stapled. It fetches from the
// certificate's AIA OCSP URL in the background, refreshes at half the
// response's validity, and never staples a response that is expired, not
// yet valid, not "good", or not signed for this certificate: then it
// staples nothing and logs loudly. Shared across reloads while the
// certificate stays the same.
type stapler struct {
	log    *slog.Logger
	client *http.Client
	now    func() time.Time
	leaf   *x509.Certificate
	issuer *x509.Certificate
	base   tls.Certificate

	cur atomic.Pointer[tls.Certificate]
	// next is when to fetch again; nextUpdate of the stapled response.
	mu         sync.Mutex
	next       time.Time
	nextUpdate time.Time
	backoff    time.Duration
	failures   atomic.Uint64
}

// staplers are the gateway's staplers by certificate fingerprint.
type staplers struct {
	mu sync.Mutex
	m  map[[32]byte]*stapler
}

// get returns the stapler for cert (created on first use).
func (s *staplers) get(cert *tls.Certificate, log *slog.Logger, now func() time.Time) (*stapler, error) {
	if len(cert.Certificate) < 2 || cert.Leaf == nil {
		return nil, errors.New("ocsp_stapling needs the issuer: put the issuing CA after the certificate in the cert file")
	}
	if len(cert.Leaf.OCSPServer) == 0 {
		return nil, fmt.Errorf("ocsp_stapling: certificate %s has no OCSP URL (AIA) to fetch a response from", cert.Leaf.Subject)
	}
	issuer, err := x509.ParseCertificate(cert.Certificate[1])
	if err != nil {
		return nil, fmt.Errorf("ocsp_stapling: issuer certificate: %w", err)
	}
	key := sha256.Sum256(bytes.Join(cert.Certificate, nil))
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[[32]byte]*stapler{}
	}
	if st := s.m[key]; st != nil {
		return st, nil
	}
	st := &stapler{
		log: log, now: now, leaf: cert.Leaf, issuer: issuer, base: *cert,
		client: &http.Client{Timeout: 5 * time.Second},
	}
	st.cur.Store(&st.base)
	s.m[key] = st
	return st, nil
}

// prune drops staplers no listener of st uses.
func (s *staplers) prune(keep map[*stapler]bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, st := range s.m {
		if !keep[st] {
			delete(s.m, k)
		}
	}
}

// refreshDue fetches for every stapler whose time has come.
func (s *staplers) refreshDue(ctx context.Context) {
	s.mu.Lock()
	list := make([]*stapler, 0, len(s.m))
	for _, st := range s.m {
		list = append(list, st)
	}
	s.mu.Unlock()
	for _, st := range list {
		st.refreshIfDue(ctx)
	}
}

// certificate is tls.Config.GetCertificate. A staple past its nextUpdate
// is never sent, even before the next fetch attempt notices.
func (st *stapler) certificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c := st.cur.Load()
	if len(c.OCSPStaple) > 0 {
		st.mu.Lock()
		expired := !st.now().Before(st.nextUpdate)
		st.mu.Unlock()
		if expired {
			return &st.base, nil
		}
	}
	return c, nil
}

func (st *stapler) refreshIfDue(ctx context.Context) {
	now := st.now()
	st.mu.Lock()
	due := !now.Before(st.next)
	st.mu.Unlock()
	if !due {
		return
	}
	resp, err := st.fetch(ctx)
	st.mu.Lock()
	defer st.mu.Unlock()
	if err != nil {
		st.failures.Add(1)
		st.backoff = min(max(2*st.backoff, 5*time.Second), 5*time.Minute)
		st.next = now.Add(st.backoff)
		var bad *badStatusError
		if errors.As(err, &bad) || (!st.nextUpdate.IsZero() && !now.Before(st.nextUpdate)) {
			// Revoked or unknown now, or the staple expired: staple nothing.
			st.cur.Store(&st.base)
			st.nextUpdate = time.Time{}
		}
		st.log.Error("OCSP stapling: no usable response for the gateway's certificate; stapling nothing until one is fetched",
			"subject", st.leaf.Subject.String(), "responder", st.leaf.OCSPServer[0], "error", err.Error(), "retry_in", st.backoff)
		return
	}
	c := st.base
	c.OCSPStaple = resp.Raw
	st.cur.Store(&c)
	st.backoff = 0
	st.nextUpdate = resp.NextUpdate
	st.next = resp.ThisUpdate.Add(resp.NextUpdate.Sub(resp.ThisUpdate) / 2)
	if st.next.Before(now.Add(time.Minute)) {
		st.next = now.Add(time.Minute)
	}
}

// fetch asks the responder and checks the answer.
func (st *stapler) fetch(ctx context.Context) (*ocsp.Response, error) {
	req, err := ocsp.CreateRequest(st.leaf, st.issuer, &ocsp.RequestOptions{Hash: crypto.SHA256})
	if err != nil {
		return nil, err
	}
	url := st.leaf.OCSPServer[0]
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(req))
	if err != nil {
		return nil, err
	}
	hreq.Header.Set("Content-Type", "application/ocsp-request")
	hresp, err := st.client.Do(hreq)
	if err != nil {
		return nil, err
	}
	defer hresp.Body.Close()
	if hresp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("responder answered HTTP %d", hresp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(hresp.Body, 64<<10))
	if err != nil {
		return nil, err
	}
	resp, err := ocsp.ParseResponseForCert(body, st.leaf, st.issuer)
	if err != nil {
		return nil, fmt.Errorf("response rejected: %w", err)
	}
	now := st.now()
	if resp.Certificate != nil && !resp.Certificate.Equal(st.issuer) && !slices.Contains(resp.Certificate.ExtKeyUsage, x509.ExtKeyUsageOCSPSigning) {
		return nil, errors.New("response rejected: signed by a delegated certificate without the OCSPSigning extended key usage")
	}
	switch {
	case resp.Status == ocsp.Revoked:
		return nil, &badStatusError{fmt.Sprintf("the responder says the gateway's own certificate is REVOKED (at %s): replace it", resp.RevokedAt.UTC().Format(time.RFC3339))}
	case resp.Status != ocsp.Good:
		return nil, &badStatusError{"the responder does not know the certificate (status unknown)"}
	case resp.ThisUpdate.After(now.Add(5 * time.Minute)):
		return nil, fmt.Errorf("response is not valid before %s", resp.ThisUpdate.UTC().Format(time.RFC3339))
	case resp.NextUpdate.IsZero() || !now.Before(resp.NextUpdate):
		return nil, errors.New("response has expired or has no nextUpdate")
	}
	return resp, nil
}

// badStatusError is a verified answer that the certificate is not good:
// the staple in force is dropped at once.
type badStatusError struct{ msg string }

func (e *badStatusError) Error() string { return e.msg }
