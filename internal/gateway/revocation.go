package gateway

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/mtlsgate/mtlsgate/internal/config"
	"github.com/mtlsgate/mtlsgate/internal/diagnose"
	"github.com/mtlsgate/mtlsgate/internal/revocation"
)

// externalRevocation is one listener's CRL/OCSP checker (its revocation
// block), kept across reloads while the block and the trust bundle are
// unchanged so CRLs and OCSP answers are not fetched again.
type externalRevocation struct {
	c           *revocation.Checker
	fingerprint [32]byte
	listener    string
	log         *slog.Logger
	// ctx lives as long as the checker; cancel ends it (and any reload
	// still fetching for it).
	ctx    context.Context
	cancel context.CancelFunc
	reload sync.WaitGroup
}

// Check adapts a revocation.Result to the verifier: refusals become errors
// diagnose explains; fail-open answers pass, logged and counted.
func (e *externalRevocation) Check(chain []*x509.Certificate) error {
	r := e.c.Check(chain)
	if r.FailOpen { // counted by the checker (mtlsgate_revocation_fail_open_total)
		e.log.Warn("client certificate allowed without a revocation answer (fail_open)", "listener", e.listener,
			"revocation_fail_open", r.Code, "reason", r.Reason, "subject", chain[0].Subject.String())
		return &failOpenNotice{code: r.Code, reason: r.Reason}
	}
	if !r.Revoked {
		return nil
	}
	if r.Code == revocation.CodeRevoked {
		return &diagnose.RevokedError{Cert: chain[0], RevokedAt: r.RevokedAt, Reason: revocation.ReasonName(r.RevocationReason), Source: r.Source}
	}
	return &diagnose.RevocationError{Cert: chain[0], Code: r.Code, Reason: r.Reason}
}

func (e *externalRevocation) Generation() uint64 { return e.c.Generation() }

func (e *externalRevocation) close() {
	e.cancel()
	e.reload.Wait()
	e.c.Close()
}

// reloadAsync re-reads the checker's sources (a gateway reload: SIGHUP, a
// changed CRL file) without holding up the reload; close waits for it.
func (e *externalRevocation) reloadAsync() {
	e.reload.Go(func() {
		if err := e.c.Reload(e.ctx); err != nil && e.ctx.Err() == nil {
			e.log.Warn("re-reading revocation data failed; the previous data stays in force", "listener", e.listener, "error", err.Error())
		}
	})
}

// revocationFingerprint identifies a revocation block with its trust
// bundle: equal fingerprints can share a checker.
func revocationFingerprint(listener string, r *config.Revocation, issuers []*x509.Certificate) [32]byte {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%+v\x00", listener, *r)
	for _, c := range issuers {
		h.Write(c.Raw)
	}
	var out [32]byte
	copy(out[:], h.Sum(nil))
	return out
}

// buildRevocation returns the listener's checker: the previous state's when
// nothing changed, else a new one (started; files loaded now, so their
// errors are config problems).
func buildRevocation(l *config.Listener, issuers []*x509.Certificate, deps buildDeps) (*externalRevocation, error) {
	r := l.TLS.Revocation
	fp := revocationFingerprint(l.Name, r, issuers)
	if prev := deps.previous; prev != nil {
		if ls := prev.listeners[l.Name]; ls != nil && ls.external != nil && ls.external.fingerprint == fp {
			return ls.external, nil
		}
	}
	cfg, err := revocation.ConfigFor(l, issuers, deps.log.With("listener", l.Name, "component", "revocation"))
	if err != nil {
		return nil, err
	}
	c, err := revocation.New(cfg)
	if err != nil {
		return nil, err
	}
	if deps.warmup {
		// A new checker starts empty; fetch its CRL URLs now (bounded),
		// so publishing it does not refuse (fail_closed) or wave through
		// (fail_open) every client until the background fetch lands.
		wctx, wcancel := context.WithTimeout(deps.background, revocationWarmup)
		if err := c.Reload(wctx); err != nil {
			deps.log.Warn("revocation sources not all loaded before serving; on_unavailable applies to them until they are", "listener", l.Name, "error", err.Error())
		}
		wcancel()
	}
	ctx, cancel := context.WithCancel(deps.background)
	c.Start(ctx)
	return &externalRevocation{c: c, fingerprint: fp, listener: l.Name, log: deps.log, ctx: ctx, cancel: cancel}, nil
}

// revocationWarmup bounds the first load of a new checker's URL sources.
const revocationWarmup = 10 * time.Second

// chainCheckers consults the built-in CA first (instant revocations), then
// the listener's CRL/OCSP checker; any refusal refuses.
type chainCheckers []revocationChecker

func (cs chainCheckers) Check(chain []*x509.Certificate) error {
	for _, c := range cs {
		if err := c.Check(chain); err != nil {
			return err
		}
	}
	return nil
}

func (cs chainCheckers) Generation() uint64 {
	var g uint64
	for _, c := range cs {
		g += c.Generation()
	}
	return g
}

// combineCheckers returns nil, the single checker, or both.
func combineCheckers(list ...revocationChecker) revocationChecker {
	var out chainCheckers
	for _, c := range list {
		if c != nil {
			out = append(out, c)
		}
	}
	switch len(out) {
	case 0:
		return nil
	case 1:
		return out[0]
	}
	return out
}

// swapRevocationMetrics registers the checkers the new state brought and
// closes and unregisters those it dropped.
func (g *Gateway) swapRevocationMetrics(old, st *state) {
	inNew := map[*externalRevocation]bool{}
	for _, ls := range st.listeners {
		if ls.external != nil {
			inNew[ls.external] = true
		}
	}
	inOld := map[*externalRevocation]bool{}
	if old != nil {
		for _, ls := range old.listeners {
			if e := ls.external; e != nil {
				inOld[e] = true
				if !inNew[e] {
					g.metrics.Registry.Unregister(e.c)
					e.close()
				}
			}
		}
	}
	for e := range inNew {
		if inOld[e] {
			e.reloadAsync() // a reload (SIGHUP, a changed CRL file): re-read CRLs now
			continue
		}
		if err := g.metrics.Registry.Register(e.c); err != nil {
			g.log.Warn("revocation metrics not registered", "listener", e.listener, "error", err.Error())
		}
	}
}

// failOpenNotice is what a checker returns for a certificate it lets
// through only because of on_unavailable: fail_open. The verifier admits
// it and remembers the code, so routes that insist can refuse it.
type failOpenNotice struct{ code, reason string }

func (n *failOpenNotice) Error() string { return "admitted by fail_open: " + n.reason }

// sweepInterval is how often the gateway looks for revocation changes that
// concern connections with requests in flight.
const sweepInterval = 250 * time.Millisecond

// revocationGeneration sums the generations of every listener's checkers
// in the current state: it changes whenever any answer may have.
func (g *Gateway) revocationGeneration() uint64 {
	var sum uint64
	for _, ls := range g.state.Load().listeners {
		sum += ls.verifier.revocationGeneration()
	}
	return sum
}
