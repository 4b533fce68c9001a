package stats

import (
	"fmt"
	"runtime"
	"testing"
	"time"
)

// TestMemoryWorstCase fills every key id in every slot the retention can
// hold — MaxKeys named identities spread over MaxRoutes routes, plus the
// OtherRoute and one OtherIdentity cell per route — and checks the heap
// against MemoryBound. It logs the figures quoted in the package
// documentation.
func TestMemoryWorstCase(t *testing.T) {
	o := Options{}
	if testing.Short() || raceEnabled {
		o.MaxKeys, o.MaxRoutes = 1000, 16 // the defaults take 17 s under -race
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)

	s, c := newTest(t, o)
	type rk struct{ route, ident string }
	var keys []rk
	for i := 0; i < s.maxKeys; i++ {
		keys = append(keys, rk{fmt.Sprintf("route-%03d", i%s.maxRoutes), fmt.Sprintf("CN=client-%05d,O=Example", i)})
	}
	for r := 0; r <= s.maxRoutes; r++ { // one more route than allowed: OtherRoute
		keys = append(keys, rk{fmt.Sprintf("route-%03d", r), "CN=one-too-many"})
	}
	// One minute of each hour, then every minute of the last 62, ending at
	// 12:59:30 the next day, when the most slots are held: 61 fine slots
	// (11:59–12:59) and 24 coarse hours (12:00 the day before – 11:00).
	const minutes = 25*60 + 59
	for m := 0; m <= minutes; m++ {
		if m%60 == 0 || m >= minutes-61 {
			for _, k := range keys {
				s.Record(k.route, k.ident, 200, time.Duration(m+1)*time.Millisecond, 1, 1)
			}
		}
		c.Add(time.Minute)
	}
	c.Add(-time.Minute)
	settle(s)
	s.mu.Lock()
	slots := len(s.fine) + len(s.coarse) + 1
	used := s.nextKey
	s.mu.Unlock()
	if int(used) != s.keyCap {
		t.Fatalf("filled %d of %d key ids", used, s.keyCap)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	heap := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	bound := s.MemoryBound()
	keyMem := int64(s.keyCap) * (KeyOverhead + 32)
	t.Logf("MaxKeys %d, MaxRoutes %d: %d slots held (MaxSlots %d); heap %.1f MiB (HeapInuse %.1f MiB, Sys %.1f MiB); MemoryBound %.1f MiB + keys ≈ %.1f MiB; %.1f KiB per key id",
		s.maxKeys, s.maxRoutes, slots, s.MaxSlots(), mib(heap), mib(int64(after.HeapInuse)), mib(int64(after.Sys)), mib(bound), mib(keyMem),
		float64(heap)/float64(s.keyCap)/1024)
	if slots != 85 || s.MaxSlots() != 87 {
		t.Errorf("%d slots filled, want 85 (MaxSlots %d allows 2 more for maintenance lag)", slots, s.MaxSlots())
	}
	if heap > bound+keyMem {
		t.Errorf("heap grew %d bytes, more than MemoryBound %d + keys %d", heap, bound, keyMem)
	}
	if heap < bound*8/10 {
		t.Errorf("heap grew %d bytes, far below MemoryBound %d: is the worst case filled?", heap, bound)
	}
	// Everything recorded in the last day is still there: 23 hourly rounds
	// (13:00 the day before – 11:00) and 62 minutes (11:58–12:59). The
	// 12:00:30 round of the day before is older than the window.
	start := time.Now()
	r := s.Snapshot(Query{Window: s.Retention(), Limit: MaxLimit})
	t.Logf("Snapshot of the full worst case (window %v, limit %d) took %v", s.Retention(), MaxLimit, time.Since(start))
	if got, want := total(r), uint64(len(keys)*(23+62)); got != want {
		t.Errorf("24h holds %d requests, want %d", got, want)
	}
	runtime.KeepAlive(s)
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }
