package h2

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mtlsgate/mtlsgate/internal/connctx"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

const (
	// initialWindow is the flow-control window every stream and the
	// connection start with (RFC 9113 §6.9.2).
	initialWindow = 65535
	// streamWindow is the receive window advertised for each stream
	// (SETTINGS_INITIAL_WINDOW_SIZE): a request body is buffered up to
	// this much ahead of the handler.
	streamWindow = 256 << 10
	// connWindow is the connection's receive window (raised from 65535
	// by a WINDOW_UPDATE right after our SETTINGS): all request bodies of
	// a connection together are buffered up to this much.
	connWindow = 1 << 20
	// maxWindow is the largest legal flow-control window.
	maxWindow = 1<<31 - 1
	// minMaxFrameSize is the default and smallest SETTINGS_MAX_FRAME_SIZE;
	// it is also our own (never raised), so the largest frame we read.
	minMaxFrameSize  = 16384
	maxReadFrameSize = minMaxFrameSize
	// maxWriteFrame bounds the DATA frames we send, whatever the peer
	// allows, so a frame fits one TLS record.
	maxWriteFrame = minMaxFrameSize

	// Flood limits: more than floodMax frames of one useless kind within
	// floodWindow end the connection with GOAWAY(ENHANCE_YOUR_CALM).
	floodWindow = 10 * time.Second
	floodMax    = 1000

	// lingerTimeout and lingerMax bound the reading after a GOAWAY and
	// before the close, so that closing with unread client bytes does not
	// reset the connection and destroy the GOAWAY in flight.
	lingerTimeout = 500 * time.Millisecond
	lingerMax     = 256 << 10
	// ctrlWriteTimeout bounds writing control frames (SETTINGS and PING
	// acknowledgements, RST_STREAM, WINDOW_UPDATE, GOAWAY) when the
	// server has no WriteTimeout, so a client that stops reading cannot
	// hold the connection's reader forever.
	ctrlWriteTimeout = 10 * time.Second
)

// clientPreface is what an HTTP/2 client sends first (RFC 9113 §3.4).
const clientPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// Why a connection's reader was woken (conn.wake).
const (
	wakeNone    = iota
	wakeIdle    // no stream for IdleTimeout
	wakeDrained // GOAWAY sent or received, and no stream left
)

// conn is one served connection. The connection goroutine (serve) reads
// and processes every frame; handlers run on goroutines of their own and
// write their frames themselves under wmu.
//
// Locks: a request body's mutex may be held while taking wmu, and wmu
// while taking mu; never the other way round. hookMu is taken while
// holding mu, to report ConnState changes in order.
type conn struct {
	s          *Server
	nc         net.Conn
	tc         *tls.Conn       // nc as a TLS connection, or nil
	ctx        context.Context // &cctx
	cctx       connctx.Ctx     // cancelled with the connection's end (cancelConn)
	remoteAddr string
	tlsState   *tls.ConnectionState

	maxHeaderBytes int
	maxStreams     int

	// Owned by the connection goroutine.
	fr          *http2.Framer
	hdec        *hpack.Decoder
	hb          headerBlock
	canon       map[string]string // canonical forms of uncommon field names
	preface     [len(clientPreface)]byte
	pings       floodCounter
	settings    floodCounter
	useless     floodCounter
	resets      floodCounter // under mu
	idleTimer   *time.Timer
	idleTimeout time.Duration

	mu          sync.Mutex
	flow        sync.Cond // writers waiting for send window (L: mu)
	streams     map[uint32]*stream
	free        []*stream // released streams, reused by this connection only
	nActive     int       // streams open or with a handler running
	maxClientID uint32    // highest stream id the client used
	resetOpen   []uint32  // recent streams reset while the client could still send on them (a ring, made on first use)
	resetNext   int       // next slot of resetOpen
	sendWin     int64     // connection send window
	initWin     int32     // the client's SETTINGS_INITIAL_WINDOW_SIZE
	recvWin     int32     // connection receive window left to the client
	recvUnacked int32     // consumed bytes not yet given back
	closed      bool      // the connection is ending: writers fail
	goAwaySent  bool
	goAwayID    uint32 // last stream id of our GOAWAY
	draining    bool   // GOAWAY sent or received: close when no stream is left
	wake        int
	idleSince   time.Time
	handlers    sync.WaitGroup
	workers     chan *stream // handler goroutines waiting for a stream (see worker)
	follow      func() bool  // stops the AfterFunc on ConnContext's context (cancelConn)

	hookMu sync.Mutex

	peerMaxFrame atomic.Uint32

	// Writing (under wmu).
	wmu         sync.Mutex
	wwait       atomic.Int32 // goroutines waiting for wmu
	bw          *bufio.Writer
	werr        error
	wfailed     atomic.Bool // werr is set
	wdl         time.Time   // the socket's current write deadline
	prefaceSent bool
	sentGoAway  bool
	enc         *hpack.Encoder
	hbuf        bytes.Buffer
	fhbuf       [9 + 8]byte
	lastCL      int64
	lastCLs     string
}

// floodCounter counts frames of one kind within floodWindow.
type floodCounter struct {
	n     int
	start time.Time
}

// hit counts one frame and reports whether the limit is exceeded.
func (f *floodCounter) hit() bool {
	now := time.Now()
	if now.Sub(f.start) > floodWindow {
		f.start, f.n = now, 0
	}
	f.n++
	return f.n > floodMax
}

// connError ends the connection with GOAWAY(code).
type connError struct {
	code   http2.ErrCode
	reason string
}

func (e connError) Error() string { return "h2: " + e.code.String() + ": " + e.reason }

var errCalm = connError{http2.ErrCodeEnhanceYourCalm, "flood"}

func (c *conn) hook(st http.ConnState) {
	if f := c.s.ConnState; f != nil {
		f(c.nc, st)
	}
}

// unlockHook releases mu and reports st through ConnState (when report is
// set), in order with the connection's other reports.
func (c *conn) unlockHook(st http.ConnState, report bool) {
	if !report || c.s.ConnState == nil {
		c.mu.Unlock()
		return
	}
	c.hookMu.Lock()
	c.mu.Unlock()
	c.hook(st)
	c.hookMu.Unlock()
}

// serve runs the connection and ends it.
func (c *conn) serve() {
	var why error
	defer func() {
		if p := recover(); p != nil {
			// Only a bug in this package gets here (handler panics are
			// recovered on their goroutines); never take the process down.
			buf := make([]byte, 64<<10)
			buf = buf[:runtime.Stack(buf, false)]
			c.s.logf("h2: panic serving %s: %v\n%s", c.remoteAddr, p, buf)
			why = connError{http2.ErrCodeInternal, "internal error"}
		}
		c.finish(why)
	}()
	why = c.run()
}

// run reads and processes frames until the connection must end; the
// result says why (a connError is sent as GOAWAY).
func (c *conn) run() error {
	if c.tc != nil && !c.setupTLS() {
		return ErrConnDone
	}
	if d := c.s.readHeaderTimeout(); d > 0 {
		_ = c.nc.SetReadDeadline(time.Now().Add(d))
	}
	c.hdec = hpack.NewDecoder(4096, c.hb.onField)
	c.hdec.SetMaxStringLength(c.maxHeaderBytes)
	if err := c.writePreface(); err != nil {
		return ErrClientGone
	}
	if _, err := io.ReadFull(c.nc, c.preface[:]); err != nil {
		return c.readErr(err)
	}
	if string(c.preface[:]) != clientPreface {
		return connError{http2.ErrCodeProtocol, "bad client preface"}
	}
	fh, err := c.fr.ReadFrameHeader()
	if err != nil {
		return c.readErr(err)
	}
	if fh.Type != http2.FrameSettings || fh.Flags.Has(http2.FlagSettingsAck) {
		return connError{http2.ErrCodeProtocol, "first frame is not SETTINGS"}
	}
	if err := c.readFrame(fh); err != nil {
		return err
	}
	_ = c.nc.SetReadDeadline(time.Time{})
	c.idleTimeout = c.s.idleTimeout()
	c.mu.Lock()
	c.idleSince = time.Now()
	if c.idleTimeout > 0 {
		c.idleTimer = time.AfterFunc(c.idleTimeout, c.onIdleTimer)
	}
	if c.wake != wakeNone {
		// Shutdown or Close came during the preface: its deadline change
		// may have been overwritten just now.
		_ = c.nc.SetReadDeadline(aLongTimeAgo)
	}
	c.mu.Unlock()
	for {
		fh, err := c.fr.ReadFrameHeader()
		if err != nil {
			return c.readErr(err)
		}
		if err := c.readFrame(fh); err != nil {
			return err
		}
	}
}

// setupTLS finishes the handshake if needed, checks ALPN and records the
// TLS state.
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
			return false
		}
	}
	st := c.tc.ConnectionState()
	if st.NegotiatedProtocol != "h2" {
		c.s.logf("h2: refusing a connection from %s that negotiated %q, not h2", c.remoteAddr, st.NegotiatedProtocol)
		return false
	}
	c.tlsState = &st
	return true
}

// readErr maps a read failure to the connection's end.
func (c *conn) readErr(err error) error {
	c.mu.Lock()
	wake := c.wake
	c.mu.Unlock()
	switch {
	case wake != wakeNone:
		return nil // graceful: GOAWAY(NO_ERROR)
	case errors.Is(err, http2.ErrFrameTooLarge):
		return connError{http2.ErrCodeFrameSize, "frame too large"}
	}
	var ce http2.ConnectionError
	if errors.As(err, &ce) {
		return connError{http2.ErrCode(ce), "framing"}
	}
	return ErrClientGone
}

// readFrame reads and processes the frame whose header was read.
func (c *conn) readFrame(fh http2.FrameHeader) error {
	if fh.Type == http2.FrameData {
		return c.onData(fh)
	}
	f, err := c.fr.ReadFrameForHeader(fh)
	if err != nil {
		var se http2.StreamError
		if errors.As(err, &se) && fh.Type != http2.FrameHeaders {
			// A zero WINDOW_UPDATE increment on a stream.
			return c.onStreamError(se.StreamID, se.Code)
		}
		if errors.As(err, &se) {
			// A HEADERS frame that could not be parsed has a header
			// block fragment HPACK never saw: the decoder state is lost.
			return connError{http2.ErrCodeProtocol, "malformed HEADERS"}
		}
		return c.readErr(err)
	}
	switch f := f.(type) {
	case *http2.HeadersFrame:
		return c.onHeaders(f)
	case *http2.ContinuationFrame:
		return c.onContinuation(f)
	case *http2.SettingsFrame:
		return c.onSettings(f)
	case *http2.PingFrame:
		if c.pings.hit() {
			return errCalm
		}
		if !f.IsAck() {
			c.writePing(f.Data)
		}
	case *http2.WindowUpdateFrame:
		return c.onWindowUpdate(f)
	case *http2.RSTStreamFrame:
		return c.onRSTStream(f)
	case *http2.GoAwayFrame:
		c.mu.Lock()
		c.draining = true
		if c.nActive == 0 {
			c.wakeLocked(wakeDrained)
		}
		c.mu.Unlock()
	case *http2.PushPromiseFrame:
		return connError{http2.ErrCodeProtocol, "PUSH_PROMISE from a client"}
	default:
		// PRIORITY (deprecated, ignored), PRIORITY_UPDATE and unknown
		// frame types are ignored, within limits.
		if c.useless.hit() {
			return errCalm
		}
	}
	return nil
}

// onSettings applies the client's settings and acknowledges them.
func (c *conn) onSettings(f *http2.SettingsFrame) error {
	if c.settings.hit() {
		return errCalm
	}
	if f.IsAck() {
		return nil
	}
	var tableSize uint32
	haveTable := false
	err := f.ForeachSetting(func(s http2.Setting) error {
		if err := s.Valid(); err != nil {
			var ce http2.ConnectionError
			if errors.As(err, &ce) {
				return connError{http2.ErrCode(ce), "invalid setting"}
			}
			return connError{http2.ErrCodeProtocol, "invalid setting"}
		}
		switch s.ID {
		case http2.SettingHeaderTableSize:
			tableSize, haveTable = s.Val, true
		case http2.SettingInitialWindowSize:
			return c.setInitialWindow(int32(s.Val))
		case http2.SettingMaxFrameSize:
			c.peerMaxFrame.Store(s.Val)
		}
		// ENABLE_PUSH (we never push), MAX_CONCURRENT_STREAMS (limits
		// pushes), MAX_HEADER_LIST_SIZE (advisory) and unknown settings
		// are ignored.
		return nil
	})
	if err != nil {
		return err
	}
	c.wlockCtrl()
	if haveTable {
		// Applied under wmu: the next header block we encode starts with
		// the table size update.
		c.enc.SetMaxDynamicTableSizeLimit(tableSize)
	}
	c.frameHeader(http2.FrameSettings, http2.FlagSettingsAck, 0, 0)
	c.wunlock()
	return nil
}

// setInitialWindow applies a new SETTINGS_INITIAL_WINDOW_SIZE to every
// open stream's send window (RFC 9113 §6.9.2): windows may go negative.
func (c *conn) setInitialWindow(v int32) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	delta := int64(v) - int64(c.initWin)
	c.initWin = v
	for _, st := range c.streams {
		st.sendWin += delta
		if st.sendWin > maxWindow {
			return connError{http2.ErrCodeFlowControl, "window overflow"}
		}
	}
	c.flow.Broadcast()
	return nil
}

// onIdleTimer runs when the connection may have been idle for
// IdleTimeout.
func (c *conn) onIdleTimer() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.nActive > 0 || c.closed {
		return
	}
	if left := c.idleTimeout - time.Since(c.idleSince); left > 0 {
		c.idleTimer.Reset(left)
		return
	}
	c.draining = true
	c.wakeLocked(wakeIdle)
}

// wakeLocked makes the connection goroutine's read return, so it ends the
// connection gracefully.
func (c *conn) wakeLocked(why int) {
	if c.wake == wakeNone {
		c.wake = why
		_ = c.nc.SetReadDeadline(aLongTimeAgo)
	}
}

// startShutdown sends GOAWAY(NO_ERROR) naming the last stream accepted
// and has the connection close once its streams are done (Shutdown).
func (c *conn) startShutdown() {
	c.mu.Lock()
	if c.goAwaySent || c.closed {
		c.mu.Unlock()
		return
	}
	c.goAwaySent = true
	c.goAwayID = c.maxClientID
	c.draining = true
	id := c.goAwayID
	c.mu.Unlock()
	c.writeGoAway(id, http2.ErrCodeNo)
	c.mu.Lock()
	if c.nActive == 0 {
		c.wakeLocked(wakeDrained)
	}
	c.mu.Unlock()
}

// abort ends the connection at once: contexts cancelled with cause,
// writers failed, the socket closed without GOAWAY (Close, write errors).
func (c *conn) abort(cause error) {
	c.mu.Lock()
	c.closed = true
	c.flow.Broadcast()
	c.mu.Unlock()
	c.cancelConn(cause)
	c.rawClose()
}

// cancelConn cancels the connection's context with cause, and with it
// every stream's, and fires the watch slots of the streams still open
// (stream contexts are connctx.InitOwned: the connection fires them).
func (c *conn) cancelConn(cause error) {
	c.cctx.Cancel(cause)
	var buf [16]*connctx.Ctx
	ctxs := buf[:0]
	c.mu.Lock()
	follow := c.follow
	c.follow = nil
	for _, st := range c.streams {
		if st.ctx != nil {
			ctxs = append(ctxs, st.ctx)
		}
	}
	c.mu.Unlock()
	if follow != nil {
		follow() // the parent context no longer needs to reach c
	}
	for _, x := range ctxs {
		x.Fire()
	}
}

// rawClose closes the socket without a TLS close_notify.
func (c *conn) rawClose() {
	if c.tc != nil {
		_ = c.tc.NetConn().Close()
		return
	}
	_ = c.nc.Close()
}

// finish ends the connection (on its goroutine): GOAWAY when why calls
// for it, contexts cancelled, bodies failed, socket closed; it waits for
// the handlers and reports StateClosed.
func (c *conn) finish(why error) {
	var ce connError
	sendGoAway := false
	cause := ErrConnDone
	switch {
	case errors.As(why, &ce):
		sendGoAway = true
	case why == nil:
		sendGoAway, ce.code = true, http2.ErrCodeNo
	default:
		cause = why
	}
	c.mu.Lock()
	c.closed = true
	if c.idleTimer != nil {
		c.idleTimer.Stop()
	}
	lastID := c.maxClientID
	if c.goAwaySent {
		lastID = c.goAwayID // never raised (RFC 9113 §6.8)
	}
	bodies := make([]*reqBody, 0, len(c.streams))
	for _, st := range c.streams {
		if st.body != nil {
			bodies = append(bodies, st.body)
		}
	}
	c.flow.Broadcast()
	c.mu.Unlock()
	if sendGoAway {
		c.writeGoAway(lastID, ce.code)
	}
	c.cancelConn(cause)
	for _, b := range bodies {
		b.fail(ErrConnDone)
	}
	switch {
	case c.wfailed.Load() || cause == ErrServerClosed:
		c.rawClose()
	case sendGoAway:
		c.lingerClose()
	default:
		_ = c.nc.Close()
	}
	c.handlers.Wait()
	c.wmu.Lock()
	if c.bw != nil {
		putWriter(c.bw)
		c.bw = nil
	}
	c.wmu.Unlock()
	c.s.untrack(c)
	c.hookMu.Lock()
	c.hook(http.StateClosed)
	c.hookMu.Unlock()
}

// lingerClose half-closes, then reads and drops what the client still
// sends for a short while before closing.
func (c *conn) lingerClose() {
	if c.tc != nil {
		_ = c.tc.SetWriteDeadline(time.Now().Add(lingerTimeout))
		_ = c.tc.CloseWrite()
		if cw, ok := c.tc.NetConn().(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		}
	} else if cw, ok := c.nc.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	_ = c.nc.SetReadDeadline(time.Now().Add(lingerTimeout))
	bp := getChunk()
	for n := 0; n < lingerMax; {
		m, err := c.nc.Read(*bp)
		n += m
		if err != nil {
			break
		}
	}
	putChunk(bp)
	c.rawClose()
}
