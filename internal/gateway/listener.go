package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/mtlsgate/mtlsgate/internal/config"
	"github.com/mtlsgate/mtlsgate/internal/diagnose"
	"github.com/mtlsgate/mtlsgate/internal/h1"
	"github.com/mtlsgate/mtlsgate/internal/h2"
)

// tlsListener accepts TCP connections, runs each TLS handshake in its own
// goroutine with a deadline, explains and counts failures, and serves
// each completed connection on that goroutine: HTTP/2 (ALPN "h2") with
// internal/h2, anything else with internal/h1. Both get the connection
// with its handshake done, so r.TLS is filled from the start.
type tlsListener struct {
	name  string
	inner net.Listener
	g     *Gateway
	// h1 and h2 serve the connections. Set before start.
	h1    *h1.Server
	h2    *h2.Server
	done  chan struct{}
	slots chan struct{} // bounds open connections (max_connections)
	idle  chan net.Conn // workers waiting for a connection (see worker)
	once  sync.Once
	wg    sync.WaitGroup
}

func newTLSListener(g *Gateway, name string, inner net.Listener, maxConns int) *tlsListener {
	l := &tlsListener{
		name: name, inner: inner, g: g,
		done:  make(chan struct{}),
		slots: make(chan struct{}, maxConns),
		idle:  make(chan net.Conn),
	}
	return l
}

// start runs the accept loop.
func (l *tlsListener) start() {
	l.wg.Add(1)
	go l.acceptLoop()
}

func (l *tlsListener) acceptLoop() {
	defer l.wg.Done()
	var backoff time.Duration
	for {
		select {
		case l.slots <- struct{}{}:
		case <-l.done:
			return
		}
		c, err := l.inner.Accept()
		if err != nil {
			<-l.slots
			select {
			case <-l.done:
				return
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || !errors.Is(err, net.ErrClosed) {
				// Temporary (e.g. EMFILE): back off like net/http does.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				l.g.log.Warn("accept failed; retrying", "listener", l.name, "error", err, "retry_in", backoff)
				time.Sleep(backoff)
				continue
			}
			return
		}
		backoff = 0
		select {
		case l.idle <- c: // a worker whose stack has grown already
		default:
			go l.worker(c)
		}
	}
}

// workerIdle is how long a worker waits for another connection before it
// ends.
const workerIdle = time.Second

// worker runs handshakes and serves connections, one after another: the
// accept loop hands a new connection to a waiting worker, whose stack has
// already grown to what a handshake and the proxy path need (a fresh
// goroutine copies its stack several times on the way there). A worker
// without a connection for workerIdle ends.
func (l *tlsListener) worker(c net.Conn) {
	t := time.NewTimer(workerIdle)
	defer t.Stop()
	for {
		l.handshake(c)
		t.Reset(workerIdle)
		select {
		case c = <-l.idle:
		case <-t.C:
			return
		case <-l.done:
			return
		}
	}
}

// handshake runs one TLS handshake with the listener's current config.
func (l *tlsListener) handshake(c net.Conn) {
	st := l.g.state.Load()
	ls := st.listeners[l.name]
	if ls == nil {
		// The listener was removed by a reload that is closing it.
		_ = c.Close()
		<-l.slots
		return
	}
	if ls.plain {
		l.hand(c)
		return
	}
	tc := tls.Server(c, ls.tlsConfig)
	ctx, cancel := context.WithTimeout(context.Background(), ls.limits.HandshakeTimeout.D())
	err := tc.HandshakeContext(ctx)
	cancel()
	if err != nil {
		l.g.handshakeFailed(ls, c.RemoteAddr(), err)
		_ = c.Close()
		<-l.slots
		return
	}
	l.hand(tc)
}

// hand serves a ready connection on this goroutine: HTTP/2 with h2,
// anything else with h1. Its stack, grown by the handshake, serves the
// first requests without growing again (a fresh goroutine would copy its
// stack up to the proxy path's size for every connection); an HTTP/1.x
// connection idle for IdleGrace moves to a goroutine with a small stack.
func (l *tlsListener) hand(c net.Conn) {
	if tc, ok := c.(*tls.Conn); ok && tc.ConnectionState().NegotiatedProtocol == "h2" {
		l.h2.ServeConn(c)
		return
	}
	l.h1.ServeConn(c)
}

// Close stops accepting; handshakes in progress are abandoned.
func (l *tlsListener) Close() error {
	var err error
	l.once.Do(func() {
		close(l.done)
		err = l.inner.Close()
	})
	return err
}

// Addr returns the listening address.
func (l *tlsListener) Addr() net.Addr { return l.inner.Addr() }

// release frees a connection slot; called when a server closes a connection.
func (l *tlsListener) release() { <-l.slots }

// handshakeFailed explains, logs and counts a failed handshake.
func (g *Gateway) handshakeFailed(ls *listenerState, remote net.Addr, err error) {
	f := diagnose.Handshake(err, ls.diag, g.now())
	g.metrics.HandshakeFailures.WithLabelValues(ls.name, f.Code).Inc()
	level := slog.LevelWarn
	if f.Code == diagnose.CodeClosed || f.Code == diagnose.CodeTimeout {
		level = slog.LevelInfo // scanners and health checks; not actionable per se
	}
	attrs := []slog.Attr{
		slog.String("listener", ls.name), slog.String("remote", remote.String()),
		slog.String("reason_code", f.Code), slog.String("reason", f.Reason),
	}
	if f.Client != nil {
		attrs = append(attrs, slog.Group("client",
			slog.String("subject", f.Client.Subject.String()),
			slog.String("issuer", f.Client.Issuer.String()),
			slog.String("serial", f.Client.SerialNumber.Text(16)),
			slog.Time("not_after", f.Client.NotAfter.UTC()),
		))
	}
	g.log.LogAttrs(context.Background(), level, "tls handshake failed", attrs...)
}

// running is one serving listener: its socket, TLS accept loop and server.
type running struct {
	name    string
	address string
	limits  config.Limits
	tl      *tlsListener
	h1      *h1.Server // HTTP/1.x
	h2      *h2.Server // HTTP/2
}
