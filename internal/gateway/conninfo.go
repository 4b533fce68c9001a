package gateway

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/mtlsgate/mtlsgate/internal/identity"
	"github.com/mtlsgate/mtlsgate/internal/route"
)

// connInfo is what the gateway knows about one client connection. It is
// built once, when net/http starts serving the connection (after the
// handshake), and read by every request on it (concurrently on HTTP/2).
type connInfo struct {
	listener string
	// sni is the normalised server name the client asked for ("" if none).
	sni string
	// by is the gateway's own URI SAN on this listener (XFCC "By").
	by string
	// peer is the certificate chain the client sent (nil: none).
	peer []*x509.Certificate
	// auth is the identity with the verifier that vouched for it; see
	// identity.
	auth atomic.Pointer[connAuth]
	// conn is the client connection, closed when its certificate is
	// revoked while it is open.
	conn net.Conn
	// active counts requests in flight (an upgraded tunnel stays in flight
	// until it ends); hijacked is set once net/http handed the connection
	// to a handler (upgrades).
	active   atomic.Int32
	hijacked atomic.Bool
}

// connAuth pairs an identity (nil: anonymous) with the listener verifier
// (one per published state) that verified it, and the revocation
// generation it was last checked at.
type connAuth struct {
	v  *chainVerifier
	id *identity.Identity
	// gen is the verifier's revocation generation at the last check;
	// revoked is non-nil when the certificate has been revoked since.
	gen     uint64
	revoked error
	// failOpen is the code of a fail_open admission ("" when the
	// revocation status was known).
	failOpen string
	// bootstrap is the verified chain of a certificate the listener
	// admitted only because it chains to est.bootstrap_ca (id is nil
	// then): see bootstrapChain.
	bootstrap []*x509.Certificate
}

type connKey struct{}

// connSet maps open client connections to their connInfo. A plain map
// under a mutex: a sync.Map entry cost ~150 bytes per connection, this
// ~40, and connections come and go at handshake rate, not request rate.
// A Go map never shrinks, so after a burst the set is rebuilt once it has
// fallen to a quarter of its peak.
type connSet struct {
	mu   sync.Mutex
	m    map[net.Conn]*connInfo
	peak int // most entries since the map was made
}

func (s *connSet) store(c net.Conn, ci *connInfo) {
	s.mu.Lock()
	if s.m == nil {
		s.m = make(map[net.Conn]*connInfo)
	}
	s.m[c] = ci
	s.peak = max(s.peak, len(s.m))
	s.mu.Unlock()
}

func (s *connSet) load(c net.Conn) *connInfo {
	s.mu.Lock()
	ci := s.m[c]
	s.mu.Unlock()
	return ci
}

func (s *connSet) delete(c net.Conn) {
	s.mu.Lock()
	delete(s.m, c)
	if s.peak >= 1024 && len(s.m) <= s.peak/4 {
		m := make(map[net.Conn]*connInfo, len(s.m))
		for k, v := range s.m {
			m[k] = v
		}
		s.m, s.peak = m, len(m)
	}
	s.mu.Unlock()
}

// snapshot returns the connections' infos (for a revocation sweep,
// which must not hold the lock while it verifies chains).
func (s *connSet) snapshot() []*connInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*connInfo, 0, len(s.m))
	for _, ci := range s.m {
		out = append(out, ci)
	}
	return out
}

// connContext verifies and parses the connection's identity once (see
// connInfo).
func (g *Gateway) connContext(listener string) func(context.Context, net.Conn) context.Context {
	return func(ctx context.Context, c net.Conn) context.Context {
		ci := &connInfo{listener: listener, conn: c}
		if tc, ok := c.(*tls.Conn); ok {
			cs := tc.ConnectionState()
			ci.sni = route.NormalizeHost(cs.ServerName)
			ci.peer = cs.PeerCertificates
			if len(ci.peer) > 0 {
				g.conns.store(c, ci)
			}
			st := g.state.Load()
			if id := g.identity(st, ci); id != nil {
				g.metrics.ClientCertExpiry.Seen(id.FingerprintSHA256, id.Subject, id.SerialHex, id.NotAfter)
			}
			resumed := "false"
			if cs.DidResume {
				resumed = "true"
			}
			g.metrics.Handshakes.WithLabelValues(listener, tls.VersionName(cs.Version), resumed).Inc()
			if ls := st.listeners[listener]; ls != nil {
				ci.by = ls.by
			}
		}
		return context.WithValue(ctx, connKey{}, ci)
	}
}

// identity returns the connection's verified identity under state st, or
// nil (anonymous). The client's chain was verified during the handshake;
// it is verified again (from the verifier's cache) whenever the listener's
// trust has been reloaded since, so a reload that removes a CA takes effect
// on connections that are already open at their next request, not only on
// new ones. The common case is one pointer comparison.
//
// Revocation works the same way: when the revocation data changed since the
// connection was last checked (one counter comparison), the certificate is
// checked again, so a certificate revoked while its connection is open is
// refused at the next request.
//
// A certificate admitted only as an EST bootstrap certificate is no
// identity: identity is nil for it, so every route answers it exactly as
// a connection without a certificate.
func (g *Gateway) identity(st *state, ci *connInfo) *identity.Identity {
	a := g.auth(st, ci)
	if a.revoked != nil {
		return nil
	}
	return a.id
}

// auth returns the connection's current authentication (see identity).
func (g *Gateway) auth(st *state, ci *connInfo) *connAuth { return authOf(st, ci) }

func authOf(st *state, ci *connInfo) *connAuth {
	var v *chainVerifier
	if ls := st.listeners[ci.listener]; ls != nil {
		v = ls.verifier
	}
	gen := v.revocationGeneration()
	if a := ci.auth.Load(); a != nil && a.v == v && a.gen == gen {
		return a
	}
	a := &connAuth{v: v, gen: gen}
	if v != nil && len(ci.peer) > 0 {
		if e, err := v.verify(ci.peer); err == nil {
			a.id = e.id
			a.revoked, a.failOpen = v.revocationStatus(e.chain)
		} else if chain, err := v.verifyBootstrap(ci.peer); err == nil {
			a.bootstrap = chain
		}
	}
	ci.auth.Store(a)
	return a
}

// bootstrapChain returns the connection's bootstrap chain under state st:
// the verified chain (leaf first) of a client certificate that the
// listener admitted only because it chains to est.bootstrap_ca, nil for
// any other connection. Only the EST handler of st reads it (see
// bootstrapListener); it is checked against st's verifier like identity, so
// a reload that drops the bootstrap CA takes effect on open connections.
func bootstrapChain(st *state, ci *connInfo) []*x509.Certificate {
	if len(ci.peer) == 0 {
		return nil
	}
	return authOf(st, ci).bootstrap
}

func connInfoOf(r *http.Request) *connInfo {
	ci, _ := r.Context().Value(connKey{}).(*connInfo)
	if ci == nil {
		return &connInfo{}
	}
	return ci
}

// identityOf is the proxy's view of the request's identity.
func (g *Gateway) identityOf(r *http.Request) (*identity.Identity, string) {
	ci := connInfoOf(r)
	return g.identity(g.state.Load(), ci), ci.by
}
