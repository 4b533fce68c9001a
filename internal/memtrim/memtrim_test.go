package memtrim

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
	"sync"
	"testing"
	"time"
)

const mib = 1 << 20

func TestDue(t *testing.T) {
	tr := &Trimmer{}
	quietPrev := Sample{Allocated: 1000 * mib}
	cases := []struct {
		name      string
		cur       Sample
		sinceLast time.Duration
		want      bool
	}{
		{"quiet with much garbage", Sample{Allocated: 1000 * mib, Resident: 200 * mib, Live: 100 * mib}, time.Hour, true},
		{"quiet, allocating a little", Sample{Allocated: 1001 * mib, Resident: 200 * mib, Live: 100 * mib}, time.Hour, true},
		{"busy: 2% of live allocated", Sample{Allocated: 1002 * mib, Resident: 200 * mib, Live: 100 * mib}, time.Hour, false},
		{"busy, small heap: 1 MiB allocated", Sample{Allocated: 1001 * mib, Resident: 40 * mib, Live: 10 * mib}, time.Hour, false},
		{"too little to reclaim", Sample{Allocated: 1000 * mib, Resident: 15 * mib, Live: 0}, time.Hour, false},
		{"under a quarter of live", Sample{Allocated: 1000 * mib, Resident: 240 * mib, Live: 200 * mib}, time.Hour, false},
		{"trimmed just before", Sample{Allocated: 1000 * mib, Resident: 200 * mib, Live: 100 * mib}, time.Second, false},
		{"live above resident", Sample{Allocated: 1000 * mib, Resident: 10 * mib, Live: 100 * mib}, time.Hour, false},
	}
	for _, c := range cases {
		if got := tr.due(quietPrev, c.cur, c.sinceLast); got != c.want {
			t.Errorf("%s: due = %v, want %v", c.name, got, c.want)
		}
	}
}

// TestRunTrimsOnceAfterBurst drives Run with a scripted runtime: a busy
// period, then quiet. It trims once when quiet comes, and not again while
// nothing new is reclaimable.
func TestRunTrimsOnceAfterBurst(t *testing.T) {
	var mu sync.Mutex
	s := Sample{Allocated: 0, Resident: 300 * mib, Live: 100 * mib}
	busy := 3
	reads := 0
	freed := make(chan struct{}, 10)
	tr := &Trimmer{
		Interval: time.Millisecond,
		MinGap:   time.Nanosecond,
		NoPace:   true,
		Read: func(out *Sample) {
			mu.Lock()
			defer mu.Unlock()
			reads++
			if busy > 0 {
				busy--
				s.Allocated += 500 * mib
			}
			*out = s
		},
		Free: func() {
			mu.Lock()
			s.Released += s.Resident - s.Live
			s.Resident = s.Live
			mu.Unlock()
			freed <- struct{}{}
		},
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { tr.Run(ctx); close(done) }()
	select {
	case <-freed:
	case <-time.After(10 * time.Second):
		t.Fatal("no trim after the burst ended")
	}
	// Let it sample a while more: nothing reclaimable, no second trim.
	for {
		mu.Lock()
		r := reads
		mu.Unlock()
		if r > 50 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	<-done
	if n := tr.Trims(); n != 1 {
		t.Fatalf("Trims = %d, want 1", n)
	}
	if got := tr.Returned(); got != 200*mib {
		t.Fatalf("Returned = %d, want %d", got, 200*mib)
	}
	if len(freed) != 0 {
		t.Fatalf("trimmed %d more times", len(freed))
	}
}

var sink [][]byte

// TestRealRuntime checks the metrics Trimmer reads exist and that a trim
// after making garbage returns memory.
func TestRealRuntime(t *testing.T) {
	tr := &Trimmer{}
	var s Sample
	tr.read(&s)
	if s.Allocated == 0 || s.Resident == 0 {
		t.Fatalf("runtime metrics missing: %+v", s)
	}
	for i := 0; i < 64; i++ {
		sink = append(sink, make([]byte, 1<<20))
	}
	sink = nil
	runtime.GC()
	tr.trim()
	if tr.Trims() != 1 {
		t.Fatalf("Trims = %d", tr.Trims())
	}
	if tr.Returned() == 0 {
		t.Fatal("a trim after freeing 64 MiB returned nothing")
	}
}

// TestFragmentedQuietHeapTrimsOnce: a heap whose only waste is space
// inside partly used pages (which no trim returns) is trimmed once after
// its garbage, not again every MinGap while it stays quiet.
func TestFragmentedQuietHeapTrimsOnce(t *testing.T) {
	keep := make([][]byte, 0, 1<<16)
	for i := 0; i < 1<<19; i++ {
		b := make([]byte, 64)
		if i%8 == 0 {
			keep = append(keep, b) // every 8th survives: pages stay partly used
		}
	}
	runtime.GC()
	tr := &Trimmer{Interval: 5 * time.Millisecond, MinGap: time.Millisecond, MinReclaim: 1 << 20, NoPace: true}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	tr.Run(ctx)
	runtime.KeepAlive(keep)
	if n := tr.Trims(); n > 2 {
		t.Errorf("%d trims of a quiet heap whose waste is only inside partly used pages, want at most 2", n)
	}
}

// TestPace: the GC percent follows 32 MiB of headroom over the live
// heap within 50..800, changes only when off by a quarter, is put back
// when Run ends; nothing happens when disabled or with the collector off,
// and a setting someone else made meanwhile ends the pacing for good.
func TestPace(t *testing.T) {
	run := func(base int, noPace bool, lives []uint64, meddle func(cur *int, i int)) (settings []int, final int) {
		cur := base
		i := 0
		done := make(chan struct{})
		tr := &Trimmer{
			Interval: time.Millisecond,
			NoPace:   noPace,
			Read: func(s *Sample) {
				if i < len(lives) {
					*s = Sample{Live: lives[i], Resident: lives[i]}
					i++
					if meddle != nil {
						meddle(&cur, i)
					}
					if i == len(lives) {
						close(done)
					}
				} else {
					*s = Sample{Live: lives[len(lives)-1], Resident: lives[len(lives)-1]}
				}
			},
			Free:         func() {},
			GetGCPercent: func() int { return cur },
			SetGCPercent: func(p int) int {
				prev := cur
				cur = p
				settings = append(settings, p)
				return prev
			},
		}
		ctx, cancel := context.WithCancel(context.Background())
		stopped := make(chan struct{})
		go func() { tr.Run(ctx); close(stopped) }()
		<-done
		cancel()
		<-stopped
		return settings, cur
	}
	// Run's first sample and the first tick read the same live heap.
	lives := []uint64{2 * mib, 2 * mib, 8 * mib, 9 * mib, 32 * mib, 40 * mib, 100 * mib, 200 * mib}
	// 2 MiB: 800 (capped); 8: 400; 9: 355 is within a quarter of 400;
	// 32: 100; 40: 80 within a quarter; 100: 50 (32 is below the floor);
	// 200: 50 again, unchanged; the process's 100 back at the end.
	want := "[800 400 100 50 100]"
	if settings, final := run(100, false, lives, nil); fmt.Sprint(settings) != want || final != 100 {
		t.Errorf("GOGC=100: settings %v (final %d), want %s (final 100)", settings, final, want)
	}
	if settings, final := run(-1, false, lives, nil); len(settings) != 0 || final != -1 {
		t.Errorf("GOGC=off: settings %v (final %d), want none", settings, final)
	}
	if settings, final := run(100, true, lives, nil); len(settings) != 0 || final != 100 {
		t.Errorf("disabled: settings %v (final %d), want none", settings, final)
	}
	// Someone sets 70 after the second sample: pacing stops, 70 stays.
	meddle := func(cur *int, i int) {
		if i == 2 {
			*cur = 70
		}
	}
	if settings, final := run(100, false, lives, meddle); fmt.Sprint(settings) != "[800]" || final != 70 {
		t.Errorf("changed meanwhile: settings %v (final %d), want [800] (final 70)", settings, final)
	}
}

// TestGCPercent reads the collector's setting without changing it.
func TestGCPercent(t *testing.T) {
	prev := debug.SetGCPercent(73)
	defer debug.SetGCPercent(prev)
	if got := GCPercent(); got != 73 {
		t.Fatalf("GCPercent = %d, want 73", got)
	}
}
