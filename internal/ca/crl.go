package ca

import (
	"context"
	"fmt"
	"time"
)

// CRL is a signed certificate revocation list.
type CRL struct {
	DER        []byte
	Number     int64
	ThisUpdate time.Time
	NextUpdate time.Time
	Entries    int
	// Generation is the revoked-set generation the CRL reflects.
	Generation uint64
}

// NewCRL signs a CRL of every revoked certificate that has not yet expired,
// with the next CRL number (recorded in the store with an audit entry) and
// nextUpdate = now + crl_validity.
func (a *Authority) NewCRL(ctx context.Context) (*CRL, error) {
	a.crlMu.Lock()
	defer a.crlMu.Unlock()
	if err := a.SyncRevocations(ctx); err != nil {
		return nil, err
	}
	now := a.now().UTC().Truncate(time.Second)
	gen := a.RevocationGeneration()
	entries := a.crlEntries(now)
	number, err := a.st.NextCRLNumber(ctx, a.audit("crl", "", fmt.Sprintf("entries=%d", len(entries))))
	if err != nil {
		return nil, fmt.Errorf("CRL number: %w", err)
	}
	this := now
	next := now.Add(a.settings.crlValidity)
	enc := crlEncoder{issuerRaw: a.inter.RawSubject, akid: a.inter.SubjectKeyId, key: a.interKey}
	der, err := enc.encode(number, this, next, entries)
	if err != nil {
		return nil, err
	}
	return &CRL{DER: der, Number: number, ThisUpdate: this, NextUpdate: next, Entries: len(entries), Generation: gen}, nil
}

// crlEntries lists revocations of certificates that have not expired (an
// expired certificate fails validation anyway; RFC 5280 §3.3 lets a CRL
// drop it).
func (a *Authority) crlEntries(now time.Time) []crlEntry {
	a.revoked.mu.RLock()
	defer a.revoked.mu.RUnlock()
	out := make([]crlEntry, 0, len(a.revoked.bySer))
	for key, r := range a.revoked.bySer {
		if !r.NotAfter.IsZero() && r.NotAfter.Before(now) {
			continue
		}
		out = append(out, crlEntry{serial: []byte(key), at: r.RevokedAt, reason: r.Reason})
	}
	return out
}
