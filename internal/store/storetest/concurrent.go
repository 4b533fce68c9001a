package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mtlsgate/mtlsgate/internal/store"
)

// testConcurrentWriters runs many goroutines that each put, revoke, take a
// CRL number and append an audit entry; nothing may be lost or doubled.
func testConcurrentWriters(t *testing.T, s store.Store) {
	const n = 50
	var wg sync.WaitGroup
	crl := make([]int64, n)
	errs := make(chan error, 4*n)
	for i := range n {
		wg.Go(func() {
			c := Cert(1000+i, fmt.Sprintf("g%d", i), base.Add(time.Duration(i)*time.Second))
			if err := s.PutCertificate(ctx, c, Event("issue", c.Serial)); err != nil {
				errs <- err
				return
			}
			if _, err := s.Revoke(ctx, c.Serial, base, 1, Event("revoke", c.Serial)); err != nil {
				errs <- err
			}
			var err error
			if crl[i], err = s.NextCRLNumber(ctx, Event("crl", "")); err != nil {
				errs <- err
			}
			if err := s.AppendAudit(ctx, Event("note", c.Serial)); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := list(t, s, store.Filter{RevokedOnly: true}); len(got) != n {
		t.Errorf("%d revoked certificates, want %d", len(got), n)
	}
	revs, err := s.Revocations(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for i, r := range revs {
		if r.Seq != int64(i+1) || seen[r.Serial] {
			t.Errorf("revocation %d: %+v", i, r)
		}
		seen[r.Serial] = true
	}
	if len(revs) != n {
		t.Errorf("%d revocations, want %d", len(revs), n)
	}
	slices.Sort(crl)
	for i, v := range crl {
		if v != int64(i+1) {
			t.Errorf("CRL numbers handed out: %v", crl)
			break
		}
	}
	if log := auditLog(t, s); len(log) != 4*n {
		t.Errorf("%d audit entries, want %d", len(log), 4*n)
	}
}

// testConcurrentDuplicates puts one serial from many goroutines while others
// put distinct ones: exactly one duplicate wins and the others' failures do
// not touch the distinct writes.
func testConcurrentDuplicates(t *testing.T, s store.Store) {
	const n = 20
	var wg sync.WaitGroup
	dupErrs := make([]error, n)
	otherErrs := make([]error, n)
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			c := Cert(77, fmt.Sprintf("dup%d", i), base)
			dupErrs[i] = s.PutCertificate(ctx, c, Event("issue", c.Serial))
		})
		wg.Go(func() {
			<-start
			otherErrs[i] = s.PutCertificate(ctx, Cert(100+i, "other", base), Event("issue", Serial(100+i)))
		})
	}
	close(start)
	wg.Wait()
	won := 0
	for _, err := range dupErrs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, store.ErrExists):
			t.Errorf("duplicate put: got %v, want nil or ErrExists", err)
		}
	}
	if won != 1 {
		t.Errorf("%d duplicate puts succeeded, want 1", won)
	}
	for i, err := range otherErrs {
		if err != nil {
			t.Errorf("distinct put %d: %v", i, err)
		}
	}
	if got := list(t, s, store.Filter{}); len(got) != n+1 {
		t.Errorf("%d certificates stored, want %d", len(got), n+1)
	}
	if log := auditLog(t, s); len(log) != n+1 {
		t.Errorf("%d audit entries, want %d", len(log), n+1)
	}
}

func testCancelledContext(t *testing.T, s store.Store) {
	put(t, s, Cert(1, "live", base))
	done, cancel := context.WithCancel(ctx)
	cancel()
	c := Cert(2, "dead", base)
	calls := map[string]func() error{
		"PutCertificate": func() error { return s.PutCertificate(done, c, Event("issue", c.Serial)) },
		"Revoke": func() error {
			_, err := s.Revoke(done, Serial(1), base, 1, Event("revoke", Serial(1)))
			return err
		},
		"NextCRLNumber": func() error { _, err := s.NextCRLNumber(done, Event("crl", "")); return err },
		"AppendAudit":   func() error { return s.AppendAudit(done, Event("note", "")) },
		"Certificate":   func() error { _, err := s.Certificate(done, Serial(1)); return err },
		"List":          func() error { _, err := s.List(done, store.Filter{}); return err },
		"Revocations":   func() error { _, err := s.Revocations(done, 0); return err },
		"AuditLog":      func() error { _, err := s.AuditLog(done, 0, 0); return err },
		"LastRevSeq":    func() error { _, err := s.LastRevocationSeq(done); return err },
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a cancelled context: got %v, want context.Canceled", name, err)
		}
	}
	if _, err := s.Certificate(ctx, c.Serial); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("certificate put with a cancelled context: %v", err)
	}
	if got, _ := s.Certificate(ctx, Serial(1)); got.Revoked() {
		t.Error("Revoke with a cancelled context revoked")
	}
	if n, err := s.NextCRLNumber(ctx, Event("crl", "")); err != nil || n != 1 {
		t.Errorf("NextCRLNumber after a cancelled one: %d, %v; want 1", n, err)
	}
	if log := auditLog(t, s); len(log) != 2 {
		t.Errorf("%d audit entries, want 2 (issue, crl)", len(log))
	}
}
