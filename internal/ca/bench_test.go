package ca

import (
	"context"
	"testing"
	"time"

	"github.com/mtlsgate/mtlsgate/internal/store"
)

// BenchmarkIssue issues ECDSA P-256 client certificates with generated keys,
// each durably stored (SQLite, synchronous=FULL) with its audit entry before
// Issue returns. Target: ≥ 2,000/s on one core (go test -cpu 1). 32
// concurrent issuers per core, as a server answering enrollments has: the
// store commits concurrent writes together (group commit), each caller
// returning only once its own row is durable.
func BenchmarkIssue(b *testing.B) {
	a := newTestCA(b, InitOptions{})
	ctx := context.Background()
	b.SetParallelism(32)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := a.Issue(ctx, IssueRequest{Profile: "client", CN: "bench"}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "certs/s")
}

// BenchmarkCRL1M signs a CRL listing 1,000,000 revoked certificates.
// Target: under 5 s.
func BenchmarkCRL1M(b *testing.B) {
	a := newTestCA(b, InitOptions{})
	fillRevoked(b, a, 1_000_000)
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		crl, err := a.NewCRL(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if crl.Entries != 1_000_000 {
			b.Fatalf("%d entries", crl.Entries)
		}
		b.ReportMetric(float64(len(crl.DER))/(1<<20), "MiB")
	}
}

// fillRevoked puts n synthetic revocations straight into the in-memory set
// (what NewCRL reads), bypassing the store so the benchmark measures CRL
// generation, not inserting a million rows.
func fillRevoked(b *testing.B, a *Authority, n int) {
	now := time.Now()
	a.revoked.mu.Lock()
	defer a.revoked.mu.Unlock()
	a.revoked.bySer = make(map[string]store.Revocation, n)
	for i := 0; i < n; i++ {
		s, err := newSerial()
		if err != nil {
			b.Fatal(err)
		}
		a.revoked.bySer[string(s.Bytes())] = store.Revocation{Seq: int64(i + 1), RevokedAt: now, Reason: i % 5, NotAfter: now.Add(day)}
	}
	a.revoked.lastSeq = 1 << 62 // nothing in the store is newer
}
