package gateway

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mtlsgate/mtlsgate/internal/config"
	"github.com/mtlsgate/mtlsgate/internal/h1"
	"github.com/mtlsgate/mtlsgate/internal/h2"
	"github.com/mtlsgate/mtlsgate/internal/memtrim"
	"github.com/mtlsgate/mtlsgate/internal/stats"
	"github.com/mtlsgate/mtlsgate/internal/telemetry"
	"github.com/prometheus/client_golang/prometheus"
)

// Options configure a Gateway.
type Options struct {
	// ConfigPath is the YAML file to load (and reload).
	ConfigPath string
	// Logger receives operational logs; AccessLog receives one line per
	// request. Nil means discard.
	Logger    *slog.Logger
	AccessLog io.Writer
	// Now is the clock (default time.Now).
	Now func() time.Time
	// DrainTimeout bounds graceful shutdown (default 30s).
	DrainTimeout time.Duration

	// checkOnly builds without side effects (validate): the CA is opened
	// and checked, but nothing is signed or published.
	checkOnly bool
}

// Gateway serves the configured listeners. Create it with New, run it with
// Run; Reload may be called concurrently from any goroutine.
type Gateway struct {
	opts    Options
	log     *slog.Logger
	access  *telemetry.AccessLog
	metrics *telemetry.Metrics
	noRoute *telemetry.RouteMetrics
	now     func() time.Time

	state atomic.Pointer[state]
	// pendingFiles are the files the last load named when it failed (nil
	// after a load that succeeded): see Files.
	pendingFiles atomic.Pointer[[]string]

	mu      sync.Mutex // serialises reloads and guards running/admin
	running map[string]*running
	admin   *http.Server
	adminLn net.Listener
	ready   atomic.Bool

	// ca is the built-in CA (nil without a ca section).
	ca *caRuntime
	// echo are the built-in echo servers (echo_servers).
	echo []*http.Server
	// conns are the open client connections that showed a certificate,
	// so a revocation can end those with requests or tunnels in flight.
	conns connSet
	// staplers keep OCSP responses for listeners with ocsp_stapling.
	staplers staplers
	// stats are the recent per-route, per-identity call statistics
	// (GET /api/stats on the admin listener).
	stats *stats.Stats
	// trimmer returns memory to the OS once a busy period is over.
	trimmer memtrim.Trimmer
	// bg bounds background work of published states (revocation
	// checkers); cancelled when the gateway stops.
	bg     context.Context
	stopBg context.CancelFunc
}

// New loads, validates and builds the configuration. It opens no sockets;
// every problem in the config or the files it names is returned together.
func New(opts Options) (*Gateway, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.DrainTimeout == 0 {
		opts.DrainTimeout = 30 * time.Second
	}
	g := &Gateway{
		opts: opts, log: opts.Logger, now: opts.Now,
		metrics: telemetry.NewMetrics(1000),
		running: map[string]*running{},
		stats:   stats.New(stats.Options{Now: opts.Now}),
	}
	g.metrics.Registry.MustRegister(rateLimitCollector{g},
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "mtlsgate_memory_trims_total",
			Help: "Times the gateway, quiet after a busy period, ran a collection and returned free heap memory to the OS.",
		}, func() float64 { return float64(g.trimmer.Trims()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "mtlsgate_memory_returned_bytes_total",
			Help: "Heap bytes returned to the OS by those trims.",
		}, func() float64 { return float64(g.trimmer.Returned()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "mtlsgate_memory_gc_percent",
			Help: "The Go collector's GC percent in effect: GOGC when set, else 32 MiB of headroom over the live heap as a percent of it, within 50..800.",
		}, func() float64 { return float64(memtrim.GCPercent()) }))
	if os.Getenv("GOGC") != "" {
		g.trimmer.NoPace = true // the operator's choice stands
	}
	g.noRoute = g.metrics.Route("")
	g.bg, g.stopBg = context.WithCancel(context.Background())
	st, err := g.load()
	if err != nil {
		g.stopBg()
		g.ca.close()
		return nil, err
	}
	if opts.AccessLog != nil && *st.cfg.Log.Access {
		g.access = telemetry.NewAccessLog(opts.AccessLog, 200*time.Millisecond)
	}
	g.publish(st)
	return g, nil
}

// Check loads, validates and builds the configuration at path without
// opening sockets: what `mtlsgate validate` runs. It returns every problem.
// The warnings are what serve would log at start-up (insecure upstreams,
// key files readable by others, routes open to several CAs).
func Check(path string) (warnings []string, err error) {
	g, err := New(Options{ConfigPath: path, checkOnly: true})
	if err != nil {
		return nil, err
	}
	defer g.ca.close()
	defer g.stopBg()
	st := g.state.Load()
	st.discard(nil)
	return st.warnings, nil
}

// load reads the config file and builds a state from it (not published).
func (g *Gateway) load() (*state, error) {
	cfg, src, specs, err := LoadConfig(g.opts.ConfigPath)
	if cfg == nil {
		return nil, err
	}
	// Validate and build both run, so one pass reports config mistakes and
	// file problems (missing keys, wrong passwords) together.
	probs := config.AsProblems(err)
	probs = append(probs, src.Annotate(g.caProblems(cfg))...)
	st, err := build(cfg, buildDeps{
		metrics: g.metrics, previous: g.state.Load(),
		identityOf: g.identityOf, onError: g.upstreamFailed,
		revocation: g.ca.checker(),
		stapler: func(c *tls.Certificate) (*stapler, error) {
			return g.staplers.get(c, g.log, g.now)
		},
		background: g.bg, log: g.log, warmup: !g.opts.checkOnly,
		authority: g.ca.authority(),
	})
	if err != nil {
		probs = append(probs, src.Annotate(err)...)
	}
	if st != nil {
		st.files = append(st.files, specs...)
		sort.Strings(st.files)
		st.files = dedupe(st.files)
	}
	if len(probs) > 0 {
		// The watcher also watches what the failed config names (a $ref
		// or certificate file not written yet): creating it retries.
		pending := append([]string{cfg.Path}, specs...)
		if st != nil {
			pending = append(pending, st.files...)
			st.discard(g.state.Load())
		}
		sort.Strings(pending)
		pending = dedupe(pending)
		g.pendingFiles.Store(&pending)
		probs = dedupeProblems(probs)
		sort.SliceStable(probs, func(i, j int) bool {
			li, lj := probs[i].Line, probs[j].Line
			return li != 0 && (lj == 0 || li < lj)
		})
		return nil, probs
	}
	g.pendingFiles.Store(nil)
	return st, nil
}

func (g *Gateway) publish(st *state) {
	old := g.state.Swap(st)
	inUse := map[*stapler]bool{}
	for _, ls := range st.listeners {
		if ls.stapler != nil {
			inUse[ls.stapler] = true
		}
	}
	g.staplers.prune(inUse)
	g.swapRevocationMetrics(old, st)
	for _, w := range st.warnings {
		g.log.Warn(w)
	}
	insecure := 0
	for _, u := range st.upstreams {
		if u.Insecure {
			insecure++
		}
	}
	g.metrics.InsecureUpstreams.Set(float64(insecure))
	g.metrics.ReloadResult(true, g.now())
	if old == nil {
		return
	}
	// Drop idle connections of upstreams the new state no longer uses.
	for name, u := range old.upstreams {
		if st.upstreams[name] != u {
			u.Close()
		}
	}
}

// Reload rebuilds the state from the config file and publishes it. On error
// the old state keeps serving, the failure is logged and counted, and the
// error is returned. Listener addresses added or removed by the new config
// are opened or drained.
func (g *Gateway) Reload() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	st, err := g.load()
	if err == nil && g.isRunning() {
		if err = g.openListeners(st); err != nil {
			st.discard(g.state.Load())
		}
	}
	if err != nil {
		g.metrics.ReloadResult(false, g.now())
		g.log.Error("reload failed; still serving the previous configuration", "error", err.Error())
		return err
	}
	g.publish(st)
	if g.isRunning() {
		g.closeRemovedListeners(st)
	}
	g.log.Info("configuration reloaded", "listeners", len(st.listeners), "routes", st.routes.Len(), "upstreams", len(st.upstreams))
	return nil
}

func (g *Gateway) isRunning() bool { return g.ready.Load() }

// Run opens the listeners and the admin server and serves until ctx is
// cancelled, then drains connections (bounded by DrainTimeout).
func (g *Gateway) Run(ctx context.Context) error {
	g.mu.Lock()
	st := g.state.Load()
	if err := g.startEchoServers(); err != nil {
		g.mu.Unlock()
		g.shutdown()
		return err
	}
	if err := g.openListeners(st); err != nil {
		g.mu.Unlock()
		g.shutdown()
		return err
	}
	if err := g.startAdmin(st.cfg); err != nil {
		g.mu.Unlock()
		g.shutdown()
		return err
	}
	g.ready.Store(true)
	g.mu.Unlock()
	caCtx, stopCA := context.WithCancel(ctx)
	defer stopCA()
	if g.ca != nil {
		g.ca.run(caCtx, g)
	}
	go every(caCtx, time.Second, func() { g.staplers.refreshDue(caCtx) })
	trimmed := make(chan struct{})
	go func() { g.trimmer.Run(caCtx); close(trimmed) }()
	var swept uint64
	go every(caCtx, sweepInterval, func() {
		// Any revocation source changed (built-in CA, CRL, OCSP): end
		// busy connections of clients that are now refused.
		if gen := g.revocationGeneration(); gen != swept {
			swept = gen
			g.closeRevokedInFlight()
		}
	})
	for name, r := range g.running {
		g.log.Info("listening", "listener", name, "address", r.tl.Addr().String())
	}
	<-ctx.Done()
	g.ready.Store(false)
	g.shutdown()
	_ = g.access.Close()
	stopCA()
	<-trimmed // its GC percent is put back before Run returns
	g.ca.close()
	g.stopBg()
	for _, ls := range g.state.Load().listeners {
		if ls.external != nil {
			ls.external.close()
		}
	}
	return nil
}

// Addr returns the bound address of a running listener ("admin" for the
// admin server), or "".
func (g *Gateway) Addr(name string) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	if name == "admin" && g.adminLn != nil {
		return g.adminLn.Addr().String()
	}
	if r := g.running[name]; r != nil {
		return r.tl.Addr().String()
	}
	return ""
}

// Files returns every file the current state was built from, and those
// the last load named if it failed (the watcher reloads when one of them
// appears or changes).
func (g *Gateway) Files() []string {
	files := g.state.Load().files
	if p := g.pendingFiles.Load(); p != nil {
		files = append(append([]string(nil), files...), *p...)
		sort.Strings(files)
		files = dedupe(files)
	}
	return files
}

// openListeners binds every listener of st that is not running yet (same
// name and address). On failure, listeners it opened are closed again.
func (g *Gateway) openListeners(st *state) error {
	var opened []*running
	for _, lc := range st.cfg.Listeners {
		if r := g.running[lc.Name]; r != nil && r.address == lc.Address {
			if r.limits != lc.Limits {
				g.log.Warn("listener limits changed; they apply after a restart", "listener", lc.Name)
			}
			continue
		}
		ln, err := net.Listen("tcp", lc.Address)
		if err != nil {
			for _, r := range opened {
				_ = r.tl.Close()
				delete(g.running, r.name)
			}
			return fmt.Errorf("gateway: listener %s: %w", lc.Name, err)
		}
		if old := g.running[lc.Name]; old != nil {
			// Same name, new address: drain the old one after the swap.
			old.name = old.name + "#replaced"
			g.running[old.name] = old
		}
		r := g.serve(lc, ln)
		g.running[lc.Name] = r
		opened = append(opened, r)
	}
	return nil
}

func (g *Gateway) serve(lc config.Listener, ln net.Listener) *running {
	tl := newTLSListener(g, lc.Name, ln, lc.Limits.MaxConnections)
	active := g.metrics.ActiveConnections.WithLabelValues(lc.Name)
	connState := func(c net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			active.Inc()
		case http.StateClosed:
			active.Dec()
			tl.release()
			g.conns.delete(c)
		case http.StateHijacked:
			active.Dec()
			tl.release()
			if ci := g.conns.load(c); ci != nil {
				ci.hijacked.Store(true) // dropped when its handler returns
			}
		}
	}
	errorLog := slog.NewLogLogger(g.log.With("listener", lc.Name).Handler(), slog.LevelDebug)
	handler := listenerHandler{g: g, name: lc.Name}
	lim := lc.Limits
	tl.h1 = &h1.Server{
		Handler:           handler,
		ReadHeaderTimeout: lim.ReadHeaderTimeout.D(), ReadTimeout: lim.ReadTimeout.D(),
		WriteTimeout: lim.WriteTimeout.D(), IdleTimeout: lim.IdleTimeout.D(),
		BodyStallTimeout: lim.BodyStallTimeout.D(), SendStallTimeout: lim.SendStallTimeout.D(),
		MaxHeaderBytes: lim.MaxHeaderBytes, ConnContext: g.connContext(lc.Name),
		ConnState: connState, ErrorLog: errorLog,
	}
	tl.h2 = &h2.Server{
		Handler:           handler,
		ReadHeaderTimeout: lim.ReadHeaderTimeout.D(), ReadTimeout: lim.ReadTimeout.D(),
		WriteTimeout: lim.WriteTimeout.D(), IdleTimeout: lim.IdleTimeout.D(),
		BodyStallTimeout: lim.BodyStallTimeout.D(), SendStallTimeout: lim.SendStallTimeout.D(),
		MaxHeaderBytes: lim.MaxHeaderBytes, MaxConcurrentStreams: uint32(lim.MaxConcurrentStreams), // validated: 1..10000
		ConnContext: g.connContext(lc.Name), ConnState: connState, ErrorLog: errorLog,
	}
	tl.start()
	r := &running{name: lc.Name, address: lc.Address, limits: lc.Limits, tl: tl, h1: tl.h1, h2: tl.h2}
	return r
}

// closeRemovedListeners drains listeners that the published state dropped.
func (g *Gateway) closeRemovedListeners(st *state) {
	for name, r := range g.running {
		if ls := st.listeners[name]; ls != nil && ls.address == r.address {
			continue
		}
		delete(g.running, name)
		go g.drain(r)
	}
}

func (g *Gateway) drain(r *running) {
	ctx, cancel := context.WithTimeout(context.Background(), g.opts.DrainTimeout)
	defer cancel()
	_ = r.tl.Close()
	errc := make(chan error, 1)
	go func() { errc <- r.h1.Shutdown(ctx) }()
	err := r.h2.Shutdown(ctx)
	if err1 := <-errc; err == nil {
		err = err1
	}
	if err != nil {
		g.log.Warn("listener did not drain in time; closing remaining connections", "listener", r.name, "error", err)
		_ = r.h2.Close()
		_ = r.h1.Close()
	}
	r.tl.wg.Wait()
}

// shutdown stops the admin server and drains every listener in parallel.
func (g *Gateway) shutdown() {
	g.mu.Lock()
	defer g.mu.Unlock()
	var wg sync.WaitGroup
	for name, r := range g.running {
		delete(g.running, name)
		wg.Add(1)
		go func() { defer wg.Done(); g.drain(r) }()
	}
	wg.Wait()
	if g.admin != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = g.admin.Shutdown(ctx)
		cancel()
		g.admin, g.adminLn = nil, nil
	}
	for _, u := range g.state.Load().upstreams {
		u.Close()
	}
	g.stopEchoServers()
}

// dedupeProblems drops repeated messages for the same path, keeping order.
func dedupeProblems(ps config.Problems) config.Problems {
	seen := map[string]bool{}
	out := ps[:0]
	for _, p := range ps {
		k := p.Error()
		if !seen[k] {
			seen[k] = true
			out = append(out, p)
		}
	}
	return out
}
