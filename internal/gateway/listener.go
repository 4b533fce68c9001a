package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/mtlsgate/mtlsgate/internal/config"
	"github.com/mtlsgate/mtlsgate/internal/diagnose"
	"github.com/mtlsgate/mtlsgate/internal/h1"
)

// tlsListener accepts TCP connections, runs each TLS handshake in its own
// goroutine with a deadline, explains and counts failures, and hands
// completed connections to the HTTP/1.x server (h1) or, for HTTP/2, to
// net/http through Accept. Because the handshake is finished before
// net/http sees the connection, net/http's own HandshakeContext call is a
// no-op and r.TLS is filled as usual.
type tlsListener struct {
	name  string
	inner net.Listener
	g     *Gateway
	// h1 serves every connection that did not negotiate h2 (nil: all go
	// to net/http). Set before start.
	h1    *h1.Server
	ready chan net.Conn
	done  chan struct{}
	slots chan struct{} // bounds open connections (max_connections)
	once  sync.Once
	wg    sync.WaitGroup
}

func newTLSListener(g *Gateway, name string, inner net.Listener, maxConns int) *tlsListener {
	l := &tlsListener{
		name: name, inner: inner, g: g,
		ready: make(chan net.Conn),
		done:  make(chan struct{}),
		slots: make(chan struct{}, maxConns),
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
		go l.handshake(c)
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

// hand serves a ready connection: HTTP/2 through net/http's Accept,
// anything else with the h1 server on this goroutine. Its stack, grown by
// the handshake, serves the first requests without growing again (a fresh
// goroutine would copy its stack up to the proxy path's size for every
// connection); once the connection idles for IdleGrace, h1 moves the wait
// to a goroutine with a small stack.
func (l *tlsListener) hand(c net.Conn) {
	if l.h1 != nil {
		if tc, ok := c.(*tls.Conn); !ok || tc.ConnectionState().NegotiatedProtocol != "h2" {
			l.h1.ServeConn(c)
			return
		}
	}
	select {
	case l.ready <- c:
	case <-l.done:
		_ = c.Close()
		<-l.slots
	}
}

// Accept returns the next connection whose handshake succeeded.
func (l *tlsListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ready:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
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

// release frees a connection slot; called when net/http closes a connection.
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
	srv     *http.Server // HTTP/2
	h1      *h1.Server   // HTTP/1.x
	errc    chan error
}
