package h1

import (
	"errors"
	"net"
	"sync/atomic"
	"time"
)

// monoNow returns a monotonic clock reading in nanoseconds.
func monoNow() int64 { return int64(time.Since(epoch)) }

var epoch = time.Now()

// Client-disconnect watch. Without a background reader the server cannot
// see a client go away while a handler runs. For a request without a body
// whose bytes are all consumed, the connection is watched once the handler
// has run for DisconnectCheckDelay: a one-byte read is issued on a timer's
// goroutine. EOF or an error there cancels the connection's context (cause
// ErrClientGone); a byte is kept as the start of the next (pipelined)
// request. When the handler returns, a read in flight is aborted with a
// past deadline and awaited.
//
// Resetting a timer per request is expensive (a new earliest timer wakes
// the thread sleeping in netpoll), so the connection's timer is not
// stopped when a handler returns: it fires at most once per
// DisconnectCheckDelay while requests keep coming, re-arms itself for the
// handler that is running then, and stops once the connection is between
// requests. A fast handler costs two atomic stores and a load.
func (c *conn) armWatch() {
	d := c.s.disconnectDelay()
	if d < 0 || c.body != nil || c.rpos < c.rend {
		return
	}
	c.bgStart.Store(int64(c.reqStart.Sub(epoch)))
	c.bgState.Store(bgArmed)
	if !c.bgPending.CompareAndSwap(false, true) {
		return // the timer is pending and will look at this handler
	}
	if c.bgTimer == nil {
		// Created idle and armed by Reset, so that watch always sees
		// c.bgTimer set.
		c.bgDone = make(chan struct{}, 1)
		c.bgTimer = time.AfterFunc(1<<62, c.watch)
	}
	c.bgTimer.Reset(d)
}

// watch runs on the timer's goroutine.
func (c *conn) watch() {
	c.bgRunning.Add(1)
	defer c.bgRunning.Add(-1)
	d := c.s.disconnectDelay()
	for {
		if c.bgState.Load() == bgArmed {
			left := d - time.Duration(monoNow()-c.bgStart.Load())
			if left > 0 {
				c.bgTimer.Reset(left) // a newer handler: look again later
				return
			}
			if c.bgState.CompareAndSwap(bgArmed, bgReading) {
				// The connection may keep a deadline from before the
				// request (see serveRequest): clear it, unless
				// stopWatch is already aborting this read (bgMu orders
				// the two deadline changes).
				c.bgMu.Lock()
				if !c.bgAbort.Load() {
					_ = c.nc.SetReadDeadline(time.Time{})
				}
				c.bgMu.Unlock()
				n, err := c.nc.Read(c.bgBuf[:])
				c.bgN, c.bgErr = n, err
				if n == 0 && !c.bgAbort.Load() && !isTimeout(err) {
					c.cctx.Cancel(ErrClientGone)
				}
				c.bgPending.Store(false) // before stopWatch can arm again
				c.bgDone <- struct{}{}
				return
			}
		}
		// Between requests: stop, unless a handler armed the watch while
		// it saw the timer still pending.
		c.bgPending.Store(false)
		if hook := testWatchTail.Load(); hook != nil {
			(*hook)(c)
		}
		if c.bgState.Load() != bgArmed || !c.bgPending.CompareAndSwap(false, true) {
			return
		}
	}
}

// testWatchTail, when set by a test, runs in watch right after it cleared
// bgPending between requests (where a preemption lets dropWatch and the
// next armWatch run).
var testWatchTail atomic.Pointer[func(*conn)]

// dropWatch lets the disconnect-watch timer of a connection that goes
// idle go (with its channel, about 200 bytes per idle connection);
// armWatch makes a new one. Only when the timer is neither pending nor
// running. bgPending false means the timer is not scheduled (only a
// holder of bgPending resets it), and claiming bgPending keeps a timer
// function from taking it back; but a function that cleared bgPending
// may still be running and about to take it back (its loop, then
// bgTimer.Reset or a send on bgDone), so a running function keeps the
// timer too. bgRunning counts them: after Reset(left) the timer can fire
// again before the function that reset it has returned.
func (c *conn) dropWatch() {
	if c.bgTimer == nil || !c.bgPending.CompareAndSwap(false, true) {
		return
	}
	if c.bgRunning.Load() == 0 {
		c.bgTimer, c.bgDone = nil, nil
	}
	c.bgPending.Store(false)
}

// stopWatch ends the watch of the current handler, aborting and awaiting a
// read in flight.
func (c *conn) stopWatch() {
	if c.bgState.CompareAndSwap(bgArmed, bgOff) {
		return
	}
	if c.bgState.Load() == bgOff {
		return
	}
	c.bgMu.Lock()
	c.bgAbort.Store(true)
	_ = c.nc.SetReadDeadline(aLongTimeAgo)
	c.bgMu.Unlock()
	<-c.bgDone
	c.bgAbort.Store(false)
	c.bgState.Store(bgOff)
	c.rdl = aLongTimeAgo
	switch {
	case c.bgN == 1:
		c.pending1 = true
	case !isTimeout(c.bgErr):
		c.gone = true
	}
	c.bgN, c.bgErr = 0, nil
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// rawConn is the transport under the connection: the TCP connection below
// TLS, or the connection itself.
func (c *conn) rawConn() net.Conn {
	if c.tc != nil {
		return c.tc.NetConn()
	}
	return c.nc
}
