package h1

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mtlsgate/mtlsgate/internal/connctx"
)

// Connection states as seen by Shutdown (conn.state).
const (
	csActive   int32 = iota // reading or serving a request
	csIdle                  // waiting for the first byte of a request
	csClosing               // Shutdown/Close claimed it
	csHijacked              // handed to a handler
)

// Background read states (conn.bgState).
const (
	bgOff     int32 = iota
	bgArmed         // timer pending
	bgReading       // the timer fired and a read is in flight
)

const (
	// maxDrain is how much of an unread request body is read and dropped
	// to keep a connection alive (net/http uses the same amount); a larger
	// rest closes the connection instead.
	maxDrain = 256 << 10
	// lingerTimeout and lingerMax bound the reading after the server
	// closed its side with request bytes still unread, so that closing
	// does not reset the connection and destroy the response in flight
	// (RFC 9112 §9.6).
	lingerTimeout = 500 * time.Millisecond
	lingerMax     = 256 << 10
	// errorWriteTimeout bounds writing an error response when the server
	// has no WriteTimeout.
	errorWriteTimeout = 10 * time.Second
)

// How a connection is closed (conn.closing).
const (
	closeGraceful = iota // net.Conn Close (TLS close_notify)
	closeAbort           // the socket is closed without close_notify
	closeLinger          // half-close, read and drop for a while, close
)

// conn is one served connection. Everything a handler can reach through
// its ResponseWriter is on the connection (resp), so a ResponseWriter kept
// past its request can only ever disturb its own connection.
type conn struct {
	s    *Server
	nc   net.Conn
	tc   *tls.Conn       // nc as a TLS connection, or nil
	ctx  context.Context // &cctx
	cctx connctx.Ctx     // cancelled with the connection's end (Cancel)
	// tmpl is a zero request carrying ctx, copied per request, and
	// tlsState the connection's TLS state. Both are dropped while the
	// connection is parked and made again when it resumes.
	tmpl       *http.Request
	remoteAddr string
	tlsState   *tls.ConnectionState
	state      atomic.Int32
	tracked    bool // in s.conns (guarded by s.mu)
	one        [1]byte

	// Read buffer: rbuf[rpos:rend] is read but not consumed. Held only
	// while a request is being read or served.
	rbufp      *[]byte // pooled backing of rbuf (nil when grown)
	rbuf       []byte
	rpos, rend int
	reqStart   time.Time // first byte of the current request
	// rdl is the read deadline set on nc by this connection's goroutine
	// (zero: none). headDL is a request head's deadline not set yet: a
	// shorter one (the idle grace) is still ahead, and most heads are in
	// before it; fill moves to headDL if that one passes. Setting a
	// deadline moves a runtime timer, so the steady keep-alive path avoids
	// it (see setReadDeadline).
	rdl    time.Time
	headDL time.Time
	// rEnd and wEnd end the current request's body reads and response
	// writes (ReadTimeout, WriteTimeout, or a handler's
	// ResponseController deadline; zero: none). The stall timeouts move
	// the deadlines before each read or write, never past these.
	rEnd, wEnd time.Time
	wdl        time.Time // the write deadline set on nc (zero: none)
	// dlMu guards rdl, rEnd, wdl and wEnd while a handler runs: its
	// goroutines may read the body, write the response and call
	// ResponseController at once (full duplex). Outside a handler only the
	// connection's goroutine uses them.
	dlMu sync.Mutex

	resp response
	body *body // current request body, nil when none

	// 100-continue: canContinue is true while a "100 Continue" may still
	// be sent, i.e. before the response (or a 1xx) went out.
	contMu        sync.Mutex
	canContinue   bool
	expectPending bool

	// Client-disconnect watch (see armWatch).
	bgTimer   *time.Timer
	bgPending atomic.Bool  // bgTimer is pending or its function running
	bgRunning atomic.Int32 // calls of watch (the timer's function) running
	bgStart   atomic.Int64 // monoNow of the watched request's start
	bgState   atomic.Int32
	bgAbort   atomic.Bool
	bgMu      sync.Mutex // orders the watch's and stopWatch's deadline changes
	bgDone    chan struct{}
	bgBuf     [1]byte
	bgN       int
	bgErr     error
	pending1  bool // bgBuf[0] is the first byte of the next request
	gone      bool // the client went away

	werr     error // first write error
	hijacked bool
	closing  int

	// Idle hand-off (see Server.IdleGrace).
	idleDeadline time.Time // end of the current idle wait (zero: none)
	graceExpired bool
	parkID       uint32 // in the server's parker (0: not parked); guarded by its mutex
	heapIdx      int    // in the parker's expiry heap (-1: not); guarded by its mutex
	epollArmed   bool   // registered with the parker's epoll instance before
}

func (c *conn) hook(st http.ConnState) {
	if f := c.s.ConnState; f != nil {
		f(c.nc, st)
	}
}

// serve runs the request loop, starting with the first request. It
// reports whether the connection was handed off to another goroutine.
func (c *conn) serve() (handedOff bool) {
	if c.tc != nil && !c.setupTLS() {
		return false
	}
	return c.loop(true, false)
}

// loop serves requests until the connection is done (false) or handed off
// (true: from then on c belongs to the new goroutine). resumed: the first
// byte of the next request is already in.
func (c *conn) loop(first, resumed bool) bool {
	for ; ; first = false {
		if !resumed {
			switch c.next(first) {
			case waitClose:
				return false
			case waitHandoff:
				// Idle for IdleGrace: go on waiting in the server's
				// parker (no goroutine at all) or, where there is none,
				// on a fresh goroutine with a small stack; let this one
				// (and its stack, grown by handlers) go.
				c.tmpl, c.tlsState = nil, nil // made again on the next request
				c.dropWatch()
				if !c.s.park.park(c) {
					go c.resume()
				}
				return true
			}
		}
		resumed = false
		if !c.serveRequest() {
			return false
		}
	}
}

// resume continues an idle wait that was handed off.
func (c *conn) resume() {
	handedOff := false
	defer c.done(&handedOff)
	if !c.waitFirstByte(c.idleDeadline, false, true) {
		return
	}
	handedOff = c.loop(false, true)
}

// setupTLS finishes the handshake if needed and records the TLS state.
func (c *conn) setupTLS() bool {
	if !c.tc.ConnectionState().HandshakeComplete {
		d := c.s.readHeaderTimeout()
		if d <= 0 {
			d = 10 * time.Second
		}
		ctx, cancel := context.WithTimeout(c.ctx, d)
		err := c.tc.HandshakeContext(ctx)
		cancel()
		if err != nil {
			c.closing = closeAbort
			return false
		}
	}
	cs := c.tc.ConnectionState()
	c.tlsState = &cs
	if cs.NegotiatedProtocol == "h2" {
		c.s.logf("h1: refusing a connection from %s that negotiated h2", c.remoteAddr)
		return false
	}
	return true
}

// done closes the connection (unless hijacked) and reports it closed.
// After a hand-off (*handedOff) it does nothing: the new goroutine owns
// the connection.
func (c *conn) done(handedOff *bool) {
	if *handedOff {
		return
	}
	if p := recover(); p != nil {
		// Only a bug in this package gets here (handler panics are
		// recovered around the handler); never take the process down.
		buf := make([]byte, 64<<10)
		buf = buf[:runtime.Stack(buf, false)]
		c.s.logf("h1: panic serving %s: %v\n%s", c.remoteAddr, p, buf)
		c.closing = closeAbort
	}
	c.stopWatch()
	if c.bgTimer != nil {
		c.bgTimer.Stop()
	}
	c.cctx.Cancel(ErrConnDone)
	if c.body != nil {
		c.body.finish()
		c.body = nil
	}
	if !c.hijacked {
		switch c.closing {
		case closeLinger:
			c.lingerClose()
		case closeAbort:
			c.rawClose()
		default:
			_ = c.nc.Close()
		}
	}
	c.resp.releaseBufs()
	c.rpos, c.rend = 0, 0
	c.releaseRead()
	if !c.hijacked {
		c.s.untrack(c)
		c.hook(http.StateClosed)
	}
}

// rawClose closes the socket without a TLS close_notify: the client must
// not take a cut-off response for a complete one.
func (c *conn) rawClose() {
	if c.tc != nil {
		_ = c.tc.NetConn().Close()
		return
	}
	_ = c.nc.Close()
}

// lingerClose half-closes, then reads and drops what the client still
// sends for a short while before closing.
func (c *conn) lingerClose() {
	if c.tc != nil {
		_ = c.tc.CloseWrite()
		if cw, ok := c.tc.NetConn().(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		}
	} else if cw, ok := c.nc.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	c.setReadDeadline(time.Now().Add(lingerTimeout))
	c.acquireRead()
	for n := 0; n < lingerMax; {
		m, err := c.nc.Read(c.rbuf)
		n += m
		if err != nil {
			break
		}
	}
	c.rawClose()
}

// Results of waiting for a request.
const (
	waitGot     = iota // its first byte is in the read buffer
	waitClose          // the connection is done
	waitHandoff        // still idle after IdleGrace: hand the wait off
)

// next waits for the first byte of the next request. While the connection
// is idle it holds no buffer: it blocks in a one-byte read into c.one.
func (c *conn) next(first bool) int {
	s := c.s
	if !first {
		c.hook(http.StateIdle)
	}
	if c.pending1 || c.rpos < c.rend {
		// Pipelined, or the disconnect watch read a byte: the next
		// request has started arriving already.
		if s.shuttingDown() {
			return waitClose
		}
		c.hook(http.StateActive)
		if c.pending1 {
			c.pending1 = false
			c.acquireRead()
			c.rbuf[0] = c.bgBuf[0]
			c.rpos, c.rend = 0, 1
		}
		c.startRequest(time.Now())
		return waitGot
	}
	c.releaseRead()
	d := s.idleTimeout()
	if first {
		d = s.readHeaderTimeout()
	}
	now := time.Now()
	c.idleDeadline = time.Time{}
	if d > 0 {
		c.idleDeadline = now.Add(d)
	}
	if g := s.idleGrace(); g > 0 && (d <= 0 || g < d) {
		if c.waitFirstByte(now.Add(g), true, false) {
			return waitGot
		}
		if c.graceExpired && c.state.Load() == csIdle {
			return waitHandoff
		}
		return waitClose
	}
	if c.waitFirstByte(c.idleDeadline, false, false) {
		return waitGot
	}
	return waitClose
}

// waitFirstByte marks the connection idle and reads one byte with the
// given read deadline (zero: none). With grace set, a timeout sets
// c.graceExpired instead of ending the connection. resumed: this continues
// a handed-off wait (the connection is marked idle already).
func (c *conn) waitFirstByte(deadline time.Time, grace, resumed bool) bool {
	c.graceExpired = false
	if grace && c.rdl.After(deadline.Add(-c.s.idleGrace()/2)) && !c.rdl.After(deadline) {
		// The grace deadline set for an earlier request is recent
		// enough: hand off after between half and all of IdleGrace.
	} else {
		c.setReadDeadline(deadline)
	}
	// The deadline is set before the connection shows as idle: Shutdown
	// moves it into the past only after it saw the idle state, so its
	// wake-up cannot be overwritten.
	if !resumed {
		c.state.Store(csIdle)
	} else if c.state.Load() != csIdle {
		return false // Shutdown took it during the hand-off
	}
	if c.s.shuttingDown() {
		return false
	}
	if resumed && !c.waitReadable() {
		return false
	}
	n, err := c.nc.Read(c.one[:])
	if n == 0 {
		// EOF, reset or timeout while idle: close quietly, like
		// net/http (unless only the grace period ended).
		c.graceExpired = grace && isTimeout(err)
		return false
	}
	if !c.state.CompareAndSwap(csIdle, csActive) {
		return false // Shutdown or Close took the connection
	}
	c.hook(http.StateActive)
	c.acquireRead()
	c.rbuf[0] = c.one[0]
	c.rpos, c.rend = 0, 1
	c.startRequest(time.Now())
	return true
}

// startRequest arms the head deadline from the request's first byte.
func (c *conn) startRequest(now time.Time) {
	c.reqStart = now
	c.headDL = time.Time{}
	d := c.s.readHeaderTimeout()
	if d <= 0 {
		c.setReadDeadline(time.Time{})
		return
	}
	hd := now.Add(d)
	if c.rdl.After(now) && c.rdl.Before(hd) {
		c.headDL = hd // see conn.headDL
		return
	}
	c.setReadDeadline(hd)
}

// setReadDeadline sets nc's read deadline unless it is set to t already.
func (c *conn) setReadDeadline(t time.Time) {
	if t.Equal(c.rdl) {
		return
	}
	_ = c.nc.SetReadDeadline(t)
	c.rdl = t
}

// serveRequest reads, parses and serves one request; it reports whether
// the connection stays open for another.
func (c *conn) serveRequest() bool {
	s := c.s
	c.rEnd, c.wEnd = time.Time{}, time.Time{} // the last request's
	head, err := c.readHead()
	c.headDL = time.Time{}
	if err != nil {
		if he, ok := err.(*httpError); ok {
			c.replyError(he)
		}
		return false
	}
	st := getReqState()
	if c.tmpl == nil {
		c.tmpl = new(http.Request).WithContext(c.ctx)
	}
	st.req = *c.tmpl
	hi, he := parseHead(head, st)
	c.rpos += len(head)
	if he != nil {
		putReqState(st)
		c.replyError(he)
		return false
	}
	req := &st.req
	req.RemoteAddr = c.remoteAddr
	if c.tc != nil {
		if c.tlsState == nil {
			cs := c.tc.ConnectionState()
			c.tlsState = &cs
		}
		req.TLS = c.tlsState
	}
	req.Body = http.NoBody
	c.expectPending = false
	if hi.chunked || hi.contentLength > 0 {
		b := &body{c: c, req: req, chunked: hi.chunked, n: hi.contentLength}
		if hi.chunked {
			b.n = 0
		}
		if hi.expectCont && req.ProtoMinor == 1 {
			b.cont = true
			c.canContinue = true
			c.expectPending = true
		}
		c.body = b
		req.Body = b
	}

	// Deadlines: the whole request from its first byte; the response
	// from now.
	// Without a ReadTimeout, a request without a body keeps whatever
	// deadline is set: nothing reads the connection while its handler
	// runs but the disconnect watch, which clears it itself.
	if rt := s.ReadTimeout; rt > 0 {
		c.rEnd = c.reqStart.Add(rt)
		c.setReadDeadline(c.rEnd)
	} else if c.body != nil {
		c.setReadDeadline(time.Time{})
	}
	if wt := s.WriteTimeout; wt > 0 {
		c.wEnd = time.Now().Add(wt)
		c.setWriteDeadline(c.wEnd)
	} else if s.SendStallTimeout <= 0 {
		c.setWriteDeadline(time.Time{})
	}

	w := &c.resp
	w.reset(st, req, hi)
	c.armWatch()
	ok := c.runHandler(w, req)
	c.stopWatch()
	if c.hijacked {
		w.st, w.req = nil, nil
		putReqState(st)
		return false
	}
	if !ok {
		// The handler panicked: whatever it wrote is cut off.
		w.st, w.req = nil, nil
		putReqState(st)
		c.closing = closeAbort
		return false
	}
	w.finish()
	keep := !w.closeAfter && c.werr == nil && !c.gone
	if b := c.body; b != nil {
		if keep && !b.discard(maxDrain) {
			keep = false
			c.closing = closeLinger
		} else if !keep && !b.ended() && c.werr == nil {
			c.closing = closeLinger
		}
		b.finish()
		c.body = nil
	}
	w.st, w.req = nil, nil
	putReqState(st)
	if c.werr != nil {
		c.closing = closeAbort
		return false
	}
	if keep && s.shuttingDown() {
		keep = false
	}
	if !keep && c.closing == closeGraceful && (c.rpos < c.rend || c.pending1) {
		// Pipelined requests we will not answer are waiting.
		c.closing = closeLinger
	}
	return keep
}

// runHandler calls the handler and recovers a panic like net/http:
// http.ErrAbortHandler silently, anything else logged with its stack.
// It reports whether the handler returned normally.
func (c *conn) runHandler(w *response, r *http.Request) (ok bool) {
	defer func() {
		if p := recover(); p != nil {
			if p != http.ErrAbortHandler {
				buf := make([]byte, 64<<10)
				buf = buf[:runtime.Stack(buf, false)]
				c.s.logf("http: panic serving %s: %v\n%s", c.remoteAddr, p, buf)
			}
			ok = false
		}
	}()
	c.s.handler().ServeHTTP(w, r)
	return true
}

// replyError answers a request that could not be parsed and closes.
func (c *conn) replyError(he *httpError) {
	d := c.s.WriteTimeout
	if d <= 0 {
		d = errorWriteTimeout
	}
	c.wEnd = time.Now().Add(d)
	c.setWriteDeadline(c.wEnd)
	text := http.StatusText(he.code)
	msg := strconv.Itoa(he.code) + " " + text + ": " + he.msg
	b := c.resp.getWbuf()
	b = append(b, "HTTP/1.1 "...)
	b = append(b, strconv.Itoa(he.code)...)
	b = append(b, ' ')
	b = append(b, text...)
	b = append(b, "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(len(msg)), 10)
	b = append(b, "\r\n\r\n"...)
	b = append(b, msg...)
	c.resp.wbuf = b
	c.write(b)
	c.closing = closeLinger
	if c.werr != nil {
		c.closing = closeAbort
	}
}
