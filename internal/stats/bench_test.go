package stats

import (
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkRecord: one (route, identity) already seen in the current slot.
func BenchmarkRecord(b *testing.B) {
	s := New(Options{})
	s.Record("orders", "CN=alice,O=Example", 200, time.Millisecond, 0, 0)
	b.ReportAllocs()
	for b.Loop() {
		s.Record("orders", "CN=alice,O=Example", 200, 12*time.Millisecond, 128, 4096)
	}
}

// BenchmarkRecordAt: BenchmarkRecord with the caller's clock reading.
func BenchmarkRecordAt(b *testing.B) {
	s := New(Options{})
	s.Record("orders", "CN=alice,O=Example", 200, time.Millisecond, 0, 0)
	end := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		s.RecordAt(end, "orders", "CN=alice,O=Example", 200, 12*time.Millisecond, 128, 4096)
	}
}

// BenchmarkRecordParallel: every goroutine cycles over 8 routes × 64
// identities, all already seen (a busy gateway in steady state).
func BenchmarkRecordParallel(b *testing.B) {
	s := New(Options{})
	var routes, idents []string
	for i := 0; i < 8; i++ {
		routes = append(routes, "route-"+strconv.Itoa(i))
	}
	for i := 0; i < 64; i++ {
		idents = append(idents, fmt.Sprintf("CN=client-%02d,O=Example", i))
	}
	for _, r := range routes {
		for _, id := range idents {
			s.Record(r, id, 200, time.Millisecond, 0, 0)
		}
	}
	var seed atomic.Uint32
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := int(seed.Add(7919))
		for pb.Next() {
			i++
			s.Record(routes[i%len(routes)], idents[(i/len(routes))%len(idents)], 200, time.Duration(i%1000)*time.Microsecond, 128, 4096)
		}
	})
}

// BenchmarkRecordParallelSameKey: all goroutines on one cell, the most
// contended case.
func BenchmarkRecordParallelSameKey(b *testing.B) {
	s := New(Options{})
	s.Record("orders", "CN=alice,O=Example", 200, time.Millisecond, 0, 0)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			s.Record("orders", "CN=alice,O=Example", 200, 12*time.Millisecond, 128, 4096)
		}
	})
}

// BenchmarkRecordNewIdentity: every request from an identity never seen.
func BenchmarkRecordNewIdentity(b *testing.B) {
	names := make([]string, b.N)
	for i := range names {
		names[i] = fmt.Sprintf("CN=client-%09d,O=Example", i)
	}
	s := New(Options{MaxKeys: b.N + 1})
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s.Record("orders", names[i], 200, time.Millisecond, 0, 0)
	}
}

// BenchmarkRecordOverflow: new identities after MaxKeys is reached, counted
// under "(other)".
func BenchmarkRecordOverflow(b *testing.B) {
	names := make([]string, 4096)
	for i := range names {
		names[i] = fmt.Sprintf("CN=client-%09d,O=Example", i)
	}
	s := New(Options{MaxKeys: 1})
	s.Record("orders", "CN=first", 200, time.Millisecond, 0, 0)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		s.Record("orders", names[i%len(names)], 200, time.Millisecond, 0, 0)
		i++
	}
}

// BenchmarkSnapshot: 10 routes × 100 identities active in every minute of
// the hour; the default query.
func BenchmarkSnapshot(b *testing.B) {
	for _, w := range []time.Duration{time.Hour, 24 * time.Hour} {
		b.Run(w.String(), func(b *testing.B) {
			c := newClock(t0)
			s := New(Options{Now: c.Now})
			for m := 0; m < 24*60; m++ {
				if m%60 == 0 || m >= 23*60 {
					for r := 0; r < 10; r++ {
						for i := 0; i < 100; i++ {
							s.Record("route-"+strconv.Itoa(r), "CN=client-"+strconv.Itoa(i), 200+100*(i%4), time.Duration(i+m)*time.Millisecond, 10, 100)
						}
					}
				}
				c.Add(time.Minute)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				_ = s.Snapshot(Query{Window: w})
			}
		})
	}
}
