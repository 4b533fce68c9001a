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
	"sync"
	"time"
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
	c      net.Conn
	br     *bufio.Reader
	bw     *bufio.Writer
	idleAt time.Time
}

// errClosedIdle marks a reused connection that the upstream had closed.
var errClosedIdle = errors.New("proxy: upstream closed an idle connection")

func (t *fastTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !fastEligible(req) {
		return t.fallback.RoundTrip(req)
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
		if ctxErr := req.Context().Err(); ctxErr != nil {
			return nil, ctxErr
		}
		if reused && attempt == 0 && errors.Is(err, errClosedIdle) && replayable(req) {
			continue
		}
		return nil, err
	}
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
		if t.idleTimeout > 0 && now.Sub(pc.idleAt) > t.idleTimeout {
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
	var (
		c   net.Conn
		err error
	)
	if t.tlsConfig != nil {
		c, err = (&tls.Dialer{NetDialer: nd, Config: t.tlsConfig}).DialContext(dctx, "tcp", t.addr)
	} else {
		c, err = nd.DialContext(dctx, "tcp", t.addr)
	}
	if err != nil {
		if t.slots != nil {
			<-t.slots
		}
		return nil, err
	}
	return &fastConn{t: t, c: c, br: bufio.NewReaderSize(c, 16<<10), bw: bufio.NewWriterSize(c, 8<<10)}, nil
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

func (pc *fastConn) close() {
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
	if err := req.Write(pc.bw); err != nil {
		return nil, err
	}
	return pc.flushAndRead(req)
}

// flushAndRead sends what was written to the connection's buffer and reads
// the response to req (req.Method decides whether a body follows).
func (pc *fastConn) flushAndRead(req *http.Request) (*http.Response, error) {
	if err := pc.bw.Flush(); err != nil {
		return nil, errClosedIdleOr(err)
	}
	// Cancellation and the response-header timeout both end a blocked read
	// by moving the deadline.
	stop := context.AfterFunc(req.Context(), func() { _ = pc.c.SetReadDeadline(aLongTimeAgo) })
	defer stop()
	if d := pc.t.respHeaderTimeout; d > 0 {
		_ = pc.c.SetReadDeadline(time.Now().Add(d))
	}
	if _, err := pc.br.Peek(1); err != nil {
		return nil, errClosedIdleOr(err)
	}
	var resp *http.Response
	for {
		r, err := http.ReadResponse(pc.br, req)
		if err != nil {
			return nil, err
		}
		if r.StatusCode >= 200 || r.StatusCode == http.StatusSwitchingProtocols {
			resp = r
			break
		}
		// 1xx informational (103 Early Hints, …): skip to the final answer.
		_ = r.Body.Close()
	}
	if !stop() {
		_ = resp.Body.Close()
		return nil, req.Context().Err()
	}
	_ = pc.c.SetReadDeadline(time.Time{})
	if resp.StatusCode == http.StatusSwitchingProtocols {
		return nil, fmt.Errorf("proxy: upstream switched protocols on a request that did not ask to")
	}
	if resp.Body == http.NoBody || resp.Body == nil {
		resp.Body = http.NoBody
		pc.release(resp.Close)
		return resp, nil
	}
	resp.Body = &fastBody{rc: resp.Body, pc: pc, closeConn: resp.Close}
	return resp, nil
}

func (pc *fastConn) release(closeConn bool) {
	if closeConn {
		pc.close()
		return
	}
	pc.t.put(pc)
}

// errClosedIdleOr classifies an error seen before any response byte: an EOF
// or reset there means the upstream closed the connection while it was idle.
func errClosedIdleOr(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || isConnReset(err) {
		return fmt.Errorf("%w: %v", errClosedIdle, err)
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
	if b.eof {
		b.pc.release(b.closeConn)
		return nil
	}
	b.pc.close()
	return nil
}
