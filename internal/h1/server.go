package h1

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
)

// Server serves HTTP/1.1 and HTTP/1.0 on connections it is handed (see
// ServeConn). The zero value is usable; fields must not be changed once a
// connection is being served.
type Server struct {
	// Handler answers requests. Unlike net/http, nil does not mean
	// http.DefaultServeMux (anything registered there, such as
	// net/http/pprof, would be exposed): nil answers 404.
	Handler http.Handler

	// ReadHeaderTimeout bounds reading a request head, from its first
	// byte. For the first request of a connection it also bounds the wait
	// for that byte. Zero means ReadTimeout.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading a whole request (head and body) from its
	// first byte. Zero means no limit.
	ReadTimeout time.Duration
	// WriteTimeout bounds writing a response; it starts when the request
	// head has been read. Zero means no limit.
	WriteTimeout time.Duration
	// IdleTimeout bounds the wait for the next request on a keep-alive
	// connection. Zero means ReadTimeout.
	IdleTimeout time.Duration
	// BodyStallTimeout bounds each read of a request body: a client that
	// sends nothing of its body for this long fails the read (a timeout
	// error for the handler) and loses the connection. Unlike
	// ReadTimeout it allows a long upload that keeps moving. Zero means
	// no limit.
	BodyStallTimeout time.Duration
	// SendStallTimeout bounds each write of a response: a client that
	// takes nothing of it for this long (its receive window full) fails
	// the write and loses the connection. Unlike WriteTimeout it allows a
	// long download or stream that keeps moving. Zero means no limit.
	SendStallTimeout time.Duration
	// MaxHeaderBytes bounds a request head (request line and header
	// section) and, separately, a chunked body's trailer section. Zero
	// means 1 MiB, like net/http. Beyond it the answer is 431.
	MaxHeaderBytes int

	// DisconnectCheckDelay is how long a handler of a request without a
	// body may run before the server starts watching the connection for
	// the client going away (a background read that cancels the request
	// context on EOF or a reset); the watch starts between one and two
	// delays after the handler. Zero means 50ms; negative disables the
	// watch. See the package documentation.
	DisconnectCheckDelay time.Duration

	// IdleGrace is how long a keep-alive connection waits for its next
	// request on the goroutine that served the previous one. After that
	// the wait continues on a new goroutine, whose stack is small, and the
	// old goroutine (its stack grown by handlers) ends: an idle
	// connection then costs ~2 KiB of stack instead of ~8 KiB or more.
	// Zero means 100ms; negative keeps every connection on the goroutine
	// that called ServeConn.
	IdleGrace time.Duration

	// ConnContext returns the base context of a connection's requests
	// (called once per connection, before anything is read). It must not
	// return nil.
	ConnContext func(ctx context.Context, c net.Conn) context.Context
	// ConnState is called like http.Server.ConnState: StateNew first,
	// StateActive when a request starts arriving, StateIdle after each
	// response, and finally exactly one of StateHijacked or StateClosed.
	ConnState func(net.Conn, http.ConnState)
	// ErrorLog receives handler panics and misuse reports; nil means the
	// log package's standard logger.
	ErrorLog *log.Logger

	mu         sync.Mutex
	conns      map[*conn]struct{}
	inShutdown atomic.Bool
	park       parker // idle connections past IdleGrace (Linux)
}

// ErrServerClosed is the cause of a connection context cancelled by Close.
var ErrServerClosed = http.ErrServerClosed

// ServeConn serves HTTP/1.1 and HTTP/1.0 requests on c until the client
// closes it, an error or timeout, or Shutdown/Close. c is typically a
// *tls.Conn whose handshake is complete (an unfinished handshake is run
// first, bounded by ReadHeaderTimeout); any other net.Conn is served as
// plain HTTP. A TLS connection that negotiated "h2" is refused (closed):
// HTTP/2 must be routed elsewhere. c is closed when the connection is
// done, unless a handler hijacked it, and the connection's context is
// cancelled then; ConnState reports StateClosed (or StateHijacked).
//
// Requests are served one after another on the calling goroutine. When
// the connection has been idle for IdleGrace, serving continues on a
// goroutine of its own and ServeConn returns (see IdleGrace); with a
// negative IdleGrace, ServeConn returns only when the connection is done.
// Call it on a fresh goroutine rather than on the one that ran the TLS
// handshake: the handshake leaves a large stack behind.
func (s *Server) ServeConn(c net.Conn) {
	cn := s.newConn(c)
	handedOff := false
	defer cn.done(&handedOff)
	if !s.track(cn) {
		cn.hook(http.StateNew)
		return
	}
	cn.hook(http.StateNew)
	handedOff = cn.serve()
}

// Shutdown stops serving gracefully: idle connections are closed at once,
// busy ones after their current response (which says Connection: close if
// it has not started yet), and connections handed to ServeConn from now on
// are closed without being served. It returns when every connection is
// done, or ctx's error when ctx ends first (the remaining connections keep
// going; call Close to end them). Hijacked connections are not tracked.
func (s *Server) Shutdown(ctx context.Context) error {
	s.inShutdown.Store(true)
	wait := time.Millisecond
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		if s.closeIdle() {
			s.park.close()
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

// Close closes every connection at once (without TLS close_notify) and
// cancels their contexts with ErrServerClosed; handlers still running see
// their writes fail. Later ServeConn calls close their connection at once.
func (s *Server) Close() error {
	s.inShutdown.Store(true)
	s.mu.Lock()
	for c := range s.conns {
		c.state.Store(csClosing)
		c.cctx.Cancel(ErrServerClosed)
		c.rawClose()
	}
	s.mu.Unlock()
	s.park.close() // parked connections resume, see csClosing and end
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
	c.tracked = true
	return true
}

func (s *Server) untrack(c *conn) {
	s.mu.Lock()
	if c.tracked {
		delete(s.conns, c)
		c.tracked = false
	}
	s.mu.Unlock()
}

// closeIdle wakes every connection waiting for a request so that it
// closes; it reports whether no connection is left.
func (s *Server) closeIdle() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		if c.state.CompareAndSwap(csIdle, csClosing) {
			// The connection's goroutine set its read deadline before it
			// marked itself idle, so this one wins and wakes it; a parked
			// connection has no goroutine: resume it to end.
			_ = c.nc.SetReadDeadline(aLongTimeAgo)
			if s.park.unpark(c) {
				go c.resume()
			}
		}
	}
	return len(s.conns) == 0
}

func (s *Server) maxHeaderBytes() int {
	if s.MaxHeaderBytes > 0 {
		return s.MaxHeaderBytes
	}
	return defaultMaxHeaderBytes
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

func (s *Server) disconnectDelay() time.Duration {
	if s.DisconnectCheckDelay == 0 {
		return 50 * time.Millisecond
	}
	return s.DisconnectCheckDelay
}

func (s *Server) idleGrace() time.Duration {
	if s.IdleGrace == 0 {
		return 100 * time.Millisecond
	}
	return s.IdleGrace
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

// Causes of a cancelled connection context (context.Cause).
var (
	// ErrClientGone: the client closed or reset the connection while a
	// handler was running.
	ErrClientGone = errors.New("h1: client closed the connection")
	// ErrConnDone: the connection is finished (ServeConn returned).
	ErrConnDone = errors.New("h1: connection closed")
)

// newConn sets a connection up: base context, TLS state, addresses.
func (s *Server) newConn(nc net.Conn) *conn {
	c := &conn{s: s, nc: nc, heapIdx: -1}
	ctx := context.Background()
	if s.ConnContext != nil {
		ctx = s.ConnContext(ctx, nc)
		if ctx == nil {
			panic("h1: ConnContext returned nil")
		}
	}
	c.cctx.Init(ctx, nc.LocalAddr())
	c.ctx = &c.cctx
	if tc, ok := nc.(*tls.Conn); ok {
		c.tc = tc
	}
	if ra := nc.RemoteAddr(); ra != nil {
		c.remoteAddr = ra.String()
	}
	c.resp.c = c
	return c
}
