package connctx

import (
	"context"
	"errors"
	"net"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"weak"
)

type key struct{}

var errCause = errors.New("the cause")

func TestValuesAndCause(t *testing.T) {
	addr := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8443}
	parent := context.WithValue(context.Background(), key{}, "v")
	var c Ctx
	c.Init(parent, addr)
	if got := c.Value(http.LocalAddrContextKey); got != addr {
		t.Fatalf("LocalAddrContextKey = %v, want %v", got, addr)
	}
	if got := c.Value(key{}); got != "v" {
		t.Fatalf("parent value = %v", got)
	}
	if c.Err() != nil {
		t.Fatal("cancelled before Cancel")
	}
	c.Cancel(errCause)
	c.Cancel(errors.New("second"))
	<-c.Done()
	if c.Err() != context.Canceled {
		t.Fatalf("Err = %v, want context.Canceled", c.Err())
	}
	if got := context.Cause(&c); got != errCause {
		t.Fatalf("Cause = %v, want the first cause", got)
	}
	// Contexts derived from it see the cancellation and its cause.
	child, cancel := context.WithCancel(&c)
	defer cancel()
	<-child.Done()
	if got := context.Cause(child); got != errCause {
		t.Fatalf("child Cause = %v", got)
	}
	var c2 Ctx
	c2.Init(context.Background(), nil)
	if got := c2.Value(http.LocalAddrContextKey); got != nil {
		t.Fatalf("LocalAddrContextKey without an address = %v", got)
	}
}

func TestWatch(t *testing.T) {
	var c Ctx
	c.Init(context.Background(), nil)
	var runs atomic.Int32
	f := func() { runs.Add(1) }

	if !c.Watch(f) {
		t.Fatal("Watch on a free slot refused")
	}
	if c.Watch(f) {
		t.Fatal("a second Watch took the armed slot")
	}
	if !c.Unwatch() {
		t.Fatal("Unwatch of an armed watch reported false")
	}
	if c.Unwatch() {
		t.Fatal("Unwatch of an empty slot reported true")
	}
	if !c.Watch(f) {
		t.Fatal("Watch after Unwatch refused")
	}
	c.Cancel(errCause)
	if runs.Load() != 1 {
		t.Fatalf("watch ran %d times on Cancel, want 1", runs.Load())
	}
	if c.Unwatch() {
		t.Fatal("Unwatch after the watch ran reported true")
	}
	// Already cancelled: the function runs at once.
	if !c.Watch(f) || runs.Load() != 2 {
		t.Fatalf("Watch after Cancel: runs = %d, want 2", runs.Load())
	}
	if c.Unwatch() {
		t.Fatal("Unwatch after an immediate run reported true")
	}
	c.Cancel(errCause)
	if runs.Load() != 2 {
		t.Fatal("a disarmed watch ran")
	}
}

func TestParentCancellation(t *testing.T) {
	parent, cancel := context.WithCancelCause(context.Background())
	var followed, owned Ctx
	followed.Init(parent, nil)
	owned.InitOwned(parent, nil)
	var fRuns, oRuns atomic.Int32
	done := make(chan struct{})
	followed.Watch(func() { fRuns.Add(1); close(done) })
	owned.Watch(func() { oRuns.Add(1) })
	cancel(errCause)
	<-done
	<-owned.Done()
	if got := context.Cause(&followed); got != errCause {
		t.Fatalf("Init: Cause = %v", got)
	}
	if got := context.Cause(&owned); got != errCause {
		t.Fatalf("InitOwned: Cause = %v", got)
	}
	if oRuns.Load() != 0 {
		t.Fatal("InitOwned: the watch ran without its owner firing it")
	}
	owned.Fire()
	if fRuns.Load() != 1 || oRuns.Load() != 1 {
		t.Fatalf("runs: followed %d, owned %d; want 1 and 1", fRuns.Load(), oRuns.Load())
	}
}

// TestAfterFuncFallback: a second watcher uses context.AfterFunc on the
// same context, which must work through the embedded cancel context.
func TestAfterFuncFallback(t *testing.T) {
	var c Ctx
	c.Init(context.Background(), nil)
	ran := make(chan struct{})
	c.Watch(func() {})
	context.AfterFunc(&c, func() { close(ran) })
	c.Cancel(errCause)
	<-ran
}

// TestWatchRace: whatever the interleaving, a watch whose Unwatch
// reported true never runs, and one that was not disarmed runs exactly
// once.
func TestWatchRace(t *testing.T) {
	for i := 0; i < 2000; i++ {
		var c Ctx
		c.Init(context.Background(), nil)
		var runs atomic.Int32
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.Cancel(errCause)
		}()
		armed := c.Watch(func() { runs.Add(1) })
		disarmed := c.Unwatch()
		wg.Wait()
		switch {
		case !armed:
			t.Fatal("Watch refused a free slot")
		case disarmed && runs.Load() != 0:
			t.Fatal("a watch ran although Unwatch disarmed it")
		case !disarmed && runs.Load() != 1:
			t.Fatalf("an undisarmed watch ran %d times", runs.Load())
		}
	}
}

// TestInitReleasesParent: a cancelled Ctx is no longer reachable from a
// long-lived parent (Init's AfterFunc is stopped), so a connection that
// embeds it can be collected.
func TestInitReleasesParent(t *testing.T) {
	parent, cancel := context.WithCancel(context.Background())
	defer cancel()
	type connLike struct {
		buf [64 << 10]byte
		c   Ctx
	}
	x := new(connLike)
	x.c.Init(parent, nil)
	x.c.Cancel(errCause)
	wp := weak.Make(x)
	x = nil
	for i := 0; i < 3; i++ {
		runtime.GC()
	}
	if wp.Value() != nil {
		t.Fatal("a cancelled Ctx is still referenced by its parent's AfterFunc")
	}
}

// TestWatchAfterParentCancelled: an InitOwned context cancelled through
// its parent, before its owner fired it, still runs a new watch at once.
func TestWatchAfterParentCancelled(t *testing.T) {
	parent, cancel := context.WithCancel(context.Background())
	var c Ctx
	c.InitOwned(parent, nil)
	cancel()
	ran := false
	if !c.Watch(func() { ran = true }) || !ran {
		t.Fatal("Watch on a cancelled context did not run its function")
	}
	if c.Unwatch() {
		t.Fatal("Unwatch after an immediate run reported true")
	}
}
