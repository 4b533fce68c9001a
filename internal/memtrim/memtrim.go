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
// A trim can only return pages with no live object left. When thousands of
// connections open at once, their long-lived state lands in the same pages
// as their handshakes' garbage, and what that garbage leaves behind is
// free space no trim returns: with 10,000 new mTLS connections, 27 MiB on
// top of 99 MiB live at GOGC=100, 18 MiB at GOGC=50. So while the live
// heap is large (LargeHeap, 32 MiB: some thousands of connections) the
// Trimmer also has the collector run at LargeGCPercent (50) instead of the
// process's setting. The collector's CPU per allocated byte doubles then;
// a small heap, where that CPU is what counts, keeps the process setting.
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

	// LargeHeap is the live heap from which the collector runs at
	// LargeGCPercent; below half of it the process's own setting is put
	// back. Zero means 32 MiB.
	LargeHeap uint64
	// LargeGCPercent is the GC percent for a large heap. Zero means 50; a
	// negative value leaves the collector alone (the gateway sets that
	// when the operator chose GOGC).
	LargeGCPercent int

	// Read, Free, GetGCPercent and SetGCPercent replace the runtime for
	// tests.
	Read         func(*Sample)
	Free         func()
	GetGCPercent func() int
	SetGCPercent func(int) int

	trims    atomic.Uint64
	returned atomic.Uint64
	paced    bool // the collector runs at LargeGCPercent (Run's goroutine)
	base     int  // the GC percent before that
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

// pace switches the collector to LargeGCPercent while the live heap is
// at least LargeHeap, and back below half of that.
func (t *Trimmer) pace(live uint64) {
	pct := t.largePct()
	large := t.LargeHeap
	if large == 0 {
		large = 32 << 20
	}
	switch {
	case pct < 0:
	case !t.paced && live >= large:
		// Only from a setting above pct: not when the collector is off
		// (GOGC=off, -1) or already collects at least as often.
		if cur := t.gcPercent(); cur > pct {
			t.base = cur
			t.setGC(pct)
			t.paced = true
		}
	case t.paced && live < large/2:
		t.unpace()
	}
}

// unpace puts the GC percent from before pace back, unless someone else
// changed it since.
func (t *Trimmer) unpace() {
	if !t.paced {
		return
	}
	t.paced = false
	if t.gcPercent() == t.largePct() {
		t.setGC(t.base)
	}
}

// largePct is LargeGCPercent with its default applied.
func (t *Trimmer) largePct() int {
	if t.LargeGCPercent == 0 {
		return 50
	}
	return t.LargeGCPercent
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
