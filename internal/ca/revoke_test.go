package ca

import (
	"context"
	"crypto/x509"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/mtlsgate/mtlsgate/internal/store"
)

func colonHex(n *big.Int) string {
	h := strings.ToUpper(store.SerialHex(n))
	var parts []string
	for i := 0; i < len(h); i += 2 {
		parts = append(parts, h[i:i+2])
	}
	return strings.Join(parts, ":")
}

func TestRevokeAndCRL(t *testing.T) {
	ctx := context.Background()
	a := newTestCA(t, InitOptions{})
	alice := issue(t, a, IssueRequest{Profile: "client", CN: "alice"})
	bob := issue(t, a, IssueRequest{Profile: "client", CN: "bob"})
	bob2 := issue(t, a, IssueRequest{Profile: "client", CN: "bob"})
	gen := a.RevocationGeneration()

	// Serial as openssl prints it: upper case with colons.
	rev, err := a.Revoke(ctx, colonHex(alice.Cert.SerialNumber), 1)
	if err != nil {
		t.Fatal(err)
	}
	if rev.Serial != store.SerialHex(alice.Cert.SerialNumber) || rev.Reason != 1 {
		t.Fatalf("revocation %+v", rev)
	}
	if a.RevocationGeneration() == gen {
		t.Error("generation did not change")
	}
	if r, ok := a.CheckRevoked(alice.Cert); !ok || r.Reason != 1 {
		t.Errorf("CheckRevoked(alice) = %+v, %v", r, ok)
	}
	if _, ok := a.CheckRevoked(bob.Cert); ok {
		t.Error("bob reported revoked")
	}
	if _, err := a.Revoke(ctx, store.SerialHex(alice.Cert.SerialNumber), 0); !errors.Is(err, store.ErrAlreadyRevoked) {
		t.Errorf("second revoke: %v", err)
	}
	if _, err := a.Revoke(ctx, "0badc0ffee", 0); err == nil || !strings.Contains(err.Error(), "no certificate with this serial") {
		t.Errorf("unknown serial: %v", err)
	}
	if _, err := a.Revoke(ctx, "zz", 0); err == nil {
		t.Error("bad hex accepted")
	}
	revs, err := a.RevokeCN(ctx, "bob", 4)
	if err != nil || len(revs) != 2 {
		t.Fatalf("RevokeCN: %v %v", revs, err)
	}
	if _, err := a.RevokeCN(ctx, "bob", 4); err == nil {
		t.Error("RevokeCN with nothing left to revoke succeeded")
	}

	crl1, err := a.NewCRL(ctx)
	if err != nil {
		t.Fatal(err)
	}
	crl2, err := a.NewCRL(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if crl2.Number <= crl1.Number {
		t.Errorf("CRL numbers %d then %d", crl1.Number, crl2.Number)
	}
	parsed, err := x509.ParseRevocationList(crl2.DER)
	if err != nil {
		t.Fatal(err)
	}
	if err := parsed.CheckSignatureFrom(a.Intermediate()); err != nil {
		t.Fatalf("CRL signature: %v", err)
	}
	if parsed.Number.Int64() != crl2.Number || !parsed.NextUpdate.After(parsed.ThisUpdate) {
		t.Errorf("number %v next %v this %v", parsed.Number, parsed.NextUpdate, parsed.ThisUpdate)
	}
	want := map[string]int{store.SerialHex(alice.Cert.SerialNumber): 1, store.SerialHex(bob.Cert.SerialNumber): 4, store.SerialHex(bob2.Cert.SerialNumber): 4}
	if len(parsed.RevokedCertificateEntries) != len(want) {
		t.Fatalf("%d entries", len(parsed.RevokedCertificateEntries))
	}
	for _, e := range parsed.RevokedCertificateEntries {
		if r, ok := want[store.SerialHex(e.SerialNumber)]; !ok || r != e.ReasonCode {
			t.Errorf("entry %x reason %d", e.SerialNumber, e.ReasonCode)
		}
	}
}

// A second Authority on the same store (the CLI while serve runs) sees
// revocations at its next sync.
func TestRevocationsSeenByOtherProcess(t *testing.T) {
	ctx := context.Background()
	a := newTestCA(t, InitOptions{})
	b, err := Open(a.Dir(), Options{Actor: "serve"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	c := issue(t, a, IssueRequest{Profile: "client", CN: "carol"})
	if _, err := a.Revoke(ctx, store.SerialHex(c.Cert.SerialNumber), 0); err != nil {
		t.Fatal(err)
	}
	if _, ok := b.CheckRevoked(c.Cert); ok {
		t.Fatal("seen before sync")
	}
	gen := b.RevocationGeneration()
	if err := b.SyncRevocations(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := b.CheckRevoked(c.Cert); !ok || b.RevocationGeneration() == gen {
		t.Fatal("not seen after sync")
	}
	// A certificate of another CA with the same serial is not affected.
	other := newTestCA(t, InitOptions{})
	o := issue(t, other, IssueRequest{Profile: "client", CN: "carol"})
	o.Cert.SerialNumber = c.Cert.SerialNumber
	if _, ok := b.CheckRevoked(o.Cert); ok {
		t.Fatal("foreign certificate reported revoked")
	}
}

func TestCRLDropsExpired(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	a := newTestCA(t, InitOptions{})
	a.now = func() time.Time { return now }
	c := issue(t, a, IssueRequest{Profile: "client", CN: "short", TTL: time.Hour})
	if _, err := a.Revoke(ctx, store.SerialHex(c.Cert.SerialNumber), 0); err != nil {
		t.Fatal(err)
	}
	a.now = func() time.Time { return now.Add(2 * time.Hour) }
	crl, err := a.NewCRL(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if crl.Entries != 0 {
		t.Fatalf("expired certificate still listed (%d entries)", crl.Entries)
	}
}

func TestParseReason(t *testing.T) {
	for in, want := range map[string]int{"": 0, "keyCompromise": 1, "key-compromise": 1, "SUPERSEDED": 4, "privilege_withdrawn": 9} {
		if got, err := ParseReason(in); err != nil || got != want {
			t.Errorf("ParseReason(%q) = %d, %v", in, got, err)
		}
	}
	if _, err := ParseReason("certificateHold"); err == nil {
		t.Error("certificateHold accepted: revocation here is final")
	}
}

// The hand-written CRL encoder produces CRLs crypto/x509 parses and
// verifies, for every CA key type, with and without reasons, and with
// serials whose top bit is set.
func TestCRLEncodingKeyTypes(t *testing.T) {
	for _, kt := range []KeyType{ECDSAP256, ECDSAP384, RSA2048, Ed25519} {
		t.Run(string(kt), func(t *testing.T) {
			a := newTestCA(t, InitOptions{KeyType: kt})
			enc := crlEncoder{issuerRaw: a.inter.RawSubject, akid: a.inter.SubjectKeyId, key: a.interKey}
			now := time.Now().UTC().Truncate(time.Second)
			entries := []crlEntry{
				{serial: []byte{0x80, 1}, at: now, reason: 1},
				{serial: []byte{0x01}, at: now.Add(-time.Hour)},
				{serial: []byte{0, 0, 0x7f}, at: time.Date(2051, 1, 1, 0, 0, 0, 0, time.UTC), reason: 9},
			}
			der, err := enc.encode(42, now, now.Add(time.Hour), entries)
			if err != nil {
				t.Fatal(err)
			}
			crl, err := x509.ParseRevocationList(der)
			if err != nil {
				t.Fatal(err)
			}
			if err := crl.CheckSignatureFrom(a.Intermediate()); err != nil {
				t.Fatalf("signature: %v", err)
			}
			if crl.Number.Int64() != 42 || !crl.ThisUpdate.Equal(now) || !crl.NextUpdate.Equal(now.Add(time.Hour)) {
				t.Errorf("number %v this %v next %v", crl.Number, crl.ThisUpdate, crl.NextUpdate)
			}
			if string(crl.AuthorityKeyId) != string(a.inter.SubjectKeyId) {
				t.Error("AKID")
			}
			want := []struct {
				serial int64
				reason int
				at     time.Time
			}{{0x8001, 1, now}, {1, 0, now.Add(-time.Hour)}, {0x7f, 9, entries[2].at}}
			for i, e := range crl.RevokedCertificateEntries {
				if e.SerialNumber.Int64() != want[i].serial || e.ReasonCode != want[i].reason || !e.RevocationTime.Equal(want[i].at) {
					t.Errorf("entry %d: %v %d %v", i, e.SerialNumber, e.ReasonCode, e.RevocationTime)
				}
			}
		})
	}
}
