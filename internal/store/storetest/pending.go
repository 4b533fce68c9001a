package storetest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mtlsgate/mtlsgate/internal/store"
)

// RunPending runs the suite's tests of queued enrollment requests only
// (Run includes them).
func RunPending(t *testing.T, open func(t *testing.T) store.Store) {
	for name, fn := range map[string]func(*testing.T, store.Store){"Pending": testPending, "PendingBadInput": testPendingBadInput} {
		t.Run(name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			fn(t, s)
		})
	}
}

// PendingRequest returns a waiting request with ID id (hex), match key
// from key, created at created and expiring a week later.
func PendingRequest(id, key string, created time.Time) store.Pending {
	return store.Pending{
		ID: id, MatchKey: strings.Repeat(key, 64/len(key)), Label: "iot", Profile: "client",
		CN: "device-" + id, SANs: []string{"dns:" + id + ".example"}, Credential: "basic:alice", KeyType: "ecdsa-p256",
		CSR: []byte("\x30\x82csr-" + id), CreatedAt: created, ExpiresAt: created.Add(7 * 24 * time.Hour),
		Status: store.PendingWaiting,
	}
}

func samePending(t *testing.T, got, want store.Pending) {
	t.Helper()
	if got.CSR != nil && want.CSR != nil && string(got.CSR) != string(want.CSR) {
		t.Errorf("request %s: CSR differs", want.ID)
	}
	got.CSR, want.CSR = nil, nil
	g, w := fmt.Sprintf("%+v", got), fmt.Sprintf("%+v", want)
	if g != w {
		t.Errorf("request:\n got %s\nwant %s", g, w)
	}
}

func testPending(t *testing.T, s store.Store) {
	now := base.Add(-100 * 24 * time.Hour)
	p := PendingRequest("0a1b", "ab", now)
	got, found, err := s.CreatePending(ctx, p, now, Event("est-queue", ""))
	if err != nil || found {
		t.Fatalf("CreatePending = %v, found %v", err, found)
	}
	samePending(t, got, p)

	// A retry (same match key) finds the same request; nothing is added.
	retry := PendingRequest("0c0d", "ab", now.Add(time.Minute))
	got, found, err = s.CreatePending(ctx, retry, now.Add(time.Minute), Event("est-queue", ""))
	if err != nil || !found || got.ID != p.ID {
		t.Fatalf("retry: %+v found=%v err=%v", got, found, err)
	}
	if _, err := s.Pending(ctx, "0c0d"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("retry stored a second row: %v", err)
	}
	// Same ID, other key: ErrExists.
	if _, _, err := s.CreatePending(ctx, PendingRequest("0a1b", "cd", now), now, Event("est-queue", "")); !errors.Is(err, store.ErrExists) {
		t.Fatalf("duplicate ID: %v", err)
	}
	full, err := s.Pending(ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	samePending(t, full, p)
	if string(full.CSR) != string(p.CSR) {
		t.Error("Pending lost the CSR")
	}
	if f, err := s.FindPending(ctx, p.MatchKey, now.Add(time.Hour)); err != nil || f.ID != p.ID || len(f.CSR) == 0 {
		t.Fatalf("FindPending = %+v, %v", f, err)
	}
	if _, err := s.FindPending(ctx, strings.Repeat("ef", 32), now); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("FindPending unknown key: %v", err)
	}
	if _, err := s.FindPending(ctx, p.MatchKey, p.ExpiresAt); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("FindPending after expiry: %v", err)
	}
	// Once the first expired, the same key queues a new request.
	later := PendingRequest("0e0f", "ab", p.ExpiresAt)
	if got, found, err := s.CreatePending(ctx, later, p.ExpiresAt, Event("est-queue", "")); err != nil || found || got.ID != later.ID {
		t.Fatalf("after expiry: %+v found=%v err=%v", got, found, err)
	}
	if f, _ := s.FindPending(ctx, p.MatchKey, p.ExpiresAt); f.ID != later.ID {
		t.Fatalf("FindPending returned %s, want the newer %s", f.ID, later.ID)
	}

	// List: all, by status, live only; oldest first, without CSRs.
	other := PendingRequest("1234", "12", now.Add(time.Second))
	if _, _, err := s.CreatePending(ctx, other, now.Add(time.Second), Event("est-queue", "")); err != nil {
		t.Fatal(err)
	}
	ids := func(f store.PendingFilter) []string {
		t.Helper()
		l, err := s.ListPending(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, x := range l {
			if x.CSR != nil {
				t.Error("ListPending returned a CSR")
			}
			out = append(out, x.ID)
		}
		return out
	}
	if got := ids(store.PendingFilter{}); !slices.Equal(got, []string{"0a1b", "1234", "0e0f"}) {
		t.Errorf("ListPending all = %v", got)
	}
	if got := ids(store.PendingFilter{LiveAt: p.ExpiresAt}); !slices.Equal(got, []string{"1234", "0e0f"}) {
		t.Errorf("ListPending live = %v", got)
	}
	if got := ids(store.PendingFilter{Limit: 1}); !slices.Equal(got, []string{"0a1b"}) {
		t.Errorf("ListPending limit = %v", got)
	}
	testDecide(t, s, now, other)
}

func testDecide(t *testing.T, s store.Store, now time.Time, p store.Pending) {
	at := now.Add(time.Hour)
	week := at.Add(7 * 24 * time.Hour)
	cert := Cert(77, p.CN, base)
	certAudit := Event("est-enroll", cert.Serial)
	approve := store.Decision{Approve: true, At: at, By: "cli:op", ExpiresAt: week, Cert: &cert, CertAudit: certAudit}

	if _, err := s.DecidePending(ctx, "ffff", approve, Event("est-approve", "")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("decide unknown: %v", err)
	}
	noCert := approve
	noCert.Cert = nil
	if _, err := s.DecidePending(ctx, p.ID, noCert, Event("est-approve", "")); err == nil {
		t.Fatal("approval without a certificate accepted")
	}
	before := len(auditLog(t, s))
	got, err := s.DecidePending(ctx, p.ID, approve, Event("est-approve", cert.Serial))
	if err != nil {
		t.Fatal(err)
	}
	want := p
	want.Status, want.DecidedAt, want.DecidedBy, want.Serial, want.ExpiresAt = store.PendingApproved, at, "cli:op", cert.Serial, week
	samePending(t, got, want)
	stored, err := s.Pending(ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	samePending(t, stored, want)
	c, err := s.Certificate(ctx, cert.Serial)
	if err != nil {
		t.Fatalf("the approved certificate was not stored: %v", err)
	}
	sameCert(t, c, cert)
	log := auditLog(t, s)[before:]
	if len(log) != 2 || log[0].Action != "est-enroll" || log[1].Action != "est-approve" {
		t.Errorf("audit after approval: %+v", log)
	}
	// Decided once: a second approval or a rejection fails, and no second
	// certificate is stored.
	cert2 := Cert(78, p.CN, base)
	again := approve
	again.Cert = &cert2
	if _, err := s.DecidePending(ctx, p.ID, again, Event("est-approve", "")); !errors.Is(err, store.ErrPendingDecided) {
		t.Fatalf("second approval: %v", err)
	}
	if _, err := s.Certificate(ctx, cert2.Serial); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a refused approval stored its certificate: %v", err)
	}
	reject := store.Decision{At: at, By: "cli:op", Reason: "unknown device", ExpiresAt: week}
	if _, err := s.DecidePending(ctx, p.ID, reject, Event("est-reject", "")); !errors.Is(err, store.ErrPendingDecided) {
		t.Fatalf("reject after approval: %v", err)
	}

	// Rejection, and deciding too late.
	r := PendingRequest("5678", "56", now)
	if _, _, err := s.CreatePending(ctx, r, now, Event("est-queue", "")); err != nil {
		t.Fatal(err)
	}
	withCert := reject
	withCert.Cert = &cert2
	if _, err := s.DecidePending(ctx, r.ID, withCert, Event("est-reject", "")); err == nil {
		t.Fatal("a rejection with a certificate was accepted")
	}
	late := reject
	late.At, late.ExpiresAt = r.ExpiresAt, r.ExpiresAt.Add(time.Hour)
	if _, err := s.DecidePending(ctx, r.ID, late, Event("est-reject", "")); !errors.Is(err, store.ErrPendingExpired) {
		t.Fatalf("decide after expiry: %v", err)
	}
	got, err = s.DecidePending(ctx, r.ID, reject, Event("est-reject", ""))
	if err != nil || got.Status != store.PendingRejected || got.Reason != "unknown device" || got.Serial != "" {
		t.Fatalf("reject: %+v, %v", got, err)
	}
	l, err := s.ListPending(ctx, store.PendingFilter{Status: store.PendingRejected})
	if err != nil || len(l) != 1 || l[0].ID != r.ID {
		t.Fatalf("ListPending rejected: %+v, %v", l, err)
	}
	testConcurrentDecide(t, s, now)
}

// testConcurrentDecide: of concurrent approvals of one request, exactly one
// stores its certificate.
func testConcurrentDecide(t *testing.T, s store.Store, now time.Time) {
	p := PendingRequest("9abc", "9a", now)
	if _, _, err := s.CreatePending(ctx, p, now, Event("est-queue", "")); err != nil {
		t.Fatal(err)
	}
	var wins atomic.Int32
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Go(func() {
			c := Cert(500+i, p.CN, base)
			d := store.Decision{Approve: true, At: now.Add(time.Minute), By: "x", ExpiresAt: now.Add(time.Hour), Cert: &c, CertAudit: Event("est-enroll", c.Serial)}
			_, err := s.DecidePending(ctx, p.ID, d, Event("est-approve", c.Serial))
			switch {
			case err == nil:
				wins.Add(1)
			case !errors.Is(err, store.ErrPendingDecided):
				t.Errorf("DecidePending: %v", err)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d approvals won", wins.Load())
	}
	if n := len(list(t, s, store.Filter{CN: p.CN})); n != 1 {
		t.Fatalf("%d certificates stored for one request", n)
	}
}

func testPendingBadInput(t *testing.T, s store.Store) {
	now := base
	good := PendingRequest("0a", "ab", now)
	bad := map[string]func(p *store.Pending){
		"empty ID":          func(p *store.Pending) { p.ID = "" },
		"upper-case ID":     func(p *store.Pending) { p.ID = "0A" },
		"long ID":           func(p *store.Pending) { p.ID = strings.Repeat("a", 65) },
		"bad key":           func(p *store.Pending) { p.MatchKey = "xyz" },
		"decided":           func(p *store.Pending) { p.Status = store.PendingApproved },
		"no CSR":            func(p *store.Pending) { p.CSR = nil },
		"no profile":        func(p *store.Pending) { p.Profile = "" },
		"expired already":   func(p *store.Pending) { p.ExpiresAt = now },
		"serial":            func(p *store.Pending) { p.Serial = "01" },
		"zero created":      func(p *store.Pending) { p.CreatedAt = time.Time{} },
		"time out of range": func(p *store.Pending) { p.ExpiresAt = time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC) },
	}
	for name, edit := range bad {
		p := good
		edit(&p)
		if _, _, err := s.CreatePending(ctx, p, now, Event("est-queue", "")); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if l, err := s.ListPending(ctx, store.PendingFilter{}); err != nil || len(l) != 0 {
		t.Fatalf("bad input stored something: %v %v", l, err)
	}
	if _, err := s.Pending(ctx, "not hex"); err == nil || errors.Is(err, store.ErrNotFound) {
		t.Errorf("Pending(not hex): %v", err)
	}
	if _, err := s.ListPending(ctx, store.PendingFilter{Limit: -1}); err == nil {
		t.Error("negative limit accepted")
	}
	if _, _, err := s.CreatePending(ctx, good, now, Event("est-queue", "")); err != nil {
		t.Fatal(err)
	}
	for name, d := range map[string]store.Decision{
		"zero time":      {At: time.Time{}, ExpiresAt: now.Add(time.Hour)},
		"expiry before":  {At: now, ExpiresAt: now},
		"approve no key": {Approve: true, At: now, ExpiresAt: now.Add(time.Hour), Cert: &store.Certificate{Serial: "zz"}},
	} {
		if _, err := s.DecidePending(ctx, good.ID, d, Event("x", "")); err == nil {
			t.Errorf("decision %s accepted", name)
		}
	}
	if p, _ := s.Pending(ctx, good.ID); p.Status != store.PendingWaiting {
		t.Errorf("a refused decision changed the request: %+v", p)
	}
}
