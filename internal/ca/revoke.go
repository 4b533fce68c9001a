package ca

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"

	"github.com/mtlsgate/mtlsgate/internal/store"
)

// Revocation reasons (RFC 5280 §5.3.1). certificateHold is not offered:
// revocation here is final.
var reasonNames = []struct {
	name string
	code int
}{
	{"unspecified", 0},
	{"keyCompromise", 1},
	{"cACompromise", 2},
	{"affiliationChanged", 3},
	{"superseded", 4},
	{"cessationOfOperation", 5},
	{"privilegeWithdrawn", 9},
}

// ParseReason accepts a reason name (any case, '-' and '_' ignored) or "";
// "" is unspecified.
func ParseReason(s string) (int, error) {
	norm := strings.ToLower(strings.NewReplacer("-", "", "_", "").Replace(s))
	if norm == "" {
		return 0, nil
	}
	var names []string
	for _, r := range reasonNames {
		if strings.ToLower(r.name) == norm {
			return r.code, nil
		}
		names = append(names, r.name)
	}
	return 0, fmt.Errorf("unknown revocation reason %q (want one of %s)", s, strings.Join(names, ", "))
}

// ReasonName names an RFC 5280 reason code.
func ReasonName(code int) string {
	for _, r := range reasonNames {
		if r.code == code {
			return r.name
		}
	}
	return fmt.Sprintf("reason(%d)", code)
}

// Revoke revokes the certificate with the given serial (hex, colons
// optional, any case). The revocation is durable when Revoke returns and is
// in this Authority's revoked set at once; other processes see it at their
// next SyncRevocations.
func (a *Authority) Revoke(ctx context.Context, serial string, reason int) (store.Revocation, error) {
	n, err := store.ParseSerial(serial)
	if err != nil {
		return store.Revocation{}, err
	}
	hex := store.SerialHex(n)
	rev, err := a.st.Revoke(ctx, hex, a.now().UTC(), reason, a.audit("revoke", hex, "reason="+ReasonName(reason)))
	if errors.Is(err, store.ErrNotFound) {
		return store.Revocation{}, fmt.Errorf("revoke %s: no certificate with this serial was issued by this CA (see: mtlsgate ca list): %w", hex, store.ErrNotFound)
	}
	if errors.Is(err, store.ErrAlreadyRevoked) {
		return store.Revocation{}, fmt.Errorf("revoke %s: %w", hex, err)
	}
	if err != nil {
		return store.Revocation{}, fmt.Errorf("revoke %s: %w", hex, err)
	}
	if err := a.SyncRevocations(ctx); err != nil {
		return rev, err
	}
	return rev, nil
}

// RevokeCN revokes every unrevoked certificate whose subject CN is cn.
func (a *Authority) RevokeCN(ctx context.Context, cn string, reason int) ([]store.Revocation, error) {
	if cn == "" {
		return nil, errors.New("revoke: empty common name")
	}
	certs, err := a.st.List(ctx, store.Filter{CN: cn})
	if err != nil {
		return nil, err
	}
	var out []store.Revocation
	for _, c := range certs {
		if c.Revoked() {
			continue
		}
		rev, err := a.Revoke(ctx, c.Serial, reason)
		if err != nil {
			return out, err
		}
		out = append(out, rev)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("revoke: no unrevoked certificate with CN %q (see: mtlsgate ca list): %w", cn, store.ErrNotFound)
	}
	return out, nil
}

// SyncRevocations loads revocations recorded since the last call (by any
// process) into the in-memory set. Cheap when nothing changed: serve calls it
// several times a second.
func (a *Authority) SyncRevocations(ctx context.Context) error {
	a.syncRootCRL()
	a.revoked.mu.RLock()
	last := a.revoked.lastSeq
	a.revoked.mu.RUnlock()
	seq, err := a.st.LastRevocationSeq(ctx)
	if err != nil || seq <= last {
		return err
	}
	revs, err := a.st.Revocations(ctx, last)
	if err != nil {
		return err
	}
	a.revoked.mu.Lock()
	defer a.revoked.mu.Unlock()
	if a.revoked.bySer == nil {
		a.revoked.bySer = make(map[string]store.Revocation, len(revs))
	}
	changed := false
	for _, r := range revs {
		if r.Seq <= a.revoked.lastSeq {
			continue // another caller got here first
		}
		n, err := store.ParseSerial(r.Serial)
		if err != nil {
			return fmt.Errorf("store holds a bad serial %q: %w", r.Serial, err)
		}
		a.revoked.bySer[string(n.Bytes())] = r
		a.revoked.lastSeq = r.Seq
		changed = true
	}
	if changed {
		a.revoked.gen.Add(1)
	}
	return nil
}

// syncRootCRL re-reads root.crl when its modification time changed and
// records whether it revokes the issuing CA.
func (a *Authority) syncRootCRL() {
	fi, err := os.Stat(filepath.Join(a.dir, RootCRLFile))
	if err != nil {
		return
	}
	a.rootMu.Lock()
	defer a.rootMu.Unlock()
	if fi.ModTime().Equal(a.rootCRLMod) {
		return
	}
	a.rootCRLMod = fi.ModTime()
	if at, reason, ok := a.checkIntermediateRevoked(); ok && a.interRevoked.Load() == nil {
		a.interRevoked.Store(&store.Revocation{Serial: store.SerialHex(a.inter.SerialNumber), RevokedAt: at, Reason: reason})
		a.revoked.gen.Add(1)
	}
}

// RevocationGeneration changes whenever the revoked set gains entries, so a
// connection can re-check its certificate only when something changed.
func (a *Authority) RevocationGeneration() uint64 { return a.revoked.gen.Load() }

// RevokedSerial looks up a serial in the revoked set without allocating.
func (a *Authority) RevokedSerial(serial *big.Int) (store.Revocation, bool) {
	var buf [32]byte
	if serial == nil || serial.Sign() <= 0 || serial.BitLen() > 8*len(buf) {
		return store.Revocation{}, false
	}
	b := serial.FillBytes(buf[len(buf)-(serial.BitLen()+7)/8:])
	a.revoked.mu.RLock()
	r, ok := a.revoked.bySer[string(b)]
	a.revoked.mu.RUnlock()
	return r, ok
}

// CheckRevoked reports whether cert was issued by this CA and is revoked.
func (a *Authority) CheckRevoked(cert *x509.Certificate) (store.Revocation, bool) {
	if !a.IssuedBy(cert) {
		return store.Revocation{}, false
	}
	if r := a.interRevoked.Load(); r != nil {
		return *r, true // the issuing CA itself is revoked
	}
	return a.RevokedSerial(cert.SerialNumber)
}
