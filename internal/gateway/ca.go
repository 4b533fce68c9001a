package gateway

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/mtlsgate/mtlsgate/internal/ca"
	"github.com/mtlsgate/mtlsgate/internal/config"
	"github.com/mtlsgate/mtlsgate/internal/diagnose"
	"github.com/mtlsgate/mtlsgate/internal/problem"
	"github.com/mtlsgate/mtlsgate/internal/store"
	"github.com/prometheus/client_golang/prometheus"
)

// caRuntime is the built-in CA inside serve: opened once at start (the ca
// section's dir needs a restart to change), published on ca.serve_on, and
// consulted by every listener's verifier for revocations.
type caRuntime struct {
	cfg       config.CA // as opened; never changed (dir, poll, auto_renew apply at start)
	a         *ca.Authority
	pub       *ca.Publisher
	renewals  *prometheus.CounterVec // result
	refusedIn prometheus.Counter     // requests refused on open connections
	wg        sync.WaitGroup         // the loops started by run
}

// openCA opens the CA named by the config (first load only). In check-only
// mode (validate) the CA is opened and checked but nothing is signed.
func (g *Gateway) openCA(c *config.CA) error {
	a, err := ca.Open(c.Dir, ca.Options{Actor: "serve"})
	if err != nil {
		return err
	}
	rt := &caRuntime{cfg: *c, a: a}
	if !g.opts.checkOnly {
		if rt.pub, err = ca.NewPublisher(context.Background(), a, g.log.With("component", "ca")); err != nil {
			a.Close()
			return err
		}
		rt.register(g.metrics.Registry)
		if c.ServeOn != "" && a.CRLURL() == "" {
			g.log.Warn("ca.serve_on publishes the CA, but its ca.yaml has no publish_url: certificates it issues carry no CRL distribution point or OCSP URL; set publish_url to this listener's public address",
				"ca", c.Dir, "listener", c.ServeOn)
		}
	}
	g.ca = rt
	return nil
}

// caProblems checks a (re)loaded config's ca section against the CA that
// is running; the CA directory cannot change without a restart.
func (g *Gateway) caProblems(cfg *config.Config) config.Problems {
	if cfg.CA == nil || cfg.CA.Dir == "" {
		return nil
	}
	if g.ca == nil {
		if err := g.openCA(cfg.CA); err != nil {
			return config.Problems{&config.FieldError{Path: "ca.dir", Err: err}}
		}
		return nil
	}
	if g.ca.cfg.Dir != cfg.CA.Dir {
		return config.Problems{&config.FieldError{Path: "ca.dir", Err: fmt.Errorf("changed from %s to %s: restart mtlsgate to switch CAs", g.ca.cfg.Dir, cfg.CA.Dir)}}
	}
	return nil // serve_on comes from each published state; the rest applies at start
}

func (rt *caRuntime) register(reg *prometheus.Registry) {
	crl := func() *ca.CRL { return rt.pub.CurrentCRL() }
	rt.renewals = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mtlsgate_ca_renewals_total", Help: "Automatic renewals of the gateway's own certificates by the built-in CA, by result.",
	}, []string{"result"})
	rt.refusedIn = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "mtlsgate_revoked_requests_total", Help: "Requests refused (403, connection closed) because the client certificate was revoked while its connection was open.",
	})
	ocsp := func(i int) func() float64 {
		return func() float64 {
			r, h, e := rt.pub.OCSPStats()
			return float64([]uint64{r, h, e}[i])
		}
	}
	reg.MustRegister(rt.renewals, rt.refusedIn,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "mtlsgate_ca_crl_number", Help: "Number of the CRL the built-in CA publishes."},
			func() float64 { return float64(crl().Number) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "mtlsgate_ca_crl_entries", Help: "Revoked certificates listed in the published CRL."},
			func() float64 { return float64(crl().Entries) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "mtlsgate_ca_crl_next_update_timestamp_seconds", Help: "nextUpdate of the published CRL."},
			func() float64 { return float64(crl().NextUpdate.Unix()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "mtlsgate_ca_root_crl_next_update_timestamp_seconds", Help: "nextUpdate of root.crl (0 when missing); re-sign it with mtlsgate ca root-crl before then."},
			func() float64 {
				if t := rt.pub.RootCRLNextUpdate(); !t.IsZero() {
					return float64(t.Unix())
				}
				return 0
			}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "mtlsgate_ca_ocsp_requests_total", Help: "OCSP requests answered by the built-in responder."}, ocsp(0)),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "mtlsgate_ca_ocsp_cache_hits_total", Help: "OCSP requests answered from signed-response cache."}, ocsp(1)),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "mtlsgate_ca_ocsp_errors_total", Help: "OCSP requests answered with an error status."}, ocsp(2)),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "mtlsgate_ca_publish_failures_total", Help: "Failed CRL re-signs, OCSP signer renewals and store reads (the previous state stays in use)."},
			func() float64 { return float64(rt.pub.Failures.Load()) }),
	)
}

// run keeps the CA's published state and revocations current, and renews
// the gateway's own certificates, until ctx ends.
func (rt *caRuntime) run(ctx context.Context, g *Gateway) {
	if rt.pub == nil {
		return
	}
	applied := func() {
		g.log.Info("revocations applied", "ca", rt.cfg.Dir, "generation", rt.a.RevocationGeneration())
	}
	rt.wg.Go(func() {
		every(ctx, rt.cfg.RevocationPoll.D(), func() { rt.pub.Tick(ctx, applied) })
	})
	if rt.cfg.AutoRenew != nil && *rt.cfg.AutoRenew {
		r := newRenewer(g, rt)
		rt.wg.Go(func() { every(ctx, time.Second, func() { r.check(ctx) }) })
	}
}

// every calls fn every d until ctx ends.
func every(ctx context.Context, d time.Duration, fn func()) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		fn()
	}
}

// checker is the verifier's view of the CA's revocations.
func (rt *caRuntime) checker() revocationChecker {
	if rt == nil {
		return nil
	}
	return caChecker{rt: rt}
}

type caChecker struct{ rt *caRuntime }

func (c caChecker) Check(chain []*x509.Certificate) error {
	r, revoked := c.rt.a.CheckRevoked(chain[0])
	if !revoked {
		return nil
	}
	return &diagnose.RevokedError{Cert: chain[0], RevokedAt: r.RevokedAt, Reason: ca.ReasonName(r.Reason), Source: "built-in CA in " + c.rt.cfg.Dir}
}

func (c caChecker) Generation() uint64 { return c.rt.a.RevocationGeneration() }

// servesCA reports whether listener publishes the CA under state st and
// the request is for it.
func (rt *caRuntime) servesCA(st *state, listener, path string) bool {
	return rt != nil && rt.pub != nil && st.cfg.CA != nil && st.cfg.CA.ServeOn == listener && strings.HasPrefix(path, "/ca/")
}

// refuseRevoked answers 403 on a connection whose certificate was revoked
// after it was opened, and closes the connection.
func (g *Gateway) refuseRevoked(rw *recorder, r *http.Request, ci *connInfo, err error) {
	if g.ca != nil {
		g.ca.refusedIn.Inc()
	}
	rw.Header().Set("Connection", "close")
	g.refuse(rw, r, nil, http.StatusForbidden, "client_cert_revoked", err.Error()+"; this connection is closed")
	if r.ProtoMajor >= 2 && ci.conn != nil {
		// HTTP/2 has no per-response close: end the whole connection once
		// the answer is on its way.
		_ = http.NewResponseController(rw).Flush()
		conn := ci.conn
		time.AfterFunc(100*time.Millisecond, func() { _ = conn.Close() })
	}
}

// close waits for the loops started by run (their context must be done)
// and releases the CA store.
func (rt *caRuntime) close() {
	if rt != nil {
		rt.wg.Wait()
		_ = rt.a.Close()
	}
}

// revokeRequest is the body of POST /api/ca/revoke on the admin listener.
type revokeRequest struct {
	Serial string `json:"serial"`
	CN     string `json:"cn"`
	Reason string `json:"reason"`
}

// serveRevoke revokes through the admin API; the revocation applies at
// once in this process (and within revocation_poll in others).
func (rt *caRuntime) serveRevoke(w http.ResponseWriter, r *http.Request) {
	var req revokeRequest
	dec := json.NewDecoder(io.LimitReader(r.Body, 4096))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		problem.Write(w, problem.Details{Status: http.StatusBadRequest, Reason: "bad_request", Detail: "body must be JSON {\"serial\": \"…\"} or {\"cn\": \"…\"} with an optional \"reason\": " + err.Error()})
		return
	}
	reason, err := ca.ParseReason(req.Reason)
	if err == nil && (req.Serial == "") == (req.CN == "") {
		err = errors.New("give either serial or cn")
	}
	if err != nil {
		problem.Write(w, problem.Details{Status: http.StatusBadRequest, Reason: "bad_request", Detail: err.Error()})
		return
	}
	var revs []store.Revocation
	if req.CN != "" {
		revs, err = rt.a.RevokeCN(r.Context(), req.CN, reason)
	} else {
		var rev store.Revocation
		if rev, err = rt.a.Revoke(r.Context(), req.Serial, reason); err == nil {
			revs = append(revs, rev)
		}
	}
	if err != nil {
		status := http.StatusConflict
		if errors.Is(err, store.ErrNotFound) {
			status = http.StatusNotFound
		}
		problem.Write(w, problem.Details{Status: status, Reason: "revoke_failed", Detail: err.Error()})
		return
	}
	type out struct {
		Serial    string    `json:"serial"`
		RevokedAt time.Time `json:"revoked_at"`
		Reason    string    `json:"reason"`
	}
	res := make([]out, len(revs))
	for i, rv := range revs {
		res[i] = out{Serial: rv.Serial, RevokedAt: rv.RevokedAt, Reason: ca.ReasonName(rv.Reason)}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"revoked": res})
}

// closeRevokedInFlight closes connections whose certificate is now revoked
// and that have a request, stream or upgraded tunnel in flight: those would
// never reach the per-request check. Idle connections are left for that
// check, so their next request gets a 403 that says why.
//
// A request that was just finishing when the revocation arrived is not cut
// off: connections are closed only if still busy after inFlightGrace.
func (g *Gateway) closeRevokedInFlight() {
	st := g.state.Load()
	var busy []*connInfo
	var reasons []string
	for _, ci := range g.conns.snapshot() {
		if ci.active.Load() == 0 {
			continue
		}
		if err := g.auth(st, ci).revoked; err != nil {
			busy, reasons = append(busy, ci), append(reasons, err.Error())
		}
	}
	if len(busy) == 0 {
		return
	}
	time.AfterFunc(inFlightGrace, func() {
		for i, ci := range busy {
			if ci.active.Load() == 0 {
				continue // finished; its next request gets the 403
			}
			_ = ci.conn.Close()
			if g.ca != nil {
				g.ca.refusedIn.Inc()
			}
			g.log.Warn("closed a connection with a request or tunnel in flight: its client certificate was revoked",
				"listener", ci.listener, "reason", reasons[i])
		}
	})
}

// inFlightGrace lets a response that is being written finish before a
// revoked client's busy connection is closed.
const inFlightGrace = 100 * time.Millisecond

// authority is the CA (nil without one).
func (rt *caRuntime) authority() *ca.Authority {
	if rt == nil {
		return nil
	}
	return rt.a
}
