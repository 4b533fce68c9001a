package revocation

import (
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"math/big"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"

	"github.com/mtlsgate/mtlsgate/internal/ocspresp"
	"github.com/mtlsgate/mtlsgate/internal/testpki"
)

// encodeBigCRL writes a v2 CRL for ca with n entries of 16-byte serials
// (plus extra serials), one in three with a reason code, signed with
// ECDSA-SHA256. crypto/x509.CreateRevocationList takes far too long for a
// million entries.
func encodeBigCRL(tb testing.TB, ca *testpki.CA, n int, extra ...*big.Int) []byte {
	tb.Helper()
	now := time.Now().UTC().Truncate(time.Second)
	alg := func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.OBJECT_IDENTIFIER, func(b *cryptobyte.Builder) { b.AddBytes(oidECDSASHA256DER) })
		})
	}
	entry := func(b *cryptobyte.Builder, serial []byte, at time.Time, reason int) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.INTEGER, func(b *cryptobyte.Builder) { b.AddBytes(serial) })
			b.AddASN1UTCTime(at)
			if reason != 0 {
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
					b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
						b.AddASN1(cbasn1.OBJECT_IDENTIFIER, func(b *cryptobyte.Builder) { b.AddBytes(oidReasonCodeDER) })
						b.AddASN1(cbasn1.OCTET_STRING, func(b *cryptobyte.Builder) { b.AddASN1Enum(int64(reason)) })
					})
				})
			}
		})
	}
	tbs := cryptobyte.NewBuilder(make([]byte, 0, n*40+1024))
	tbs.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1Int64(1)
		alg(b)
		b.AddBytes(ca.Cert.RawSubject)
		b.AddASN1UTCTime(now.Add(-time.Hour))
		b.AddASN1UTCTime(now.Add(24 * time.Hour))
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			var seed [32]byte
			_, _ = rand.Read(seed[:])
			var serial [16]byte
			for i := range n {
				binary.BigEndian.PutUint64(seed[:8], uint64(i))
				h := sha256.Sum256(seed[:])
				copy(serial[:], h[:16])
				serial[0] &= 0x7f
				serial[0] |= 0x01
				reason := 0
				if i%3 == 0 {
					reason = 1
				}
				entry(b, serial[:], now.Add(-time.Duration(i)*time.Second), reason)
			}
			for _, s := range extra {
				entry(b, serialDER(s), now.Add(-time.Minute), 4)
			}
		})
		b.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
					b.AddASN1(cbasn1.OBJECT_IDENTIFIER, func(b *cryptobyte.Builder) { b.AddBytes(oidCRLNumberDER) })
					b.AddASN1(cbasn1.OCTET_STRING, func(b *cryptobyte.Builder) { b.AddASN1Int64(1) })
				})
			})
		})
	})
	tbsDER := tbs.BytesOrPanic()
	digest := sha256.Sum256(tbsDER)
	sig, err := ca.Key.Sign(rand.Reader, digest[:], crypto.SHA256)
	if err != nil {
		tb.Fatal(err)
	}
	out := cryptobyte.NewBuilder(make([]byte, 0, len(tbsDER)+256))
	out.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddBytes(tbsDER)
		alg(b)
		b.AddASN1BitString(sig)
	})
	return out.BytesOrPanic()
}

// bigCRLFixture is a CA, a million-entry CRL file and two leaves, one of
// them revoked; built once per process.
type bigCRLFixture struct {
	ca        *testpki.CA
	path      string
	good, bad *testpki.Leaf
	der       []byte
}

var (
	bigOnce sync.Once
	bigFix  *bigCRLFixture
)

// loadBigFixture builds the fixture once and writes the CRL into the
// benchmark's temporary directory.
func loadBigFixture(b *testing.B) *bigCRLFixture {
	bigOnce.Do(func() {
		ca := testpki.NewRootCA(b, "Big CRL CA")
		f := &bigCRLFixture{ca: ca, good: ca.Issue(b, testpki.Options{CN: "good"}), bad: ca.Issue(b, testpki.Options{CN: "bad"})}
		f.der = encodeBigCRL(b, ca, 1_000_000, f.bad.Cert.SerialNumber)
		bigFix = f
	})
	if bigFix == nil {
		b.Fatal("fixture failed")
	}
	f := *bigFix
	f.path = filepath.Join(b.TempDir(), "big.crl")
	if err := os.WriteFile(f.path, f.der, 0o600); err != nil {
		b.Fatal(err)
	}
	return &f
}

// BenchmarkLoadCRL1M loads (read, parse, index, signature check) a CRL of
// a million entries and reports the heap it keeps (MiB), the bytes
// allocated while loading (alloc-MiB), and the CPU time of a full
// collection with the CRL loaded (gc-ms: what the index adds to every
// collection cycle of a gateway that holds it).
func BenchmarkLoadCRL1M(b *testing.B) {
	f := loadBigFixture(b)
	b.ReportMetric(float64(len(f.der))/(1<<20), "crl-MiB")
	var kept, allocated, gcMS float64
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		runtime.GC()
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		b.StartTimer()
		c, err := New(Config{CRLs: []CRLSource{{File: f.path}}, Issuers: []*x509.Certificate{f.ca.Cert}, Logger: quietLogger})
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		runtime.ReadMemStats(&m1)
		allocated += float64(m1.TotalAlloc-m0.TotalAlloc) / (1 << 20)
		runtime.GC()
		runtime.ReadMemStats(&m1)
		kept += (float64(m1.HeapAlloc) - float64(m0.HeapAlloc)) / (1 << 20)
		t0 := time.Now()
		runtime.GC()
		gcMS += float64(time.Since(t0).Microseconds()) / 1000
		if l := c.sources[0].current; l == nil || !l.verified.Load() || l.count != 1_000_001 {
			b.Fatalf("CRL not loaded and verified: %+v", l)
		}
		runtime.KeepAlive(c)
		c.Close()
		b.StartTimer()
	}
	b.ReportMetric(kept/float64(b.N), "MiB")
	b.ReportMetric(allocated/float64(b.N), "alloc-MiB")
	b.ReportMetric(gcMS/float64(b.N), "gc-ms")
}

// BenchmarkCheck measures Check on cached state.
func BenchmarkCheck(b *testing.B) {
	f := loadBigFixture(b)
	c, err := New(Config{CRLs: []CRLSource{{File: f.path}}, Issuers: []*x509.Certificate{f.ca.Cert}, Logger: quietLogger})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	good := []*x509.Certificate{f.good.Cert, f.ca.Cert}
	bad := []*x509.Certificate{f.bad.Cert, f.ca.Cert}
	if r := c.Check(good); r.Code != CodeOK {
		b.Fatal(r)
	}
	if r := c.Check(bad); r.Code != CodeRevoked {
		b.Fatal(r)
	}
	b.Run("crl-1M-good", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if c.Check(good).Revoked {
				b.Fatal("revoked")
			}
		}
	})
	b.Run("crl-1M-good-parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if c.Check(good).Revoked {
					b.Fatal("revoked")
				}
			}
		})
	})
	b.Run("crl-1M-revoked", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if !c.Check(bad).Revoked {
				b.Fatal("not revoked")
			}
		}
	})

	// OCSP, prefer mode, answer cached (from a Go responder).
	g := newGoOCSP(b)
	leaf := g.leaf(b, "ocsp", ocspresp.Status{State: ocspresp.Good})
	oc, err := New(Config{OCSP: OCSPPrefer, Logger: quietLogger})
	if err != nil {
		b.Fatal(err)
	}
	defer oc.Close()
	chain := []*x509.Certificate{leaf.Cert, g.ca.Cert}
	oc.Check(chain)
	deadline := time.Now().Add(10 * time.Second)
	for oc.Check(chain).Code != CodeOK {
		if time.Now().After(deadline) {
			b.Fatal("no OCSP answer")
		}
		time.Sleep(time.Millisecond)
	}
	b.Run("ocsp-cached-good", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if oc.Check(chain).Code != CodeOK {
				b.Fatal("not ok")
			}
		}
	})
	b.Run("ocsp-cached-good-parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if oc.Check(chain).Code != CodeOK {
					b.Fatal("not ok")
				}
			}
		})
	})
}
