package gateway

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"

	"github.com/mtlsgate/mtlsgate/internal/identity"
	"github.com/mtlsgate/mtlsgate/internal/route"
)

// connInfo is what the gateway knows about one client connection. It is
// built once, when net/http starts serving the connection (after the
// handshake), and read by every request on it.
type connInfo struct {
	listener string
	// sni is the normalised server name the client asked for ("" if none).
	sni string
	// id is the verified client identity (nil without a certificate).
	id *identity.Identity
	// by is the gateway's own URI SAN on this listener (XFCC "By").
	by string
}

type connKey struct{}

// connContext parses the connection's identity once (see connInfo).
func (g *Gateway) connContext(listener string) func(context.Context, net.Conn) context.Context {
	return func(ctx context.Context, c net.Conn) context.Context {
		ci := &connInfo{listener: listener}
		if tc, ok := c.(*tls.Conn); ok {
			cs := tc.ConnectionState()
			ci.sni = route.NormalizeHost(cs.ServerName)
			if len(cs.VerifiedChains) > 0 {
				ci.id = identity.FromChain(cs.VerifiedChains[0])
				g.metrics.ClientCertExpiry.Seen(ci.id.FingerprintSHA256, ci.id.Subject, ci.id.SerialHex, ci.id.NotAfter)
			}
			resumed := "false"
			if cs.DidResume {
				resumed = "true"
			}
			g.metrics.Handshakes.WithLabelValues(listener, tls.VersionName(cs.Version), resumed).Inc()
			if ls := g.state.Load().listeners[listener]; ls != nil {
				ci.by = ls.by
			}
		}
		return context.WithValue(ctx, connKey{}, ci)
	}
}

func connInfoOf(r *http.Request) *connInfo {
	ci, _ := r.Context().Value(connKey{}).(*connInfo)
	if ci == nil {
		return &connInfo{}
	}
	return ci
}

// identityOf is the proxy's view of the request's identity.
func identityOf(r *http.Request) (*identity.Identity, string) {
	ci := connInfoOf(r)
	return ci.id, ci.by
}
