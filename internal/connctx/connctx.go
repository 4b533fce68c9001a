// Package connctx is the context the h1 and h2 servers give a connection
// or a request: a context.WithCancelCause context (Done, Err, Value and
// context.Cause behave exactly as usual) that also answers
// http.LocalAddrContextKey without a context.WithValue layer, and has one
// allocation-free watch slot.
//
// The watch slot is for the proxy, which must end blocked upstream I/O
// when the client goes away, on every request. context.AfterFunc does that
// at the price of an allocation, a map insert and a delete in the
// parent's children, and the children map and Done channel then stay
// with the connection for as long as it is open (about 350 bytes per
// idle connection). Watch/Unwatch take a mutex and nothing else.
package connctx

import (
	"context"
	"net"
	"net/http"
	"sync"
)

// Ctx is a cancellable context with a watch slot. Use it through a
// pointer, after Init; the zero value is not usable.
type Ctx struct {
	context.Context // from context.WithCancelCause(parent)

	cancel context.CancelCauseFunc
	local  net.Addr // the http.LocalAddrContextKey value, if set

	mu     sync.Mutex
	fired  bool        // Cancel or Fire ran: Watch runs its function at once
	fn     func()      // the armed watch, or nil
	follow func() bool // stops Init's AfterFunc on the parent, or nil
}

// Init makes c a child of parent (cancelled when parent is) whose
// http.LocalAddrContextKey value is local (when local is not nil).
//
// The watch slot fires when c is cancelled through Cancel. If parent can
// be cancelled by someone else, Init registers a context.AfterFunc on it
// so that the slot fires then too (Cancel unregisters it); an owner that
// cancels c itself whenever parent ends can skip that with InitOwned.
func (c *Ctx) Init(parent context.Context, local net.Addr) {
	c.InitOwned(parent, local)
	if parent.Done() != nil {
		stop := context.AfterFunc(parent, func() { c.Cancel(context.Cause(parent)) })
		c.mu.Lock()
		if c.fired {
			c.mu.Unlock()
			stop()
			return
		}
		c.follow = stop
		c.mu.Unlock()
	}
}

// InitOwned is Init for an owner that calls Cancel (or Fire) on c itself
// whenever parent is cancelled, so no context.AfterFunc is registered on
// parent.
func (c *Ctx) InitOwned(parent context.Context, local net.Addr) {
	c.Context, c.cancel = context.WithCancelCause(parent)
	c.local = local
	c.follow, c.fired, c.fn = nil, false, nil
}

// Value answers http.LocalAddrContextKey from the address given to Init
// and everything else from the parent chain.
func (c *Ctx) Value(key any) any {
	if key == http.LocalAddrContextKey && c.local != nil {
		return c.local
	}
	return c.Context.Value(key)
}

// Cancel cancels c with cause (see context.WithCancelCause; the first
// cause wins) and then runs the armed watch, if any, on the calling
// goroutine.
func (c *Ctx) Cancel(cause error) {
	c.cancel(cause)
	c.Fire()
}

// Fire runs the armed watch, if any, and makes later Watch calls run
// theirs at once. An owner using InitOwned calls it for contexts whose
// parent was cancelled.
func (c *Ctx) Fire() {
	c.mu.Lock()
	fn, stop := c.fn, c.follow
	c.fn, c.follow, c.fired = nil, nil, true
	c.mu.Unlock()
	if stop != nil {
		stop() // the parent no longer needs to reach c
	}
	if fn != nil {
		fn()
	}
}

// Watch arms f to run once when c is cancelled, until Unwatch. It reports
// false, without arming anything, when the slot is taken (the caller then
// falls back to context.AfterFunc). When c is already cancelled (Cancel,
// Fire, or its parent's cancellation), f runs at once on the calling
// goroutine and Watch reports true; the following Unwatch reports false.
func (c *Ctx) Watch(f func()) bool {
	c.mu.Lock()
	if c.fn != nil {
		c.mu.Unlock()
		return false
	}
	if c.fired || c.Context.Err() != nil {
		c.mu.Unlock()
		f()
		return true
	}
	c.fn = f
	c.mu.Unlock()
	return true
}

// Unwatch disarms the watch armed by the last Watch. It reports whether
// it did so before the watch ran (false: the function ran or is running,
// as with the stop function of context.AfterFunc).
func (c *Ctx) Unwatch() bool {
	c.mu.Lock()
	armed := c.fn != nil
	c.fn = nil
	c.mu.Unlock()
	return armed
}

// Watcher is what the proxy looks for on a request's context.
type Watcher interface {
	Watch(f func()) bool
	Unwatch() bool
}
