package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mtlsgate/mtlsgate/internal/connctx"
)

// fastTransport is the upstream HTTP/1.1 client for requests without a body
// (the bulk of API traffic: GET, HEAD, DELETE, OPTIONS). It does on the
// calling goroutine what net/http.Transport spreads over three (caller,
// read loop, write loop): take an idle connection, write the request, read
// the response. That removes two goroutine hand-offs and their allocations
// per request. Everything else — request bodies, upgrades, CONNECT — goes to
// the standard Transport, which the fast path never second-guesses.
//
// Connections are kept LIFO (the warmest first), at most maxIdle of them;
// one that has been idle longer than idleTimeout is closed instead of used.
// A request that fails on a reused connection before any byte of the
// response arrived (the upstream closed it while idle) is retried once on a
// new connection when it is replayable, as net/http does.
type fastTransport struct {
	fallback          http.RoundTripper
	addr              string // host:port to dial
	tlsConfig         *tls.Config
	dialTimeout       time.Duration
	respHeaderTimeout time.Duration
	idleTimeout       time.Duration
	maxIdle           int
	slots             chan struct{} // nil: unlimited connections

	mu     sync.Mutex
	idle   []*fastConn
	closed bool
}

type fastConn struct {
	t      *fastTransport
	stop   func() bool     // disarms a watch armed with context.AfterFunc
	slot   connctx.Watcher // or the request context's watch slot
	abort  func()          // what watch runs: ends blocked I/O
	c      net.Conn
	held   *heldConn    // under c when c is TLS
	lr     *limitReader // bounds the response head; br reads through it
	br     *bufio.Reader
	bw     *bufio.Writer
	idleAt time.Time
	peek   *idlePeek // nil: cannot peek at the socket
	rdl    time.Time // the read deadline set on c (zero: none)
}

// bodyBuffered reports whether resp's whole body (none, or a known length)
// is already in br, so reading it cannot touch the connection.
func bodyBuffered(resp *http.Response, br *bufio.Reader) bool {
	if resp.Body == nil || resp.Body == http.NoBody {
		return true
	}
	return resp.ContentLength >= 0 && len(resp.TransferEncoding) == 0 && int64(br.Buffered()) >= resp.ContentLength
}

// errClosedIdle marks a reused connection that the upstream had closed.
var errClosedIdle = errors.New("proxy: upstream closed an idle connection")

func (t *fastTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !fastEligible(req) {
		return t.fallbackRoundTrip(req)
	}
	for attempt := 0; ; attempt++ {
		pc, reused, err := t.get(req.Context())
		if err != nil {
			return nil, err
		}
		resp, err := pc.roundTrip(req)
		if err == nil {
			return resp, nil
		}
		pc.close()
		if !reused {
			err = onNewConn(err, t.tlsConfig != nil)
		}
		if ctxErr := req.Context().Err(); ctxErr != nil {
			return nil, ctxErr
		}
		if reused && attempt == 0 && errors.Is(err, errClosedIdle) && replayable(req) {
			continue
		}
		return nil, err
	}
}

// fallbackRoundTrip sends req through net/http's Transport and, when a new
// TLS connection was dropped before any answer, marks the error so that
// Classify can say the upstream most likely refused the client certificate.
func (t *fastTransport) fallbackRoundTrip(req *http.Request) (*http.Response, error) {
	if t.tlsConfig == nil {
		return t.fallback.RoundTrip(req)
	}
	var reused atomic.Bool
	trace := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { reused.Store(i.Reused) }}
	resp, err := t.fallback.RoundTrip(req.WithContext(httptrace.WithClientTrace(req.Context(), trace)))
	if err != nil && !reused.Load() && req.Context().Err() == nil && droppedConn(err) {
		err = fmt.Errorf("%w: %w", ErrDroppedAfterHandshake, err)
	}
	return resp, err
}

// droppedConn reports whether err says the peer closed or reset the
// connection.
func droppedConn(err error) bool {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, net.ErrClosed) {
		return true
	}
	// net/http reports some of these only as text.
	msg := err.Error()
	return strings.Contains(msg, "EOF") || strings.Contains(msg, "broken pipe") ||
		strings.Contains(msg, "connection reset") || strings.Contains(msg, "use of closed network connection")
}

// fastEligible reports whether req can take the fast path: no body, no
// protocol upgrade.
func fastEligible(req *http.Request) bool {
	return (req.Body == nil || req.Body == http.NoBody) && req.ContentLength <= 0 &&
		req.Method != http.MethodConnect && len(req.TransferEncoding) == 0 &&
		req.Header.Get("Upgrade") == "" && req.URL.Scheme != ""
}

// replayable mirrors net/http: safe methods, or an idempotency key.
func replayable(req *http.Request) bool {
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	return req.Header.Get("Idempotency-Key") != "" || req.Header.Get("X-Idempotency-Key") != ""
}

// get returns an idle connection or dials a new one.
func (t *fastTransport) get(ctx context.Context) (*fastConn, bool, error) {
	now := time.Now()
	t.mu.Lock()
	for n := len(t.idle); n > 0; n = len(t.idle) {
		pc := t.idle[n-1]
		t.idle[n-1] = nil
		t.idle = t.idle[:n-1]
		if (t.idleTimeout > 0 && now.Sub(pc.idleAt) > t.idleTimeout) || !pc.idleConnUsable() {
			t.mu.Unlock()
			pc.close()
			t.mu.Lock()
			continue
		}
		t.mu.Unlock()
		return pc, true, nil
	}
	t.mu.Unlock()
	pc, err := t.dial(ctx)
	return pc, false, err
}

func (t *fastTransport) dial(ctx context.Context) (*fastConn, error) {
	if t.slots != nil {
		select {
		case t.slots <- struct{}{}:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	dctx, cancel := context.WithTimeout(ctx, t.dialTimeout)
	defer cancel()
	nd := &net.Dialer{KeepAlive: 30 * time.Second}
	raw, err := nd.DialContext(dctx, "tcp", t.addr)
	c, hc := raw, (*heldConn)(nil)
	if err == nil && t.tlsConfig != nil {
		hc = &heldConn{Conn: raw}
		tc := tls.Client(hc, t.clientConfig())
		if err = tc.HandshakeContext(dctx); err != nil {
			_ = raw.Close()
		}
		c = tc
	}
	if err != nil {
		if t.slots != nil {
			<-t.slots
		}
		return nil, err
	}
	lr := &limitReader{r: c, n: unlimited}
	return &fastConn{t: t, c: c, held: hc, lr: lr, br: bufio.NewReaderSize(lr, 16<<10), bw: bufio.NewWriterSize(c, 8<<10),
		peek: newIdlePeek(raw)}, nil
}

// clientConfig is the TLS configuration for a new connection: tlsConfig
// with the dialled host as server name when it names none, as tls.Dialer
// does.
func (t *fastTransport) clientConfig() *tls.Config {
	if t.tlsConfig.ServerName != "" {
		return t.tlsConfig
	}
	host, _, err := net.SplitHostPort(t.addr)
	if err != nil {
		host = t.addr
	}
	c := t.tlsConfig.Clone()
	c.ServerName = host
	return c
}

// heldConn is the TCP connection under an upstream TLS connection. While
// hold is set, Read fails at once with errHeld (a temporary net.Error,
// which crypto/tls does not keep as the connection's error) without
// touching the socket, so a read through the TLS layer returns only what
// that layer already holds. Only the goroutine using the connection sets
// hold.
type heldConn struct {
	net.Conn
	hold bool
}

func (h *heldConn) Read(p []byte) (int, error) {
	if h.hold {
		return 0, errHeld
	}
	return h.Conn.Read(p)
}

// heldError is errHeld's type.
type heldError struct{}

func (heldError) Error() string   { return "proxy: connection read held" }
func (heldError) Timeout() bool   { return true }
func (heldError) Temporary() bool { return true }

var errHeld net.Error = heldError{}

// maxResponseHeaderBytes bounds an upstream's response head, as
// net/http.Transport does by default.
const (
	maxResponseHeaderBytes = 10 << 20
	unlimited              = int64(1) << 62
)

// limitReader returns EOF after n bytes; the connection sets n while it
// reads a response head and lifts it for the body.
type limitReader struct {
	r io.Reader
	n int64
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	return n, err
}

// put returns a connection to the idle pool, or closes it.
func (t *fastTransport) put(pc *fastConn) {
	pc.idleAt = time.Now()
	t.mu.Lock()
	if !t.closed && len(t.idle) < t.maxIdle {
		t.idle = append(t.idle, pc)
		t.mu.Unlock()
		return
	}
	t.mu.Unlock()
	pc.close()
}

// reap closes connections idle for longer than idleTimeout. Connections
// are appended in time order, so the expired ones are at the bottom.
func (t *fastTransport) reap(now time.Time) {
	t.mu.Lock()
	n := 0
	for n < len(t.idle) && now.Sub(t.idle[n].idleAt) > t.idleTimeout {
		n++
	}
	expired := make([]*fastConn, n)
	copy(expired, t.idle[:n])
	t.idle = append(t.idle[:0], t.idle[n:]...)
	t.mu.Unlock()
	for _, pc := range expired {
		pc.close()
	}
}

// reaper runs reap until stop is closed.
func (t *fastTransport) reaper(stop <-chan struct{}) {
	tick := time.NewTicker(max(t.idleTimeout/2, time.Second))
	defer tick.Stop()
	for {
		select {
		case now := <-tick.C:
			t.reap(now)
		case <-stop:
			return
		}
	}
}

// CloseIdleConnections retires the transport: idle connections (fast and
// fallback) are closed now, and connections still serving requests are
// closed when those finish instead of returning to the pool.
func (t *fastTransport) CloseIdleConnections() {
	t.mu.Lock()
	idle := t.idle
	t.idle = nil
	t.closed = true
	t.mu.Unlock()
	for _, pc := range idle {
		pc.close()
	}
	if ci, ok := t.fallback.(interface{ CloseIdleConnections() }); ok {
		ci.CloseIdleConnections()
	}
}

// watch ends any blocked read or write on the connection when ctx is done
// (client gone), from the request write to the end of the response body,
// so a stalled upstream can never hold the handler. unwatch must be called
// before the connection is pooled.
func (pc *fastConn) watch(ctx context.Context) {
	if pc.abort == nil {
		pc.abort = func() { _ = pc.c.SetDeadline(aLongTimeAgo) } // once per connection
	}
	// The h1 and h2 servers' request contexts have a watch slot that
	// costs no allocation (connctx); anything else gets an AfterFunc.
	if w, ok := ctx.(connctx.Watcher); ok && w.Watch(pc.abort) {
		pc.slot = w
		return
	}
	pc.stop = context.AfterFunc(ctx, pc.abort)
}

// unwatch disarms watch; false means cancellation already moved the
// deadlines, so the connection must not be reused.
func (pc *fastConn) unwatch() bool {
	if w := pc.slot; w != nil {
		pc.slot = nil
		return w.Unwatch()
	}
	if pc.stop == nil {
		return true
	}
	ok := pc.stop()
	pc.stop = nil
	return ok
}

func (pc *fastConn) close() {
	pc.unwatch()
	_ = pc.c.Close()
	if pc.t.slots != nil {
		<-pc.t.slots
	}
}

var aLongTimeAgo = time.Unix(1, 0)

// roundTrip writes req and reads the response head. The body, if any, is
// returned wrapped so that the connection goes back to the pool once it has
// been read to the end.
func (pc *fastConn) roundTrip(req *http.Request) (*http.Response, error) {
	pc.watch(req.Context())
	if err := req.Write(pc.bw); err != nil {
		return nil, err
	}
	return pc.flushAndRead(req, nil)
}

// flushAndRead sends what was written to the connection's buffer and reads
// the response to req (req.Method decides whether a body follows). 1xx
// informational responses are passed on to info when it is not nil (a
// proxy must forward them, RFC 9110 §15.2), else skipped. The response head
// may be at most maxResponseHeaderBytes.
func (pc *fastConn) flushAndRead(req *http.Request, info http.ResponseWriter) (*http.Response, error) {
	if err := pc.bw.Flush(); err != nil {
		return nil, errClosedIdleOr(err)
	}
	// The response-header timeout moves the read deadline; cancellation
	// (see watch) moves it into the past. Checking the context after every
	// deadline change keeps a cancellation from being overwritten.
	if d := pc.t.respHeaderTimeout; d > 0 {
		// A deadline set a moment ago is kept (it ends at most d/16, and
		// at most a second, early): on a busy connection that saves
		// moving a runtime timer twice per request.
		if now := time.Now(); pc.rdl.IsZero() || pc.rdl.Before(now.Add(d-min(d/16, time.Second))) {
			pc.rdl = now.Add(d)
			_ = pc.c.SetReadDeadline(pc.rdl)
		}
	} else if !pc.rdl.IsZero() {
		pc.rdl = time.Time{}
		_ = pc.c.SetReadDeadline(pc.rdl)
	}
	if err := req.Context().Err(); err != nil {
		return nil, err
	}
	if _, err := pc.br.Peek(1); err != nil {
		return nil, errClosedIdleOr(err)
	}
	var resp *http.Response
	pc.lr.n = maxResponseHeaderBytes
	for {
		sr, n, simple := readSimpleResponse(pc.br, req)
		if simple {
			resp = &sr.resp
			if n > 0 {
				b := &sr.body
				b.pc = pc
				b.lb = lengthBody{br: pc.br, n: n}
				b.rc = &b.lb
				resp.Body = b
			}
			break
		}
		r, err := http.ReadResponse(pc.br, req)
		if err != nil {
			if pc.lr.n <= 0 {
				return nil, fmt.Errorf("proxy: upstream response head is larger than %d bytes", maxResponseHeaderBytes)
			}
			return nil, err
		}
		if r.StatusCode >= 200 || r.StatusCode == http.StatusSwitchingProtocols {
			resp = r
			break
		}
		// 1xx informational (103 Early Hints, …).
		if info != nil && r.StatusCode != http.StatusContinue {
			h := info.Header()
			for k, vv := range r.Header {
				h[k] = vv
			}
			info.WriteHeader(r.StatusCode)
			for k := range r.Header { // WriteHeader keeps headers after a 1xx
				delete(h, k)
			}
		}
	}
	pc.lr.n = unlimited
	if !pc.rdl.IsZero() && !bodyBuffered(resp, pc.br) {
		// The body is read without a deadline; one that is already in
		// the buffer needs none, and the deadline stays for the next
		// request (the idle peek does not look at it).
		pc.rdl = time.Time{}
		_ = pc.c.SetReadDeadline(pc.rdl)
	}
	if err := req.Context().Err(); err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusSwitchingProtocols {
		return nil, fmt.Errorf("proxy: upstream switched protocols on a request that did not ask to")
	}
	if resp.Body == http.NoBody || resp.Body == nil {
		resp.Body = http.NoBody
		pc.release(resp.Close || !pc.unwatch())
		return resp, nil
	}
	if _, ok := resp.Body.(*fastBody); !ok {
		resp.Body = &fastBody{rc: resp.Body, pc: pc, closeConn: resp.Close}
	}
	return resp, nil
}

func (pc *fastConn) release(closeConn bool) {
	// Bytes beyond the response (an upstream that sent more than its
	// Content-Length) would become the next client's response: never pool
	// such a connection.
	if closeConn || pc.br.Buffered() > 0 || pc.tlsHoldsMore() {
		pc.close()
		return
	}
	pc.t.put(pc)
}

// tlsHoldsMore reports whether the TLS layer already holds bytes beyond
// the response: a whole record that came in the same socket read as the
// response's last one sits in crypto/tls's buffer, where neither
// br.Buffered nor the idle peek at the socket can see it. A read while the
// socket is held returns such bytes (or the EOF of a close_notify), and
// otherwise fails with errHeld; neither touches the socket or the
// deadlines.
func (pc *fastConn) tlsHoldsMore() bool {
	if pc.held == nil {
		return false
	}
	pc.held.hold = true
	_, err := pc.br.Peek(1)
	pc.held.hold = false
	return err != errHeld
}

// errClosedIdleOr classifies an error seen before any response byte: an EOF
// or reset there means the upstream closed the connection while it was idle
// (on a reused connection) or right after the handshake (on a new one).
func errClosedIdleOr(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || isConnReset(err) {
		return fmt.Errorf("%w: %w", errClosedIdle, err)
	}
	return err
}

// ErrDroppedAfterHandshake marks a new TLS connection that the upstream
// closed before answering the first request. With TLS 1.3 a server checks
// the client certificate after the client already considers the handshake
// done, so a refused certificate shows up this way (often as a broken pipe
// or reset that hides the alert).
var ErrDroppedAfterHandshake = errors.New("upstream closed a new TLS connection before answering")

// onNewConn rewrites errClosedIdle on a connection that was not reused.
func onNewConn(err error, tlsConn bool) error {
	if tlsConn && errors.Is(err, errClosedIdle) {
		return fmt.Errorf("%w: %w", ErrDroppedAfterHandshake, err)
	}
	return err
}

func isConnReset(err error) bool {
	var ne *net.OpError
	return errors.As(err, &ne) && !ne.Timeout()
}

// fastBody returns its connection to the pool after the body was read to
// EOF and closed; closed early, the connection is closed (draining an
// unknown amount of data would let an upstream hold the gateway).
type fastBody struct {
	rc        io.ReadCloser
	lb        lengthBody // rc for a response read by readSimpleResponse
	pc        *fastConn
	closeConn bool
	eof       bool
	done      bool
}

func (b *fastBody) Read(p []byte) (int, error) {
	if b.done {
		return 0, errors.New("proxy: read after close")
	}
	n, err := b.rc.Read(p)
	if err == io.EOF {
		b.eof = true
	}
	return n, err
}

func (b *fastBody) Close() error {
	if b.done {
		return nil
	}
	b.done = true
	if b.eof && b.pc.unwatch() {
		b.pc.release(b.closeConn)
		return nil
	}
	b.pc.close()
	return nil
}
