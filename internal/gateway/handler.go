package gateway

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/mtlsgate/mtlsgate/internal/config"
	"github.com/mtlsgate/mtlsgate/internal/est"
	"github.com/mtlsgate/mtlsgate/internal/identity"
	"github.com/mtlsgate/mtlsgate/internal/problem"
	"github.com/mtlsgate/mtlsgate/internal/proxy"
	"github.com/mtlsgate/mtlsgate/internal/route"
	"github.com/mtlsgate/mtlsgate/internal/telemetry"
)

// recorder captures status and size for metrics and the access log.
type recorder struct {
	http.ResponseWriter
	status   int
	bytes    int64
	reason   string
	stripped int
	proxied  bool
}

// RecordReason keeps the reason of a problem document written by any
// handler (problem.ReasonRecorder), unless one is set already (the
// gateway's own reasons say more, e.g. an upstream failure's detail).
func (rw *recorder) RecordReason(reason string) {
	if rw.reason == "" {
		rw.reason = reason
	}
}

func (rw *recorder) WriteHeader(code int) {
	if rw.status == 0 && code >= 200 { // 1xx are informational, not the status
		rw.status = code
	}
	rw.ResponseWriter.WriteHeader(code)
}

func (rw *recorder) Write(b []byte) (int, error) {
	if rw.status == 0 {
		rw.status = http.StatusOK
	}
	n, err := rw.ResponseWriter.Write(b)
	rw.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach Flush and deadlines.
func (rw *recorder) Unwrap() http.ResponseWriter { return rw.ResponseWriter }

var recorders = sync.Pool{New: func() any { return new(recorder) }}

// listenerHandler serves requests arriving on one listener.
type listenerHandler struct {
	g    *Gateway
	name string
}

func (h listenerHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g := h.g
	start := time.Now()
	st := g.state.Load()
	ci := connInfoOf(r)
	ci.active.Add(1)
	defer func() {
		ci.active.Add(-1)
		if ci.hijacked.Load() && ci.conn != nil {
			g.conns.delete(ci.conn) // the tunnel has ended
		}
	}()
	rw := recorders.Get().(*recorder)
	*rw = recorder{ResponseWriter: w}
	var rs *routeState
	defer func() {
		// The proxy aborts a response whose upstream broke off mid-body by
		// panicking with http.ErrAbortHandler; record it, then let net/http
		// close the connection.
		p := recover()
		if p != nil {
			rw.reason = "upstream_aborted_mid_response"
			if rw.status == 0 {
				rw.status = http.StatusBadGateway
			}
		}
		g.finish(h.name, start, r, ci, rw, rs)
		*rw = recorder{}
		recorders.Put(rw)
		if p != nil {
			panic(p)
		}
	}()
	rs = g.dispatch(st, ci, rw, r)
}

// finish records metrics and the access log line of one request.
func (g *Gateway) finish(listener string, start time.Time, r *http.Request, ci *connInfo, rw *recorder, rs *routeState) {
	d := time.Since(start)
	status := rw.status
	if status == 0 {
		status = http.StatusOK
	}
	rm, routeName, upstream := g.noRoute, "", ""
	if rs != nil {
		rm, routeName = rs.metrics, rs.name
		if rw.proxied {
			upstream = rs.upstream.Name
		}
	}
	rm.Observe(r.Method, status, d)
	// The connection's authentication, looked up once for the statistics
	// and the access log (an unrevoked identity, or none).
	var a *connAuth
	var id *identity.Identity
	if len(ci.peer) > 0 {
		a = g.auth(g.state.Load(), ci)
		if a.revoked == nil {
			id = a.id
		}
	}
	if rs != nil {
		subject := ""
		if id != nil {
			subject = id.Subject
		}
		g.stats.RecordAt(start.Add(d), routeName, subject, status, d, max(r.ContentLength, 0), rw.bytes)
	}
	if g.access == nil {
		return
	}
	e := telemetry.AccessEntry{
		Start: start, Listener: listener, Route: routeName, Method: r.Method, Path: r.URL.Path, Proto: r.Proto,
		Status: status, Duration: d, BytesIn: r.ContentLength, BytesOut: rw.bytes, Upstream: upstream,
		RemoteAddr: r.RemoteAddr, Reason: rw.reason, StrippedHeaders: rw.stripped,
		InsecureUpstream: rs != nil && rw.proxied && rs.upstream.Insecure,
	}
	if id != nil {
		e.Subject, e.SANs, e.Serial, e.Fingerprint = id.Subject, id.SANs(), id.SerialHex, id.FingerprintSHA256
	}
	if a != nil {
		e.RevocationFailOpen = a.failOpen
	}
	g.access.Write(&e)
}

// dispatch routes, authorises and proxies one request. It returns the route
// that handled it (nil when none matched).
func (g *Gateway) dispatch(st *state, ci *connInfo, rw *recorder, r *http.Request) *routeState {
	if len(ci.peer) > 0 {
		if a := g.auth(st, ci); a.revoked != nil {
			g.refuseRevoked(rw, r, ci, a.revoked)
			return nil
		}
	}
	// The CA's endpoints see the path as sent: OCSP GET requests carry
	// base64 that path cleaning would corrupt. They serve fixed paths only.
	if g.ca.servesCA(st, ci.listener, r.URL.Path) {
		g.ca.pub.ServeHTTP(rw, r)
		return nil
	}
	if st.est != nil && ci.listener == st.estListener && strings.HasPrefix(r.URL.Path, est.PathPrefix) {
		st.est.ServeHTTP(rw, r)
		return nil
	}
	if p := route.CleanPath(r.URL.Path); p != r.URL.Path {
		r.URL.Path, r.URL.RawPath = p, ""
	}
	if ls := st.listeners[ci.listener]; ls != nil && ls.plain {
		g.refuse(rw, r, nil, http.StatusNotFound, "no_route", "this plain-HTTP listener only publishes the CA under /ca/ (crl, ocsp, root.pem, chain.pem)")
		return nil
	}
	res := st.routes.Match(r.Host, r.URL.Path, r.Method)
	if !res.Found {
		if len(res.Allow) > 0 {
			rw.Header().Set("Allow", strings.Join(res.Allow, ", "))
			g.refuse(rw, r, nil, http.StatusMethodNotAllowed, "method_not_allowed", fmt.Sprintf("%s is not allowed on this path; allowed: %s", r.Method, strings.Join(res.Allow, ", ")))
			return nil
		}
		g.refuse(rw, r, nil, http.StatusNotFound, "no_route", "no route matches this host and path")
		return nil
	}
	rs := res.Value
	if n := identity.StripInbound(r.Header); n > 0 {
		rw.stripped = n
		rs.metrics.Strip.Add(float64(n))
	}
	// A connection authenticated for one host must not reach another host
	// whose client-certificate requirement differs (HTTP/2 connection reuse,
	// or a client sending a Host that differs from its SNI).
	if ci.sni != "" && route.NormalizeHost(r.Host) != ci.sni {
		other := st.routes.Match(ci.sni, r.URL.Path, r.Method)
		if !other.Found || other.Value.requirement != rs.requirement {
			g.refuse(rw, r, rs, http.StatusMisdirectedRequest, "misdirected", fmt.Sprintf("this connection was opened for %s; open a new connection for %s", ci.sni, route.NormalizeHost(r.Host)))
			return rs
		}
	}
	if rs.lifecycle.state != config.StatePublished && !g.admitLifecycle(st, ci, rw, r, rs) {
		return rs
	}
	switch rs.clientCert {
	case config.ClientCertRequired:
		id := g.identity(st, ci)
		if id == nil {
			g.refuse(rw, r, rs, http.StatusUnauthorized, "client_cert_required", "a client certificate is required for this route; connect with a certificate issued by a CA this listener trusts")
			return rs
		}
		if rs.policy != nil {
			if ok, _ := rs.policy.Allowed(id); !ok {
				g.refuse(rw, r, rs, http.StatusForbidden, "not_allowed", "the client certificate is valid but not allowed on this route")
				return rs
			}
		}
	}
	if rs.strictRevocation && len(ci.peer) > 0 {
		if code := g.auth(st, ci).failOpen; code != "" {
			g.refuse(rw, r, rs, http.StatusForbidden, "revocation_unavailable",
				"the revocation status of the client certificate is unknown ("+code+"); this route requires it (revocation.on_unavailable: fail_closed)")
			return rs
		}
	}
	if !g.admitRate(st, ci, rw, r, rs) {
		return rs
	}
	if rs.upstream.Insecure {
		g.metrics.InsecureUpstream.WithLabelValues(rs.upstream.Name).Inc()
	}
	rw.proxied = true
	rs.handler.ServeHTTP(rw, r)
	return rs
}

// refuse answers with a problem document and records the reason.
func (g *Gateway) refuse(rw *recorder, r *http.Request, rs *routeState, status int, reason, detail string) {
	d := problem.Details{Status: status, Detail: detail, Reason: reason, Instance: r.URL.Path}
	if rs != nil {
		d.Route = rs.name
	}
	if status == http.StatusForbidden {
		if id := g.identity(g.state.Load(), connInfoOf(r)); id != nil {
			d.Identity = &problem.Identity{Subject: id.Subject, SANs: id.SANs(), Serial: id.SerialHex}
		}
	}
	rw.reason = reason
	problem.Write(rw, d)
}

// upstreamFailed answers a failed upstream call (proxy.RouteOptions.OnError).
func (g *Gateway) upstreamFailed(w http.ResponseWriter, r *http.Request, f proxy.Failure) {
	g.metrics.UpstreamErrors.WithLabelValues(f.Upstream, f.Reason).Inc()
	if rw, ok := w.(*recorder); ok {
		rw.reason = f.Reason + ": " + f.Detail
	}
	if f.Status == 499 {
		// Nobody is listening any more; record it, answer nothing useful.
		w.WriteHeader(f.Status)
		return
	}
	problem.Write(w, problem.Details{Status: f.Status, Detail: f.Detail, Reason: "upstream_" + f.Reason, Instance: r.URL.Path})
}
