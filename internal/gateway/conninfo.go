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
			ci.id = g.verifiedIdentity(listener, cs)
			if ci.id != nil {
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

// verifiedIdentity returns the identity of a connection's client
// certificate, which VerifyConnection has verified during the handshake
// (the verifier's cache hands back the same chain and identity). It returns
// nil without a certificate or if verification fails now (e.g. after a
// reload between handshake and here), so such a connection is treated as
// anonymous, never as authenticated.
func (g *Gateway) verifiedIdentity(listener string, cs tls.ConnectionState) *identity.Identity {
	if len(cs.VerifiedChains) > 0 {
		return identity.FromChain(cs.VerifiedChains[0])
	}
	if len(cs.PeerCertificates) == 0 {
		return nil
	}
	ls := g.state.Load().listeners[listener]
	if ls == nil || ls.verifier == nil {
		return nil
	}
	v, err := ls.verifier.verify(cs.PeerCertificates)
	if err != nil {
		return nil
	}
	return v.id
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
