package ratelimit

import (
	"fmt"
	"hash/maphash"
	"math/rand/v2"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// t0 is the fake clock's origin. It has no monotonic reading, so Local
// measures it on the wall clock against its epoch.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

const ms = time.Millisecond

func newLocal(t testing.TB, p Policy, maxKeys int) *Local {
	t.Helper()
	l, err := NewLocal(p, maxKeys)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// has reports whether key is held, without touching it.
func (l *Local) has(key string) bool {
	s := &l.shards[maphash.String(l.seed, key)&l.mask]
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.index[key]
	return ok
}

func want(t *testing.T, what string, got, exp Decision) {
	t.Helper()
	if got != exp {
		t.Fatalf("%s:\n got %+v\nwant %+v", what, got, exp)
	}
}

func TestBurstThenRefusal(t *testing.T) {
	p := Policy{Name: "api", Requests: 100, Per: time.Minute, Burst: 20}
	l := newLocal(t, p, 100)
	for i := range 20 {
		want(t, fmt.Sprintf("request %d", i), l.Allow("a", t0), Decision{
			Allowed: true, Limit: 20, Remaining: 19 - i, Reset: time.Duration(i+1) * 600 * ms,
		})
	}
	want(t, "request 20", l.Allow("a", t0), Decision{
		Allowed: false, Limit: 20, Remaining: 0, Reset: 12 * time.Second, RetryAfter: 600 * ms,
	})
	// A refusal takes nothing.
	want(t, "request 21", l.Allow("a", t0.Add(100*ms)), Decision{
		Allowed: false, Limit: 20, Remaining: 0, Reset: 11900 * ms, RetryAfter: 500 * ms,
	})
	// Other keys are independent.
	want(t, "other key", l.Allow("b", t0), Decision{
		Allowed: true, Limit: 20, Remaining: 19, Reset: 600 * ms,
	})
}

func TestRefill(t *testing.T) {
	p := Policy{Requests: 100, Per: time.Minute, Burst: 20}
	l := newLocal(t, p, 100)
	for range 20 {
		l.Allow("a", t0)
	}
	want(t, "1ms early", l.Allow("a", t0.Add(599*ms)), Decision{
		Allowed: false, Limit: 20, Remaining: 0, Reset: 11401 * ms, RetryAfter: 1 * ms,
	})
	want(t, "on time", l.Allow("a", t0.Add(600*ms)), Decision{
		Allowed: true, Limit: 20, Remaining: 0, Reset: 12 * time.Second,
	})
	// Half the bucket back after 6s.
	want(t, "6s later", l.Allow("a", t0.Add(6600*ms)), Decision{
		Allowed: true, Limit: 20, Remaining: 9, Reset: 6600 * ms,
	})
	// Full after Reset: never more than Burst.
	want(t, "long idle", l.Allow("a", t0.Add(time.Hour)), Decision{
		Allowed: true, Limit: 20, Remaining: 19, Reset: 600 * ms,
	})
}

// A client that asks every millisecond gets Burst at once and then exactly
// Requests per Per.
func TestSteadyRate(t *testing.T) {
	for _, p := range []Policy{
		{Requests: 100, Per: time.Minute, Burst: 20},
		{Requests: 100, Per: time.Minute},
		{Requests: 10, Per: time.Second, Burst: 1},
	} {
		l := newLocal(t, p, 10)
		got := 0
		steps := int(p.Per / ms)
		for i := 0; i <= steps; i++ { // [t0, t0+Per] inclusive
			if l.Allow("k", t0.Add(time.Duration(i)*ms)).Allowed {
				got++
			}
		}
		if w := p.burst() + p.Requests; got != w {
			t.Errorf("%+v: %d allowed in one window, want %d", p, got, w)
		}
	}
}

func TestDefaultBurst(t *testing.T) {
	l := newLocal(t, Policy{Requests: 5, Per: 10 * time.Second}, 10)
	want(t, "first", l.Allow("k", t0), Decision{Allowed: true, Limit: 5, Remaining: 4, Reset: 2 * time.Second})
}

func TestClockBackwards(t *testing.T) {
	p := Policy{Requests: 100, Per: time.Minute, Burst: 20}

	// A small step back: the bucket looks emptier, never fuller.
	l := newLocal(t, p, 10)
	now := t0.Add(10 * time.Second)
	for range 5 {
		l.Allow("a", now)
	}
	d := l.Allow("a", now.Add(-time.Second))
	if !d.Allowed || d.Remaining > 14 {
		t.Fatalf("after step back: %+v, want allowed with at most 14 left", d)
	}
	want(t, "step back", d, Decision{Allowed: true, Limit: 20, Remaining: 12, Reset: 4600 * ms})

	// An empty bucket and a large step back: refused, but the client is not
	// locked out for the length of the step.
	l = newLocal(t, p, 10)
	for range 20 {
		l.Allow("a", now)
	}
	back := now.Add(-time.Hour)
	want(t, "hour back", l.Allow("a", back), Decision{
		Allowed: false, Limit: 20, Remaining: 0, Reset: 12 * time.Second, RetryAfter: 600 * ms,
	})
	want(t, "hour back + T", l.Allow("a", back.Add(600*ms)), Decision{
		Allowed: true, Limit: 20, Remaining: 0, Reset: 12 * time.Second,
	})
	want(t, "hour back + T again", l.Allow("a", back.Add(600*ms)).withAllowed(), Decision{Allowed: false})
	// From the new now on, exactly the normal rate: 10 more in the next 6s.
	n := 0
	for i := 601; i <= 6600; i++ {
		if l.Allow("a", back.Add(time.Duration(i)*ms)).Allowed {
			n++
		}
	}
	if n != 10 {
		t.Fatalf("after a step back: %d allowed in 6s, want 10", n)
	}

	// A full bucket stepped back stays full, no more.
	l = newLocal(t, p, 10)
	l.Allow("b", now)
	want(t, "full back", l.Allow("b", now.Add(-time.Hour)), Decision{
		Allowed: false, Limit: 20, Remaining: 0, Reset: 12 * time.Second, RetryAfter: 600 * ms,
	})
}

// withAllowed keeps only Allowed, for comparisons that care about nothing
// else.
func (d Decision) withAllowed() Decision { return Decision{Allowed: d.Allowed} }

func TestHugeTimes(t *testing.T) {
	p := Policy{Requests: 100, Per: time.Minute, Burst: 20}
	l := newLocal(t, p, 10)
	for range 20 {
		l.Allow("a", t0)
	}
	full := Decision{Allowed: true, Limit: 20, Remaining: 19, Reset: 600 * ms}
	want(t, "10 years later", l.Allow("a", t0.AddDate(10, 0, 0)), full)

	// Far outside the clamp range and back: nothing overflows, every
	// decision stays within its bounds.
	times := []time.Time{
		{}, // year 1
		t0.AddDate(500, 0, 0),
		time.Unix(1<<62, 0),
		t0,
		time.Unix(-1<<62, 0),
		t0.AddDate(-100, 0, 0),
		t0,
	}
	for _, tm := range times {
		for range 25 {
			checkBounds(t, l, l.Allow("a", tm))
			checkBounds(t, l, l.Allow(tm.String(), tm))
		}
	}
	// A new key at a far time starts full.
	want(t, "new key in the far future", l.Allow("z", time.Unix(1<<62, 0)), full)
}

func checkBounds(t *testing.T, l *Local, d Decision) {
	t.Helper()
	tau := time.Duration(l.tau)
	T := time.Duration(l.interval)
	ok := d.Limit == l.limit && d.Remaining >= 0 && d.Remaining < l.limit &&
		d.Reset >= 0 && d.Reset <= tau
	if d.Allowed {
		ok = ok && d.RetryAfter == 0 && d.Reset >= T
	} else {
		ok = ok && d.Remaining == 0 && d.RetryAfter > 0 && d.RetryAfter <= T
	}
	if !ok {
		t.Fatalf("decision out of bounds: %+v (T %v, tau %v)", d, T, tau)
	}
}

// refBucket is a textbook token bucket on integer nanoseconds: credit is
// tokens·T, capped at Burst·T.
type refBucket struct {
	credit, last int64
	seen         bool
}

func (b *refBucket) allow(now, T, capacity int64) (bool, int) {
	if !b.seen {
		b.credit, b.last, b.seen = capacity, now, true
	}
	b.credit = min(capacity, b.credit+(now-b.last))
	b.last = now
	if b.credit >= T {
		b.credit -= T
		return true, int(b.credit / T)
	}
	return false, 0
}

// Against the reference model, with random non-decreasing times.
func TestMatchesReferenceBucket(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, p := range []Policy{
		{Requests: 100, Per: time.Minute, Burst: 20},
		{Requests: 3, Per: time.Second, Burst: 1},
		{Requests: 7, Per: 3 * time.Second, Burst: 50},
		{Requests: 1000, Per: time.Second},
	} {
		l := newLocal(t, p, 1000)
		T, capacity := l.interval, l.tau
		var ref refBucket
		now := t0
		for i := range 20000 {
			now = now.Add(time.Duration(r.Int64N(2 * T)))
			if r.IntN(10) == 0 {
				now = now.Add(time.Duration(r.Int64N(capacity + 1)))
			}
			d := l.Allow("k", now)
			ok, rem := ref.allow(int64(now.Sub(t0)), T, capacity)
			if d.Allowed != ok || d.Remaining != rem {
				t.Fatalf("%+v step %d: got %+v, reference allowed=%v remaining=%d", p, i, d, ok, rem)
			}
			checkBounds(t, l, d)
		}
	}
}

func TestBoundHolds(t *testing.T) {
	const maxKeys = 1000
	n := 1_000_000
	if testing.Short() {
		n = 100_000
	}
	l := newLocal(t, Policy{Requests: 10, Per: time.Second}, maxKeys)
	var key []byte
	for i := range n {
		key = strconv.AppendInt(append(key[:0], "client-"...), int64(i), 10)
		l.Allow(string(key), t0.Add(time.Duration(i)*time.Microsecond))
		if i%997 == 0 && l.Len() > maxKeys {
			t.Fatalf("after %d keys: Len %d > %d", i+1, l.Len(), maxKeys)
		}
	}
	if got := l.Len(); got > maxKeys || got < maxKeys*9/10 {
		t.Fatalf("Len %d, want at most %d and close to it", got, maxKeys)
	}
	if got, w := l.Evictions(), uint64(n-l.Len()); got != w {
		t.Fatalf("Evictions %d, want %d", got, w)
	}
	for i := range l.shards {
		s := &l.shards[i]
		if cap(s.entries) > int(s.capacity) || len(s.index) != len(s.entries) {
			t.Fatalf("shard %d: cap %d, capacity %d, %d indexed, %d entries",
				i, cap(s.entries), s.capacity, len(s.index), len(s.entries))
		}
		checkList(t, s)
	}
}

// checkList verifies a shard's LRU list against its index.
func checkList(t *testing.T, s *shard) {
	t.Helper()
	n := 0
	prev := int32(nilIndex)
	for i := s.head; i != nilIndex; i = s.entries[i].next {
		if s.entries[i].prev != prev {
			t.Fatalf("entry %d: prev %d, want %d", i, s.entries[i].prev, prev)
		}
		if j, ok := s.index[s.entries[i].key]; !ok || j != i {
			t.Fatalf("entry %d (%q) indexed as %d, %v", i, s.entries[i].key, j, ok)
		}
		prev = i
		n++
		if n > len(s.entries) {
			t.Fatal("LRU list has a cycle")
		}
	}
	if prev != s.tail || n != len(s.index) {
		t.Fatalf("list of %d ending at %d; tail %d, %d indexed", n, prev, s.tail, len(s.index))
	}
}

// Memory held by a full Local, and whether churn past the bound grows it.
// Logs the figures only: they depend on the Go version and platform.
func TestMemoryBounded(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("slow, and meaningless under the race detector")
	}
	const maxKeys = 100_000
	heap := func() uint64 {
		runtime.GC()
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	keyOf := func(i int) string { return fmt.Sprintf("spiffe://example.org/client/%08d", i) } // 37 bytes
	before := heap()
	l := newLocal(t, Policy{Requests: 10, Per: time.Second}, maxKeys)
	now := t0
	for i := range maxKeys {
		l.Allow(keyOf(i), now)
	}
	full := heap()
	for i := maxKeys; i < 1_000_000; i++ {
		l.Allow(keyOf(i), now)
	}
	churned := heap()
	for i := 1_000_000; i < 2_000_000; i++ {
		l.Allow(keyOf(i), now)
	}
	churned2 := heap()
	runtime.KeepAlive(l)
	t.Logf("%d keys of 37 bytes: %.1f MiB, %d bytes/key", l.Len(),
		float64(full-before)/(1<<20), (full-before)/maxKeys)
	t.Logf("after 1,000,000 distinct keys: %.1f MiB (%d bytes/key); after 2,000,000: %.1f MiB; evictions %d",
		float64(churned-before)/(1<<20), (churned-before)/maxKeys, float64(churned2-before)/(1<<20), l.Evictions())
}

func TestEvictionPrefersFullBuckets(t *testing.T) {
	p := Policy{Requests: 10, Per: 10 * time.Second, Burst: 5} // T = 1s
	l := newLocal(t, p, 4)                                     // one shard of 4
	if len(l.shards) != 1 {
		t.Fatalf("%d shards", len(l.shards))
	}
	// "old" is the least recently used but has an empty bucket; "idle" was
	// used more recently but is full again by the time "new" arrives.
	for range 5 {
		l.Allow("old", t0)
	}
	l.Allow("idle", t0.Add(1*time.Second))
	l.Allow("c", t0.Add(5*time.Second))
	l.Allow("d", t0.Add(5*time.Second))
	l.Allow("new", t0.Add(3*time.Second)) // idle's bucket is full at t0+2s
	if l.has("idle") || !l.has("old") || !l.has("new") {
		t.Fatalf("evicted the wrong key: old %v idle %v new %v", l.has("old"), l.has("idle"), l.has("new"))
	}
	if d := l.Allow("old", t0.Add(3*time.Second)); d.Remaining != 2 {
		t.Fatalf("old lost its state: %+v", d)
	}

	// No full bucket: the one closest to full goes.
	l = newLocal(t, p, 4)
	for range 5 {
		l.Allow("a", t0) // empty, tat t0+5s
	}
	for range 3 {
		l.Allow("b", t0) // tat t0+3s
	}
	l.Allow("c", t0) // tat t0+1s: closest to full
	for range 4 {
		l.Allow("d", t0)
	}
	l.Allow("e", t0)
	if l.has("c") || !l.has("a") || !l.has("b") || !l.has("d") || !l.has("e") {
		t.Fatal("did not evict the bucket closest to full")
	}
	if l.Evictions() != 1 || l.Len() != 4 {
		t.Fatalf("Evictions %d Len %d", l.Evictions(), l.Len())
	}
}

func TestEvictionLRU(t *testing.T) {
	p := Policy{Requests: 1, Per: time.Hour} // nothing refills during the test
	l := newLocal(t, p, 32)                  // one shard of 32
	for i := range 32 {
		l.Allow("k"+strconv.Itoa(i), t0)
	}
	// All buckets are equally far from full: plain LRU order.
	l.Allow("k0", t0) // touch: k0 is now the most recently used (refused, still a use)
	l.Allow("x", t0)
	if !l.has("k0") || l.has("k1") {
		t.Fatal("expected k1, the least recently used, to be evicted")
	}
	l.Allow("y", t0)
	if l.has("k2") || !l.has("k3") {
		t.Fatal("expected k2 to be evicted next")
	}
	checkList(t, &l.shards[0])
}

func TestLongKeys(t *testing.T) {
	l := newLocal(t, Policy{Requests: 1, Per: time.Minute}, 100)
	long := strings.Repeat("CN=a very long distinguished name,", 10)
	if !l.Allow(long, t0).Allowed {
		t.Fatal("first request refused")
	}
	if l.Allow(long, t0).Allowed {
		t.Fatal("long key not remembered")
	}
	if !l.Allow(long+"x", t0).Allowed || !l.Allow(long[:len(long)-1], t0).Allowed {
		t.Fatal("distinct long keys share a bucket")
	}
	for i := range l.shards {
		for _, e := range l.shards[i].entries {
			if len(e.key) > maxInlineKey {
				t.Fatalf("stored a %d-byte key", len(e.key))
			}
		}
	}
	// Exactly 64 bytes is stored as is.
	k64 := strings.Repeat("k", maxInlineKey)
	l.Allow(k64, t0)
	if !l.has(k64) {
		t.Fatal("64-byte key not stored as is")
	}
}

func TestConcurrent(t *testing.T) {
	p := Policy{Requests: 1000, Per: time.Second, Burst: 100}
	l := newLocal(t, p, 512)
	const goroutines = 16
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 2000 {
				// Everyone hammers one hot key at a fixed instant ...
				if l.Allow("hot", t0).Allowed {
					allowed.Add(1)
				}
				// ... and churns through many more keys than fit.
				l.Allow(fmt.Sprintf("g%d-%d", g, i), t0.Add(time.Duration(i)*ms))
				if i%100 == 0 {
					if n := l.Len(); n > 512 {
						t.Errorf("Len %d > 512", n)
					}
					l.Evictions()
				}
			}
		}()
	}
	wg.Wait()
	// "hot" is used constantly so it is never the eviction victim... unless
	// its shard is tiny; with 512 keys there are 8 shards of 64 and it is
	// always among the most recently used.
	if got := allowed.Load(); got != 100 {
		t.Fatalf("hot key: %d allowed at one instant, want exactly the burst, 100", got)
	}
	for i := range l.shards {
		checkList(t, &l.shards[i])
	}
}

func TestAllocs(t *testing.T) {
	l := newLocal(t, Policy{Requests: 100, Per: time.Minute}, 64)
	long := strings.Repeat("L", 200)
	l.Allow("hot", t0)
	l.Allow(long, t0)
	now := t0
	if a := testing.AllocsPerRun(1000, func() {
		now = now.Add(ms)
		l.Allow("hot", now)
	}); a != 0 {
		t.Errorf("existing key: %v allocs per Allow", a)
	}
	if a := testing.AllocsPerRun(1000, func() {
		now = now.Add(ms)
		l.Allow(long, now)
	}); a != 0 {
		t.Errorf("existing long key: %v allocs per Allow", a)
	}
	// New keys in a full shard: one allocation, the key's copy.
	keys := make([]string, 3000)
	for i := range keys {
		keys[i] = "new-" + strconv.Itoa(i)
	}
	for _, k := range keys[:100] {
		l.Allow(k, now)
	}
	i := 100
	if a := testing.AllocsPerRun(1000, func() {
		l.Allow(keys[i], now)
		i++
	}); a > 1 {
		t.Errorf("new key: %v allocs per Allow", a)
	}
}
