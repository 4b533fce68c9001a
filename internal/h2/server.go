package h2

import (
	"context"
	"crypto/tls"
	"errors"
	"log"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2"
)

// Server serves HTTP/2 on connections it is handed (see ServeConn). The
// zero value is usable; fields must not be changed once a connection is
// being served. The fields mean what they mean for h1.Server wherever
// that makes sense for HTTP/2, so the gateway builds both from the same
// settings.
type Server struct {
	// Handler answers requests. Unlike net/http, nil does not mean
	// http.DefaultServeMux (anything registered there, such as
	// net/http/pprof, would be exposed): nil answers 404.
	Handler http.Handler

	// ReadHeaderTimeout bounds the start of a connection: the client
	// preface and the client's first SETTINGS frame must arrive within it
	// (as for h1's first request head). Zero means ReadTimeout; both zero
	// means no limit. Later header blocks are bounded by their size (see
	// MaxHeaderBytes), not by time.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading one request body: from the request's
	// HEADERS frame, Request.Body.Read fails with os.ErrDeadlineExceeded
	// once it has passed (the handler decides what to do; returning resets
	// the stream if the client is still sending). Zero means no limit.
	// http.ResponseController.SetReadDeadline replaces the deadline.
	ReadTimeout time.Duration
	// WriteTimeout bounds writing one response: from the request's HEADERS
	// frame, writes (and waits for flow-control window) fail with
	// os.ErrDeadlineExceeded once it has passed, and the stream is reset
	// with INTERNAL_ERROR. A socket write that is still blocked at the
	// deadline fails too, and since the connection's byte stream is then
	// unusable, the whole connection is closed. Zero means no limit.
	// http.ResponseController.SetWriteDeadline replaces the deadline.
	WriteTimeout time.Duration
	// BodyStallTimeout bounds each wait of Request.Body.Read for DATA: a
	// client that sends nothing of a body for this long fails the read
	// with os.ErrDeadlineExceeded. Unlike ReadTimeout it allows a long
	// upload that keeps moving. Zero means no limit.
	BodyStallTimeout time.Duration
	// SendStallTimeout bounds each wait of a response write, for
	// flow-control window (the stream is reset, as for WriteTimeout) or
	// for the socket (the connection is closed): a client that takes
	// nothing for this long cannot hold the stream forever. Unlike
	// WriteTimeout it allows a long download or stream that keeps moving.
	// Zero means no limit.
	SendStallTimeout time.Duration
	// IdleTimeout is how long a connection may have no open stream (and
	// no handler running) before it is closed with GOAWAY(NO_ERROR). It
	// starts after the client's SETTINGS. Zero means ReadTimeout; both
	// zero means no limit.
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds a request's header list, counted as HPACK
	// does (RFC 7541 §4.1: name + value + 32 per field) and advertised as
	// SETTINGS_MAX_HEADER_LIST_SIZE; it also bounds a trailer section.
	// Zero means 1 MiB, like h1 and net/http. Beyond it (or beyond 512
	// fields) the answer is 431 without calling the handler.
	MaxHeaderBytes int
	// MaxConcurrentStreams bounds the streams of a connection that are
	// open or whose handler is still running (a stream reset by the client
	// counts until its handler returns). It is advertised as
	// SETTINGS_MAX_CONCURRENT_STREAMS; excess streams are refused with
	// RST_STREAM(REFUSED_STREAM). Zero means 250, like net/http.
	MaxConcurrentStreams uint32

	// ConnContext returns the base context of a connection's requests
	// (called once per connection, before anything is read). It must not
	// return nil.
	ConnContext func(ctx context.Context, c net.Conn) context.Context
	// ConnState is called like http.Server.ConnState: StateNew first,
	// StateActive when the number of streams (open or with a handler
	// running) goes from 0 to 1, StateIdle when it goes back to 0, and
	// finally StateClosed exactly once. Calls for one connection never
	// overlap and come in order.
	ConnState func(net.Conn, http.ConnState)
	// ErrorLog receives handler panics and misuse reports; nil means the
	// log package's standard logger.
	ErrorLog *log.Logger

	mu         sync.Mutex
	conns      map[*conn]struct{}
	inShutdown atomic.Bool
}

const (
	defaultMaxHeaderBytes = 1 << 20
	defaultMaxStreams     = 250
	// maxHeaderFields bounds the fields of a header list (as h1 does).
	maxHeaderFields = 512
)

// ErrServerClosed is the cause of a connection context cancelled by Close.
var ErrServerClosed = http.ErrServerClosed

// Causes of cancelled contexts (context.Cause) and errors seen by
// handlers.
var (
	// ErrConnDone: the connection is finished.
	ErrConnDone = errors.New("h2: connection closed")
	// ErrClientGone: the client closed the connection, or it failed.
	ErrClientGone = errors.New("h2: client closed the connection")
	// ErrStreamReset: the stream was reset (by the client, or by the
	// server after a protocol error or timeout); writes fail with it.
	ErrStreamReset = errors.New("h2: stream reset")
	// ErrHandlerDone: the handler returned (the request context's cause
	// afterwards).
	ErrHandlerDone = errors.New("h2: handler returned")
)

// ServeConn serves HTTP/2 on c until the client closes it, a protocol
// error, a timeout, or Shutdown/Close, and returns when the connection is
// done and every handler it started has returned. c is normally a
// *tls.Conn that negotiated "h2" with ALPN; an unfinished handshake is
// run first (bounded by ReadHeaderTimeout), and a TLS connection that
// negotiated anything else is closed. Any other net.Conn is served as
// HTTP/2 with prior knowledge (the client starts with the preface). c is
// closed at the end and ConnState reports StateClosed.
//
// Frames are read and processed on the calling goroutine; each request's
// handler runs on a goroutine of its own. Call ServeConn on a fresh
// goroutine rather than on the one that ran the TLS handshake: the
// handshake leaves a large stack behind.
func (s *Server) ServeConn(nc net.Conn) {
	c := s.newConn(nc)
	if !s.track(c) {
		c.hook(http.StateNew)
		c.cancelConn(ErrServerClosed)
		_ = nc.Close()
		c.hook(http.StateClosed)
		return
	}
	c.hook(http.StateNew)
	c.serve()
}

// Shutdown stops serving gracefully: every connection is sent
// GOAWAY(NO_ERROR) naming the last stream it accepted, its running
// streams are finished, and it is closed once none is left; connections
// handed to ServeConn from now on are closed at once. It returns when
// every connection is done, or ctx's error when ctx ends first (the
// remaining connections keep going; call Close to end them).
func (s *Server) Shutdown(ctx context.Context) error {
	s.inShutdown.Store(true)
	wait := time.Millisecond
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		if s.goAwayAll() {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-timer.C:
			wait = min(2*wait, 500*time.Millisecond)
			timer.Reset(wait)
		}
	}
}

// Close closes every connection at once (without GOAWAY or TLS
// close_notify) and cancels their contexts with ErrServerClosed; running
// handlers see their writes and body reads fail. Later ServeConn calls
// close their connection at once.
func (s *Server) Close() error {
	s.inShutdown.Store(true)
	s.mu.Lock()
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.abort(ErrServerClosed)
	}
	return nil
}

func (s *Server) shuttingDown() bool { return s.inShutdown.Load() }

// track registers a connection; false when shutting down.
func (s *Server) track(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shuttingDown() {
		return false
	}
	if s.conns == nil {
		s.conns = make(map[*conn]struct{})
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *Server) untrack(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// goAwayAll starts a graceful shutdown of every connection (once each);
// it reports whether no connection is left.
func (s *Server) goAwayAll() bool {
	s.mu.Lock()
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.startShutdown()
	}
	return len(conns) == 0
}

func (s *Server) maxHeaderBytes() int {
	if s.MaxHeaderBytes > 0 {
		return s.MaxHeaderBytes
	}
	return defaultMaxHeaderBytes
}

func (s *Server) maxStreams() uint32 {
	if s.MaxConcurrentStreams > 0 {
		return s.MaxConcurrentStreams
	}
	return defaultMaxStreams
}

func (s *Server) readHeaderTimeout() time.Duration {
	if s.ReadHeaderTimeout != 0 {
		return s.ReadHeaderTimeout
	}
	return s.ReadTimeout
}

func (s *Server) idleTimeout() time.Duration {
	if s.IdleTimeout != 0 {
		return s.IdleTimeout
	}
	return s.ReadTimeout
}

func (s *Server) handler() http.Handler {
	if s.Handler == nil {
		return http.NotFoundHandler()
	}
	return s.Handler
}

func (s *Server) logf(format string, args ...any) {
	if s.ErrorLog != nil {
		s.ErrorLog.Printf(format, args...)
		return
	}
	log.Printf(format, args...)
}

var aLongTimeAgo = time.Unix(1, 0)

// newConn sets a connection up: base context, TLS state, addresses,
// framer and HPACK state.
func (s *Server) newConn(nc net.Conn) *conn {
	c := &conn{s: s, nc: nc, workers: make(chan *stream)}
	ctx := context.Background()
	if s.ConnContext != nil {
		ctx = s.ConnContext(ctx, nc)
		if ctx == nil {
			panic("h2: ConnContext returned nil")
		}
	}
	// The connection fires its streams' watch slots when it ends
	// (cancelConn), also when it ends because ConnContext's context did.
	c.cctx.InitOwned(ctx, nc.LocalAddr())
	c.ctx = &c.cctx
	if ctx.Done() != nil {
		stop := context.AfterFunc(ctx, func() { c.cancelConn(context.Cause(ctx)) })
		c.mu.Lock()
		c.follow = stop
		c.mu.Unlock()
	}
	if tc, ok := nc.(*tls.Conn); ok {
		c.tc = tc
	}
	if ra := nc.RemoteAddr(); ra != nil {
		c.remoteAddr = ra.String()
	}
	c.maxHeaderBytes = s.maxHeaderBytes()
	c.maxStreams = int(s.maxStreams())
	c.fr = http2.NewFramer(nil, nc)
	c.fr.SetMaxReadFrameSize(maxReadFrameSize)
	c.flow.L = &c.mu
	c.streams = make(map[uint32]*stream)
	c.sendWin = initialWindow
	c.initWin = initialWindow
	c.peerMaxFrame.Store(minMaxFrameSize)
	c.recvWin = initialWindow
	c.hb.c = c
	return c
}
