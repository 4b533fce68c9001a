// Package storetest is the conformance suite every store.Store
// implementation must pass.
//
// An implementation's test calls Run with a function that opens a new,
// empty store:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store {
//			s, err := store.OpenSQLite(filepath.Join(t.TempDir(), "ca.db"))
//			if err != nil {
//				t.Fatal(err)
//			}
//			return s
//		})
//	}
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mtlsgate/mtlsgate/internal/store"
)

// Run runs the suite. open must return a new, empty store each time it is
// called; Run closes it when the subtest ends.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"RoundTrip", testRoundTrip},
		{"BadInput", testBadInput},
		{"Exists", testExists},
		{"Issued", testIssued},
		{"Tokens", testTokens},
		{"Pending", testPending},
		{"PendingBadInput", testPendingBadInput},
		{"ListOrder", testListOrder},
		{"ListFilters", testListFilters},
		{"Revoke", testRevoke},
		{"Revocations", testRevocations},
		{"CRLNumber", testCRLNumber},
		{"AuditLog", testAuditLog},
		{"ConcurrentWriters", testConcurrentWriters},
		{"ConcurrentDuplicates", testConcurrentDuplicates},
		{"CancelledContext", testCancelledContext},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tc.fn(t, s)
		})
	}
	t.Run("WriteAfterClose", func(t *testing.T) {
		s := open(t)
		if err := s.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if err := s.PutCertificate(context.Background(), Cert(1, "a", base), Event("issue", "")); err == nil {
			t.Error("PutCertificate after Close succeeded")
		}
	})
}

// base is a NotAfter with nanoseconds, so lost precision shows.
var base = time.Date(2031, 5, 6, 7, 8, 9, 123456789, time.UTC)

// Serial is the canonical serial for i.
func Serial(i int) string { return store.SerialHex(big.NewInt(int64(i))) }

// Cert returns a certificate record with serial i, common name cn and the
// given NotAfter. Its DER is not a real certificate: stores do not parse it.
func Cert(i int, cn string, notAfter time.Time) store.Certificate {
	return store.Certificate{
		Serial:    Serial(i),
		Subject:   "CN=" + cn + ",O=Test",
		CN:        cn,
		Profile:   "client",
		NotBefore: notAfter.Add(-24 * time.Hour),
		NotAfter:  notAfter,
		DER:       []byte(fmt.Sprintf("\x30\x82der-%d\x00\xff", i)),
		KeyPEM:    []byte(fmt.Sprintf("-----BEGIN PRIVATE KEY-----\nkey-%d\n-----END PRIVATE KEY-----\n", i)),
		IssuedAt:  notAfter.Add(-24*time.Hour + time.Second),
	}
}

// Event returns an audit entry with a fixed time.
func Event(action, serial string) store.Audit {
	return store.Audit{
		Time: time.Date(2030, 1, 2, 3, 4, 5, 6, time.UTC), Actor: "test:actor",
		Action: action, Serial: serial, Detail: "detail of " + action + " " + serial,
	}
}

var ctx = context.Background()

func put(t *testing.T, s store.Store, c store.Certificate) {
	t.Helper()
	if err := s.PutCertificate(ctx, c, Event("issue", c.Serial)); err != nil {
		t.Fatalf("PutCertificate %s: %v", c.Serial, err)
	}
}

func revoke(t *testing.T, s store.Store, serial string, at time.Time) store.Revocation {
	t.Helper()
	r, err := s.Revoke(ctx, serial, at, 1, Event("revoke", serial))
	if err != nil {
		t.Fatalf("Revoke %s: %v", serial, err)
	}
	return r
}

func auditLog(t *testing.T, s store.Store) []store.Audit {
	t.Helper()
	log, err := s.AuditLog(ctx, 0, 0)
	if err != nil {
		t.Fatalf("AuditLog: %v", err)
	}
	return log
}

func list(t *testing.T, s store.Store, f store.Filter) []string {
	t.Helper()
	certs, err := s.List(ctx, f)
	if err != nil {
		t.Fatalf("List(%+v): %v", f, err)
	}
	serials := make([]string, len(certs))
	for i, c := range certs {
		if c.KeyPEM != nil {
			t.Errorf("List returned KeyPEM for %s", c.Serial)
		}
		serials[i] = c.Serial
	}
	return serials
}

func sameCert(t *testing.T, got, want store.Certificate) {
	t.Helper()
	if got.Serial != want.Serial || got.Subject != want.Subject || got.CN != want.CN || got.Profile != want.Profile {
		t.Errorf("names: got %q %q %q %q, want %q %q %q %q",
			got.Serial, got.Subject, got.CN, got.Profile, want.Serial, want.Subject, want.CN, want.Profile)
	}
	for _, p := range []struct {
		name      string
		got, want time.Time
	}{{"NotBefore", got.NotBefore, want.NotBefore}, {"NotAfter", got.NotAfter, want.NotAfter},
		{"IssuedAt", got.IssuedAt, want.IssuedAt}, {"RevokedAt", got.RevokedAt, want.RevokedAt}} {
		if !p.got.Equal(p.want) {
			t.Errorf("%s: got %v, want %v", p.name, p.got, p.want)
		}
	}
	if !bytes.Equal(got.DER, want.DER) {
		t.Errorf("DER: got %x, want %x", got.DER, want.DER)
	}
	if !bytes.Equal(got.KeyPEM, want.KeyPEM) {
		t.Errorf("KeyPEM differs (lengths %d, %d)", len(got.KeyPEM), len(want.KeyPEM))
	}
	if got.Reason != want.Reason {
		t.Errorf("Reason: got %d, want %d", got.Reason, want.Reason)
	}
}

func testRoundTrip(t *testing.T, s store.Store) {
	berlin := time.FixedZone("CEST", 2*3600)
	c := Cert(0x0a1b2c, "device-1", base.In(berlin))
	c.IssuedAt = time.Date(2030, 1, 1, 0, 0, 0, 1, berlin)
	put(t, s, c)
	for _, form := range []string{c.Serial, "0A1B2C", "0a:1b:2c", "0x0A:1B:2C", " 000a1b2c "} {
		got, err := s.Certificate(ctx, form)
		if err != nil {
			t.Fatalf("Certificate(%q): %v", form, err)
		}
		sameCert(t, got, c)
		if got.Revoked() {
			t.Error("new certificate reads as revoked")
		}
	}
	// Without a key, and with a serial whose DER integer needs a 00 byte.
	k := Cert(0xff, "device-2", base)
	k.KeyPEM = nil
	put(t, s, k)
	got, err := s.Certificate(ctx, "ff")
	if err != nil {
		t.Fatalf("Certificate(ff): %v", err)
	}
	if got.Serial != "00ff" || len(got.KeyPEM) != 0 {
		t.Errorf("got serial %q and %d key bytes, want 00ff and none", got.Serial, len(got.KeyPEM))
	}
}

func testBadInput(t *testing.T, s store.Store) {
	bad := map[string]store.Certificate{}
	for name, mut := range map[string]func(*store.Certificate){
		"empty serial":      func(c *store.Certificate) { c.Serial = "" },
		"upper-case serial": func(c *store.Certificate) { c.Serial = "0A" },
		"colon serial":      func(c *store.Certificate) { c.Serial = "01:02" },
		"unpadded serial":   func(c *store.Certificate) { c.Serial = "ff" },
		"non-hex serial":    func(c *store.Certificate) { c.Serial = "xyz" },
		"empty DER":         func(c *store.Certificate) { c.DER = nil },
		"zero NotAfter":     func(c *store.Certificate) { c.NotAfter = time.Time{} },
		"already revoked":   func(c *store.Certificate) { c.RevokedAt = base },
	} {
		c := Cert(7, "bad", base)
		mut(&c)
		bad[name] = c
	}
	for name, c := range bad {
		if err := s.PutCertificate(ctx, c, Event("issue", c.Serial)); err == nil {
			t.Errorf("PutCertificate with %s succeeded", name)
		}
	}
	for _, serial := range []string{"", "zz", "0x", ":", "-1", string(make([]byte, 10000))} {
		if _, err := s.Certificate(ctx, serial); err == nil || errors.Is(err, store.ErrNotFound) {
			t.Errorf("Certificate(%.20q): got %v, want a bad-serial error", serial, err)
		}
		if _, err := s.Revoke(ctx, serial, base, 1, Event("revoke", serial)); err == nil || errors.Is(err, store.ErrNotFound) {
			t.Errorf("Revoke(%.20q): got %v, want a bad-serial error", serial, err)
		}
	}
	if _, err := s.Certificate(ctx, "7f"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Certificate of unknown serial: got %v, want ErrNotFound", err)
	}
	put(t, s, Cert(8, "ok", base))
	for name, call := range map[string]func() error{
		"zero time":    func() error { _, err := s.Revoke(ctx, Serial(8), time.Time{}, 1, Event("revoke", "")); return err },
		"bad reason":   func() error { _, err := s.Revoke(ctx, Serial(8), base, -1, Event("revoke", "")); return err },
		"List limit":   func() error { _, err := s.List(ctx, store.Filter{Limit: -1}); return err },
		"AuditLog lim": func() error { _, err := s.AuditLog(ctx, 0, -1); return err },
	} {
		if call() == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if log := auditLog(t, s); len(log) != 1 {
		t.Errorf("failed writes left audit entries: %+v", log)
	}
	if c, _ := s.Certificate(ctx, Serial(8)); c.Revoked() {
		t.Error("a refused Revoke revoked the certificate")
	}
}

func testExists(t *testing.T, s store.Store) {
	c := Cert(42, "first", base)
	put(t, s, c)
	dup := Cert(42, "second", base.Add(time.Hour))
	if err := s.PutCertificate(ctx, dup, Event("issue", dup.Serial)); !errors.Is(err, store.ErrExists) {
		t.Fatalf("duplicate PutCertificate: got %v, want ErrExists", err)
	}
	got, err := s.Certificate(ctx, c.Serial)
	if err != nil {
		t.Fatal(err)
	}
	sameCert(t, got, c)
	if log := auditLog(t, s); len(log) != 1 {
		t.Errorf("got %d audit entries, want 1", len(log))
	}
}

func testListOrder(t *testing.T, s store.Store) {
	if got := list(t, s, store.Filter{}); len(got) != 0 {
		t.Fatalf("empty store lists %v", got)
	}
	offsets := map[int]time.Duration{ // serial -> NotAfter offset
		1: 3 * time.Hour, 2: time.Hour, 3: 2 * time.Hour, 4: time.Hour,
		5: time.Hour + time.Nanosecond, 6: time.Hour - time.Nanosecond, 0x10: time.Hour,
	}
	for _, i := range []int{3, 1, 0x10, 5, 2, 6, 4} {
		put(t, s, Cert(i, "c", base.Add(offsets[i])))
	}
	want := []string{Serial(6), Serial(2), Serial(4), Serial(0x10), Serial(5), Serial(3), Serial(1)}
	if got := list(t, s, store.Filter{}); !slices.Equal(got, want) {
		t.Errorf("List order: got %v, want %v", got, want)
	}
}

func testListFilters(t *testing.T, s store.Store) {
	// 1..6 expire an hour apart; 2 and 5 are revoked; CNs alternate.
	for i := 1; i <= 6; i++ {
		put(t, s, Cert(i, []string{"even", "odd"}[i%2], base.Add(time.Duration(i)*time.Hour)))
	}
	revoke(t, s, Serial(2), base)
	revoke(t, s, Serial(5), base)
	cases := []struct {
		f    store.Filter
		want []int
	}{
		{store.Filter{}, []int{1, 2, 3, 4, 5, 6}},
		{store.Filter{CN: "even"}, []int{2, 4, 6}},
		{store.Filter{CN: "none"}, nil},
		{store.Filter{RevokedOnly: true}, []int{2, 5}},
		{store.Filter{RevokedOnly: true, CN: "odd"}, []int{5}},
		{store.Filter{ExpiringBefore: base.Add(4 * time.Hour)}, []int{1, 3}}, // strictly before; not revoked
		{store.Filter{ExpiringBefore: base.Add(4*time.Hour + 1)}, []int{1, 3, 4}},
		{store.Filter{ExpiringBefore: base.Add(100 * 365 * 24 * time.Hour), CN: "even"}, []int{4, 6}},
		{store.Filter{ExpiringBefore: time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)}, []int{1, 3, 4, 6}},
		{store.Filter{ExpiringBefore: base}, nil},
		{store.Filter{Limit: 2}, []int{1, 2}},
		{store.Filter{Limit: 10}, []int{1, 2, 3, 4, 5, 6}},
		{store.Filter{CN: "even", Limit: 2}, []int{2, 4}},
	}
	for _, tc := range cases {
		var want []string
		for _, i := range tc.want {
			want = append(want, Serial(i))
		}
		if got := list(t, s, tc.f); !slices.Equal(got, want) {
			t.Errorf("List(%+v): got %v, want %v", tc.f, got, want)
		}
	}
}

func testRevoke(t *testing.T, s store.Store) {
	c := Cert(0xabcd, "r", base)
	put(t, s, c)
	at := time.Date(2030, 6, 1, 12, 0, 0, 999, time.FixedZone("X", -3600))
	r, err := s.Revoke(ctx, "00:AB:CD", at, 4, Event("revoke", c.Serial))
	if err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	if r.Seq != 1 || r.Serial != c.Serial || !r.RevokedAt.Equal(at) || r.Reason != 4 || !r.NotAfter.Equal(c.NotAfter) {
		t.Errorf("Revoke returned %+v", r)
	}
	got, err := s.Certificate(ctx, c.Serial)
	if err != nil {
		t.Fatal(err)
	}
	c.RevokedAt, c.Reason = at, 4
	sameCert(t, got, c)
	if !got.Revoked() {
		t.Error("revoked certificate reads as not revoked")
	}
	if _, err := s.Revoke(ctx, c.Serial, at, 1, Event("revoke", c.Serial)); !errors.Is(err, store.ErrAlreadyRevoked) {
		t.Errorf("second Revoke: got %v, want ErrAlreadyRevoked", err)
	}
	if _, err := s.Revoke(ctx, "0123", at, 1, Event("revoke", "0123")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Revoke of unknown serial: got %v, want ErrNotFound", err)
	}
	if log := auditLog(t, s); len(log) != 2 {
		t.Errorf("got %d audit entries, want 2 (issue, revoke)", len(log))
	}
	if revs, _ := s.Revocations(ctx, 0); len(revs) != 1 {
		t.Errorf("got %d revocations, want 1", len(revs))
	}
}

func testRevocations(t *testing.T, s store.Store) {
	if seq, err := s.LastRevocationSeq(ctx); err != nil || seq != 0 {
		t.Fatalf("LastRevocationSeq on empty store: %d, %v", seq, err)
	}
	if revs, err := s.Revocations(ctx, 0); err != nil || len(revs) != 0 {
		t.Fatalf("Revocations on empty store: %v, %v", revs, err)
	}
	order := []int{5, 3, 1, 4, 2}
	for _, i := range order {
		put(t, s, Cert(i, "x", base.Add(time.Duration(i)*time.Minute)))
	}
	for n, i := range order {
		r := revoke(t, s, Serial(i), base.Add(time.Duration(n)*time.Second))
		if r.Seq != int64(n+1) {
			t.Errorf("revocation %d got Seq %d", n+1, r.Seq)
		}
	}
	for after := int64(0); after <= 5; after++ {
		revs, err := s.Revocations(ctx, after)
		if err != nil {
			t.Fatal(err)
		}
		if len(revs) != int(5-after) {
			t.Fatalf("Revocations(%d): %d entries, want %d", after, len(revs), 5-after)
		}
		for k, r := range revs {
			n := int(after) + k
			if r.Seq != int64(n+1) || r.Serial != Serial(order[n]) || r.Reason != 1 ||
				!r.RevokedAt.Equal(base.Add(time.Duration(n)*time.Second)) ||
				!r.NotAfter.Equal(base.Add(time.Duration(order[n])*time.Minute)) {
				t.Errorf("Revocations(%d)[%d] = %+v", after, k, r)
			}
		}
	}
	if seq, err := s.LastRevocationSeq(ctx); err != nil || seq != 5 {
		t.Errorf("LastRevocationSeq: %d, %v; want 5", seq, err)
	}
}

func testCRLNumber(t *testing.T, s store.Store) {
	for want := int64(1); want <= 3; want++ {
		n, err := s.NextCRLNumber(ctx, Event("crl", ""))
		if err != nil || n != want {
			t.Fatalf("NextCRLNumber: %d, %v; want %d", n, err, want)
		}
	}
	log := auditLog(t, s)
	if len(log) != 3 || log[2].Action != "crl" {
		t.Errorf("audit after 3 CRLs: %+v", log)
	}
}

func testAuditLog(t *testing.T, s store.Store) {
	if log := auditLog(t, s); len(log) != 0 {
		t.Fatalf("empty store has audit entries %+v", log)
	}
	loc := time.FixedZone("Y", 5*3600+1800)
	var want []store.Audit
	add := func(a store.Audit) { want = append(want, a) }
	first := store.Audit{Time: time.Date(2029, 2, 3, 4, 5, 6, 7, loc), Actor: "cli:root@host", Action: "init", Detail: "root=01"}
	if err := s.AppendAudit(ctx, first); err != nil {
		t.Fatal(err)
	}
	add(first)
	c := Cert(9, "a", base)
	put(t, s, c)
	add(Event("issue", c.Serial))
	revoke(t, s, c.Serial, base)
	add(Event("revoke", c.Serial))
	if _, err := s.NextCRLNumber(ctx, Event("crl", "")); err != nil {
		t.Fatal(err)
	}
	add(Event("crl", ""))
	if err := s.AppendAudit(ctx, store.Audit{Action: "zero-time"}); err != nil {
		t.Fatal(err)
	}
	add(store.Audit{Action: "zero-time"})

	log := auditLog(t, s)
	if len(log) != len(want) {
		t.Fatalf("got %d entries, want %d: %+v", len(log), len(want), log)
	}
	for i, a := range log {
		w := want[i]
		if !a.Time.Equal(w.Time) || a.Actor != w.Actor || a.Action != w.Action || a.Serial != w.Serial || a.Detail != w.Detail {
			t.Errorf("entry %d: got %+v, want %+v", i, a, w)
		}
		if !a.Time.IsZero() && a.Time.Location() != time.UTC {
			t.Errorf("entry %d: time %v is not UTC", i, a.Time)
		}
		if i > 0 && a.Seq <= log[i-1].Seq {
			t.Errorf("entry %d: Seq %d after %d", i, a.Seq, log[i-1].Seq)
		}
	}
	page, err := s.AuditLog(ctx, log[1].Seq, 2)
	if err != nil || len(page) != 2 || page[0].Seq != log[2].Seq || page[1].Seq != log[3].Seq {
		t.Errorf("AuditLog(after %d, limit 2) = %+v, %v", log[1].Seq, page, err)
	}
	if rest, err := s.AuditLog(ctx, log[len(log)-1].Seq, 0); err != nil || len(rest) != 0 {
		t.Errorf("AuditLog after the last entry = %+v, %v", rest, err)
	}
}

func testIssued(t *testing.T, s store.Store) {
	ctx := context.Background()
	c := Cert(1, "alice", time.Now().Add(time.Hour))
	if ok, err := s.Issued(ctx, c.Serial); err != nil || ok {
		t.Fatalf("Issued before put = %v, %v", ok, err)
	}
	if err := s.PutCertificate(ctx, c, Event("issue", c.Serial)); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.Issued(ctx, strings.ToUpper(c.Serial)); err != nil || !ok {
		t.Fatalf("Issued after put = %v, %v", ok, err)
	}
	if _, err := s.Revoke(ctx, c.Serial, time.Now(), 1, Event("revoke", c.Serial)); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.Issued(ctx, c.Serial); err != nil || !ok {
		t.Fatalf("Issued after revoke = %v, %v", ok, err)
	}
	if _, err := s.Issued(ctx, "not hex"); err == nil {
		t.Fatal("bad serial accepted")
	}
}

func testTokens(t *testing.T, s store.Store) {
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	h := strings.Repeat("ab", 32)
	tok := store.Token{Hash: h, CN: "device-17", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	if err := s.CreateToken(ctx, tok, Event("est-token", "")); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateToken(ctx, tok, Event("est-token", "")); !errors.Is(err, store.ErrExists) {
		t.Fatalf("duplicate token: %v", err)
	}
	if got, err := s.Token(ctx, h); err != nil || got.CN != "device-17" || !got.UsedAt.IsZero() {
		t.Fatalf("Token = %+v, %v", got, err)
	}
	if _, err := s.SpendToken(ctx, strings.Repeat("cd", 32), now, Event("est-enroll", "")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown token: %v", err)
	}
	if _, err := s.SpendToken(ctx, h, now.Add(2*time.Hour), Event("est-enroll", "")); !errors.Is(err, store.ErrTokenSpent) {
		t.Fatalf("expired token: %v", err)
	}
	// Concurrent spenders: exactly one wins.
	var wins atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 10; i++ {
		wg.Go(func() {
			if _, err := s.SpendToken(ctx, h, now.Add(time.Minute), Event("est-enroll", "")); err == nil {
				wins.Add(1)
			} else if !errors.Is(err, store.ErrTokenSpent) {
				t.Errorf("SpendToken: %v", err)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d spenders won", wins.Load())
	}
	if got, _ := s.Token(ctx, h); got.UsedAt.IsZero() {
		t.Fatal("spent token not marked used")
	}
	if err := s.CreateToken(ctx, store.Token{Hash: "XYZ", CN: "x", CreatedAt: now, ExpiresAt: now}, Event("est-token", "")); err == nil {
		t.Fatal("bad hash accepted")
	}
}
