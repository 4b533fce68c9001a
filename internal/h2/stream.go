package h2

import (
	"errors"
	"net/http"
	"net/url"
	"runtime"
	"time"

	"golang.org/x/net/http2"

	"github.com/mtlsgate/mtlsgate/internal/connctx"
)

// errMalformed is the cause of a stream reset for a malformed request.
var errMalformed = errors.New("h2: malformed request")

// stream is one request/response exchange. Streams are reused, but only
// by their own connection (a handler that keeps its ResponseWriter past
// its return can only ever reach its own connection, as with h1) and only
// once the stream is closed and its handler has returned.
type stream struct {
	c    *conn
	id   uint32
	ctx  *connctx.Ctx  // fresh per stream: a handler may keep it
	req  *http.Request // what the handler got (fresh per stream)
	body *reqBody      // nil when the request has no body

	// Reused request parts.
	reqTmpl http.Request
	url     url.URL
	header  http.Header
	vals    []string

	// Set by buildRequest (connection goroutine).
	declared   int64 // content-length, -1 when absent
	expectCont bool
	expectFail bool

	rw responseWriter

	// Guarded by c.mu.
	sendWin      int64
	remoteClosed bool // END_STREAM received (or the stream was reset)
	localClosed  bool // END_STREAM sent
	reset        bool // RST_STREAM sent or received
	inMap        bool // in c.streams
	handlerDone  bool

	// Guarded by c.wmu.
	hdrSent  bool // the final response HEADERS were written
	contSent bool // 100 Continue was written

	// Handler goroutine: the write deadline, and a timer that wakes flow
	// waiters when it passes.
	wdl    time.Time
	wtimer *time.Timer
}

// getStream returns a released stream of this connection, or a new one.
func (c *conn) getStream() *stream {
	c.mu.Lock()
	var st *stream
	if n := len(c.free); n > 0 {
		st = c.free[n-1]
		c.free[n-1] = nil
		c.free = c.free[:n-1]
	}
	c.mu.Unlock()
	if st == nil {
		st = &stream{c: c, header: make(http.Header), vals: make([]string, 0, 16)}
		st.rw.header = make(http.Header)
	}
	st.declared = -1
	return st
}

// putStream clears st (dropping every reference to request data) and
// keeps it for reuse, unless enough are kept or it grew unusually large.
// Called with c.mu held, or for a stream never started.
func (c *conn) putStreamLocked(st *stream) {
	if len(c.free) >= 4 || len(st.header) > 64 || len(st.rw.header) > 64 || cap(st.vals) > 256 {
		return
	}
	clear(st.header)
	clear(st.rw.header)
	clear(st.vals)
	st.vals = st.vals[:0]
	st.reqTmpl = http.Request{}
	st.url = url.URL{}
	st.ctx, st.req, st.body = nil, nil, nil
	st.expectCont, st.expectFail = false, false
	st.remoteClosed, st.localClosed, st.reset, st.inMap, st.handlerDone = false, false, false, false, false
	st.hdrSent, st.contSent = false, false
	st.wdl = time.Time{}
	st.rw.clearForReuse()
	c.free = append(c.free, st)
}

func (c *conn) putStream(st *stream) {
	c.mu.Lock()
	c.putStreamLocked(st)
	c.mu.Unlock()
}

// startStream registers st and runs its handler on a new goroutine.
func (c *conn) startStream(st *stream, endStream bool) {
	s := c.s
	st.ctx = new(connctx.Ctx)
	st.ctx.InitOwned(c.ctx, nil)
	r := st.reqTmpl.WithContext(st.ctx)
	st.req = r
	now := time.Now()
	if !endStream {
		b := &reqBody{c: c, st: st, id: st.id, req: r, win: streamWindow, declared: st.declared,
			needCont: st.expectCont}
		b.cond.L = &b.mu
		if s.ReadTimeout > 0 {
			b.deadline = now.Add(s.ReadTimeout)
		}
		st.body = b
		r.Body = b
	}
	if s.WriteTimeout > 0 {
		st.wdl = now.Add(s.WriteTimeout)
	}
	st.rw.reset(st)

	c.mu.Lock()
	st.sendWin = int64(c.initWin)
	st.remoteClosed = endStream
	st.inMap = true
	c.streams[st.id] = st
	c.nActive++
	first := c.nActive == 1
	if first && c.idleTimer != nil {
		c.idleTimer.Stop()
	}
	c.handlers.Add(1)
	c.unlockHook(http.StateActive, first && !c.closed)
	select {
	case c.workers <- st:
	default:
		go c.worker(st)
	}
}

// workerIdle is how long a handler goroutine waits for the connection's
// next stream before it ends.
const workerIdle = 200 * time.Millisecond

// worker runs stream handlers one after another. A stream that starts
// while it waits (up to workerIdle) runs on it, on a stack already grown to
// what a handler such as the proxy needs; a fresh goroutine per stream
// copied its stack several times per request (runtime.copystack was ~7%
// of CPU on keep-alive HTTP/2).
func (c *conn) worker(st *stream) {
	var t *time.Timer
	for {
		st.run()
		if t == nil {
			t = time.NewTimer(workerIdle)
		} else {
			t.Reset(workerIdle)
		}
		select {
		case st = <-c.workers:
		case <-t.C:
			return
		case <-c.ctx.Done():
			t.Stop()
			return
		}
	}
}

// run is the handler goroutine of a stream.
func (st *stream) run() {
	c := st.c
	defer c.handlers.Done()
	w := &st.rw
	p, ok := st.callHandler()
	if ok {
		w.finish()
	} else {
		if p != http.ErrAbortHandler {
			buf := make([]byte, 64<<10)
			buf = buf[:runtime.Stack(buf, false)]
			c.s.logf("http: panic serving %s: %v\n%s", c.remoteAddr, p, buf)
		}
		w.abort(p != http.ErrAbortHandler)
	}
	st.ctx.Cancel(ErrHandlerDone)
	if b := st.body; b != nil {
		c.refund(b.abandon())
	}
	c.mu.Lock()
	rstNoError := !st.remoteClosed && !st.reset && st.localClosed
	c.mu.Unlock()
	if rstNoError {
		// The response is complete but the client is still sending: ask
		// it to stop (RFC 9113 §8.1).
		c.resetStream(st, http2.ErrCodeNo, ErrHandlerDone)
	}
	c.mu.Lock()
	st.handlerDone = true
	if !st.reset && !(st.remoteClosed && st.localClosed) {
		// The response did not end the stream (it can only be that the
		// connection is closing): the stream is over anyway.
		st.reset = true
	}
	c.closeStreamLocked(st)
}

// callHandler runs the handler, recovering a panic.
func (st *stream) callHandler() (p any, ok bool) {
	defer func() {
		if p = recover(); p != nil {
			ok = false
		}
	}()
	st.c.s.handler().ServeHTTP(&st.rw, st.req)
	return nil, true
}

// closeStreamLocked removes st from the map once both sides are closed
// (or it was reset) and releases it once its handler has also returned.
// It releases c.mu (reporting StateIdle when the last stream is gone).
func (c *conn) closeStreamLocked(st *stream) {
	if st.inMap && (st.reset || st.remoteClosed && st.localClosed) {
		delete(c.streams, st.id)
		st.inMap = false
	}
	if st.inMap || !st.handlerDone {
		c.mu.Unlock()
		return
	}
	if !st.reset && c.resets.n > 0 {
		c.resets.n-- // a normal exchange earns a reset back
	}
	if st.wtimer != nil {
		st.wtimer.Stop()
	}
	c.putStreamLocked(st)
	c.nActive--
	idle := c.nActive == 0
	if idle {
		c.idleSince = time.Now()
		if c.draining {
			c.wakeLocked(wakeDrained)
		} else if c.idleTimer != nil {
			c.idleTimer.Reset(c.idleTimeout)
		}
	}
	c.unlockHook(http.StateIdle, idle && !c.closed)
}

// resetStream sends RST_STREAM(code) unless the stream is already reset,
// cancels its context with cause and fails its body. Any goroutine.
func (c *conn) resetStream(st *stream, code http2.ErrCode, cause error) {
	c.resetStreamBody(st, code, cause, ErrStreamReset)
}

// resetPushed resets a stream whose body push refused with code: a body
// longer or shorter than its content-length fails with errBodyLength.
func (c *conn) resetPushed(st *stream, code http2.ErrCode) {
	bodyErr := ErrStreamReset
	if code == http2.ErrCodeProtocol {
		bodyErr = errBodyLength
	}
	c.resetStreamBody(st, code, errMalformed, bodyErr)
}

// resetStreamBody is resetStream failing the body with bodyErr. The
// stream is marked reset before the body fails, so a handler that sees
// the error and returns never makes run answer RST_STREAM(NO_ERROR).
func (c *conn) resetStreamBody(st *stream, code http2.ErrCode, cause, bodyErr error) {
	c.mu.Lock()
	if st.reset || !st.inMap {
		c.mu.Unlock()
		return
	}
	st.reset = true
	if !st.remoteClosed {
		c.noteResetOpenLocked(st.id)
	}
	st.remoteClosed = true
	id, sctx, body := st.id, st.ctx, st.body
	c.flow.Broadcast()
	c.closeStreamLocked(st)
	sctx.Cancel(cause)
	if body != nil {
		c.refund(body.fail(bodyErr))
	}
	c.writeRST(id, code)
}

// noteResetOpenLocked remembers a stream reset while the client's side
// was open: frames the client sent before it saw the RST_STREAM may still
// come, and a trailer section among them must be ignored (RFC 9113
// §5.1, "closed"), not taken for a reused stream id.
func (c *conn) noteResetOpenLocked(id uint32) {
	if c.resetOpen == nil {
		// Made on first use: most connections never need it. 64 streams
		// answered early whose trailers are still on their way is
		// plenty, and bounds what a connection keeps (256 bytes).
		c.resetOpen = make([]uint32, resetOpenLen)
	}
	c.resetOpen[c.resetNext] = id
	c.resetNext = (c.resetNext + 1) % len(c.resetOpen)
}

func (c *conn) noteResetOpen(id uint32) {
	c.mu.Lock()
	c.noteResetOpenLocked(id)
	c.mu.Unlock()
}

// resetOpenLen is how many such streams a connection remembers.
const resetOpenLen = 64

// resetWhileOpenLocked reports whether id is one of the recent streams
// noteResetOpenLocked remembered.
func (c *conn) resetWhileOpenLocked(id uint32) bool {
	for _, r := range c.resetOpen {
		if r == id {
			return true
		}
	}
	return false
}

// remoteClosed records END_STREAM from the client.
func (c *conn) remoteClosed(st *stream) {
	c.mu.Lock()
	if !st.inMap {
		c.mu.Unlock()
		return // reset (and maybe released) meanwhile
	}
	st.remoteClosed = true
	c.closeStreamLocked(st)
}

// onStreamError handles a stream-level error the Framer found (a zero
// WINDOW_UPDATE increment on a stream).
func (c *conn) onStreamError(id uint32, code http2.ErrCode) error {
	if c.useless.hit() {
		return errCalm
	}
	c.mu.Lock()
	st := c.streams[id]
	idle := id > c.maxClientID
	c.mu.Unlock()
	switch {
	case idle:
		return connError{http2.ErrCodeProtocol, "frame on an idle stream"}
	case st != nil:
		c.resetStream(st, code, ErrStreamReset)
	}
	return nil
}

// onRSTStream handles the client resetting a stream.
func (c *conn) onRSTStream(f *http2.RSTStreamFrame) error {
	id := f.StreamID
	c.mu.Lock()
	st := c.streams[id]
	if st == nil {
		idle := id > c.maxClientID
		c.mu.Unlock()
		if idle {
			return connError{http2.ErrCodeProtocol, "RST_STREAM on an idle stream"}
		}
		if c.useless.hit() {
			return errCalm
		}
		return nil
	}
	if !st.handlerDone && c.resets.hit() {
		// Rapid reset (CVE-2023-44487): streams reset while their
		// handler runs still count toward MaxConcurrentStreams until it
		// returns, and more than floodMax of them within floodWindow
		// (less one for each stream completed normally) end the
		// connection.
		c.mu.Unlock()
		return errCalm
	}
	st.reset = true
	st.remoteClosed = true
	sctx, body := st.ctx, st.body
	c.flow.Broadcast()
	c.closeStreamLocked(st)
	sctx.Cancel(ErrStreamReset)
	if body != nil {
		c.refund(body.fail(ErrStreamReset))
	}
	return nil
}
