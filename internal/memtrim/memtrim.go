// Package memtrim gives the memory a busy period left behind back to the
// operating system once the process has gone quiet.
//
// Go's collector lets the heap grow to about twice the live data before it
// runs (GOGC=100), and its background scavenger only returns memory above
// that goal. A gateway that has just accepted ten thousand connections and
// then sits with them idle therefore keeps roughly as much garbage resident
// as it has live data, for as long as it stays quiet: nothing allocates, so
// no collection runs. Trimmer watches the allocation rate and, when it has
// dropped to almost nothing while a large share of the resident heap is not
// live, runs one collection and returns the free pages
// (debug.FreeOSMemory). A busy process never qualifies, so its throughput
// is untouched; a quiet one pays one collection per busy period.
//
// The Trimmer also paces the collector by the live heap (unless the
// operator chose GOGC): it allows Headroom (32 MiB) of garbage over the
// live heap, as a GC percent between 50 and 800. A small heap, as on a
// gateway with few busy connections, then collects up to 8 times less
// often than at GOGC=100: on keep-alive HTTP/1.1 with 64 connections
// that was 5-19 % more requests per second in 3 of 4 paired runs and a
// lower p99, for at most 32 MiB more heap. A large heap collects at 50 %:
// a trim can only return pages with no live object left, and when
// thousands of connections open at once their long-lived state lands in
// the same pages as their handshakes' garbage; what that garbage leaves
// behind stays resident (with 10,000 new mTLS connections, 27 MiB on top
// of 99 MiB live at GOGC=100, 18 MiB at GOGC=50).
package memtrim

import (
	"context"
	"runtime/debug"
	"runtime/metrics"
	"sync/atomic"
	"time"
)

// Sample is what Trimmer reads from the runtime at every tick.
type Sample struct {
	Allocated uint64 // bytes allocated since the process started
	Resident  uint64 // heap bytes a collection and a trim can act on: objects (live or dead) and free pages
	Live      uint64 // heap bytes marked live by the last collection
	Released  uint64 // heap bytes already returned to the OS
}

// Trimmer decides when to trim. The zero value is usable with the defaults
// below; fields must not change once Run has started.
type Trimmer struct {
	// Interval is how often the runtime is sampled. Zero means 1s.
	Interval time.Duration
	// MinReclaim is the least resident-but-not-live heap worth a trim.
	// Zero means 16 MiB. A trim also needs at least a quarter of the live
	// heap to be reclaimable.
	MinReclaim uint64
	// MinGap is the least time between two trims. Zero means 5s.
	MinGap time.Duration

	// Headroom is the garbage the collector may let accumulate over the
	// live heap, within MinGCPercent and MaxGCPercent. Zero means 32 MiB.
	Headroom uint64
	// MinGCPercent and MaxGCPercent bound the GC percent. Zero means 50
	// and 800.
	MinGCPercent, MaxGCPercent int
	// NoPace leaves the collector's setting alone (the gateway sets it
	// when the operator chose GOGC).
	NoPace bool

	// Read, Free, GetGCPercent and SetGCPercent replace the runtime for
	// tests.
	Read         func(*Sample)
	Free         func()
	GetGCPercent func() int
	SetGCPercent func(int) int

	trims    atomic.Uint64
	returned atomic.Uint64
	// Pacing state (Run's goroutine).
	paced bool // the GC percent is the Trimmer's (set)
	set   int  // what it set
	base  int  // the setting before the first change
}

// GCPercent is the collector's GC percent in effect (runtime/metrics
// /gc/gogc:percent; -1 when GOGC=off).
func GCPercent() int {
	ms := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(ms)
	if ms[0].Value.Kind() != metrics.KindUint64 {
		return -1
	}
	// GOGC=off reads as uint64(-1), which converts back to -1.
	return int(ms[0].Value.Uint64())
}

// Trims is how many times memory was returned.
func (t *Trimmer) Trims() uint64 { return t.trims.Load() }

// Returned is how many heap bytes the trims gave back to the OS.
func (t *Trimmer) Returned() uint64 { return t.returned.Load() }

// Run samples every Interval until ctx ends.
func (t *Trimmer) Run(ctx context.Context) {
	interval := t.Interval
	if interval <= 0 {
		interval = time.Second
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	var prev Sample
	t.read(&prev)
	defer t.unpace()
	t.pace(prev.Live)
	var last time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			var cur Sample
			t.read(&cur)
			if t.due(prev, cur, now.Sub(last)) {
				t.trim()
				last = now
				t.read(&cur)
			}
			t.pace(cur.Live)
			prev = cur
		}
	}
}

// due reports whether to trim now, given the previous and current samples
// (one Interval apart) and the time since the last trim.
func (t *Trimmer) due(prev, cur Sample, sinceLast time.Duration) bool {
	gap := t.MinGap
	if gap <= 0 {
		gap = 5 * time.Second
	}
	if sinceLast < gap {
		return false
	}
	min := t.MinReclaim
	if min == 0 {
		min = 16 << 20
	}
	if cur.Resident <= cur.Live {
		return false
	}
	reclaim := cur.Resident - cur.Live
	if reclaim < min || reclaim < cur.Live/4 {
		return false
	}
	// Quiet: in the last interval the process allocated less than 1 MiB
	// or 2% of its live heap, so the next collection is far away and
	// nothing else would return this memory.
	quiet := max(uint64(1<<20), cur.Live/50)
	return cur.Allocated-prev.Allocated < quiet
}

// pace sets the GC percent for the live heap: Headroom over it, as a
// percent, within [MinGCPercent, MaxGCPercent]. It changes the setting
// only when the new value is off by a quarter or more, never when the
// collector is off, and stops for good when someone else changed the
// setting since.
func (t *Trimmer) pace(live uint64) {
	if t.NoPace {
		return
	}
	cur := t.gcPercent()
	switch {
	case t.paced && cur != t.set:
		t.NoPace, t.paced = true, false // someone else's setting now
		return
	case !t.paced && cur < 0:
		return // GOGC=off
	}
	headroom := t.Headroom
	if headroom == 0 {
		headroom = 32 << 20
	}
	lo, hi := t.MinGCPercent, t.MaxGCPercent
	if lo <= 0 {
		lo = 50
	}
	if hi <= 0 {
		hi = 800
	}
	want := hi
	if live > 0 {
		want = int(min(uint64(hi), headroom*100/live))
	}
	want = max(want, lo)
	if t.paced && want*4 > t.set*3 && want*4 < t.set*5 {
		return // within a quarter of the setting: not worth a change
	}
	if !t.paced {
		t.base = cur
	}
	t.setGC(want)
	t.set, t.paced = want, true
}

// unpace puts the GC percent from before pace back, unless someone else
// changed it since.
func (t *Trimmer) unpace() {
	if !t.paced {
		return
	}
	t.paced = false
	if t.gcPercent() == t.set {
		t.setGC(t.base)
	}
}

func (t *Trimmer) gcPercent() int {
	if t.GetGCPercent != nil {
		return t.GetGCPercent()
	}
	return GCPercent()
}

func (t *Trimmer) setGC(p int) int {
	if t.SetGCPercent != nil {
		return t.SetGCPercent(p)
	}
	return debug.SetGCPercent(p)
}

func (t *Trimmer) trim() {
	var before, after Sample
	t.read(&before)
	if t.Free != nil {
		t.Free()
	} else {
		debug.FreeOSMemory()
	}
	t.read(&after)
	t.trims.Add(1)
	if after.Released > before.Released {
		t.returned.Add(after.Released - before.Released)
	}
}

var names = []string{
	"/gc/heap/allocs:bytes",
	"/memory/classes/heap/objects:bytes",
	"/memory/classes/heap/unused:bytes", // read, not used: see read
	"/memory/classes/heap/free:bytes",
	"/gc/heap/live:bytes",
	"/memory/classes/heap/released:bytes",
}

func (t *Trimmer) read(s *Sample) {
	if t.Read != nil {
		t.Read(s)
		return
	}
	ms := make([]metrics.Sample, len(names))
	for i, n := range names {
		ms[i].Name = n
	}
	metrics.Read(ms)
	v := func(i int) uint64 {
		if ms[i].Value.Kind() != metrics.KindUint64 {
			return 0
		}
		return ms[i].Value.Uint64()
	}
	// Unused space inside partly used pages (/memory/classes/heap/unused)
	// is left out: no trim can return it, and counting it would make a
	// fragmented but quiet heap trim again every MinGap.
	*s = Sample{
		Allocated: v(0),
		Resident:  v(1) + v(3),
		Live:      v(4),
		Released:  v(5),
	}
}
