package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"
)

// TLSInfo is what the first handshake negotiated.
type TLSInfo struct {
	Version string `json:"version"`
	Cipher  string `json:"cipher"`
	Group   string `json:"group"`
	ALPN    string `json:"alpn"`
}

// Latency percentiles in milliseconds.
type Latency struct {
	P50  float64 `json:"p50_ms"`
	P90  float64 `json:"p90_ms"`
	P99  float64 `json:"p99_ms"`
	Max  float64 `json:"max_ms"`
	Mean float64 `json:"mean_ms"`
}

// IdleResult is the idle-connections measurement.
type IdleResult struct {
	Requested   int     `json:"requested"`
	Opened      int     `json:"opened"`
	OpenSeconds float64 `json:"open_seconds"`
	PIDs        []int   `json:"pids"`
	RSSBeforeKB int64   `json:"rss_before_kb"`
	RSSAfterKB  int64   `json:"rss_after_kb"`
	HWMKB       int64   `json:"hwm_kb"`
	PerConnKB   float64 `json:"per_conn_kb"`
	RSSError    string  `json:"rss_error,omitempty"`
}

// Result is one run's report (the --json output).
type Result struct {
	Label        string            `json:"label,omitempty"`
	URL          string            `json:"url"`
	Connect      string            `json:"connect"`
	Mode         string            `json:"mode"`
	HTTP         string            `json:"http"`
	TLSRequested string            `json:"tls_requested"`
	Conns        int               `json:"conns"`
	WarmupS      float64           `json:"warmup_s"`
	WindowS      float64           `json:"window_s"`
	CapHit       bool              `json:"cap_hit"`
	Issued       int64             `json:"requests_issued"`
	OK           int64             `json:"ok"`
	RPS          float64           `json:"ok_per_s"`
	Errors       int64             `json:"errors"`
	ErrorKinds   map[string]int64  `json:"error_kinds"`
	ErrorSamples map[string]string `json:"error_samples,omitempty"`
	Latency      Latency           `json:"latency"`
	TLS          *TLSInfo          `json:"tls,omitempty"`
	CPU          []CoreBusy        `json:"cpu_busy"`
	ForeignCPU   *float64          `json:"foreign_cpu_pct,omitempty"`
	Noisy        bool              `json:"noisy,omitempty"`
	Idle         *IdleResult       `json:"idle,omitempty"`
	Start        time.Time         `json:"start"`
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// runLoad runs warm-up then the measured window and reports it.
func (g *gen) runLoad() *Result {
	o := g.opt
	all := make([]*stats, o.conns)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range all {
		all[i] = newStats()
		wg.Add(1)
		go func(st *stats) {
			defer wg.Done()
			g.worker(st)
		}(all[i])
	}
	select {
	case <-time.After(o.warmup):
	case <-g.capHit:
	}
	snap0, cpuErr := snapshot(g.known)
	t0 := time.Now()
	g.phase.Store(phaseMeasure)
	capHit := false
	select {
	case <-time.After(o.duration):
	case <-g.capHit:
		capHit = true
	}
	g.phase.Store(phaseStop)
	window := time.Since(t0)
	snap1, cpuErr2 := snapshot(g.known)

	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-time.After(o.timeout + time.Second):
	}
	// Stats are read only once every worker has returned; if one is stuck
	// past its timeout the run is reported as broken rather than racing it.
	res := g.newResult(start, window)
	res.CapHit = capHit
	var h Histogram
	select {
	case <-finished:
		for _, st := range all {
			h.Merge(&st.hist)
			res.OK += st.ok
			for k, v := range st.errs {
				res.ErrorKinds[k] += v
				res.Errors += v
			}
			for k, v := range st.samples {
				res.ErrorSamples[k] = v
			}
		}
	default:
		res.ErrorKinds["report:workers-did-not-stop"] = 1
		res.Errors++
	}
	res.RPS = float64(res.OK) / window.Seconds()
	res.Latency = Latency{
		P50: ms(h.Percentile(50)), P90: ms(h.Percentile(90)), P99: ms(h.Percentile(99)),
		Max: ms(h.Max()), Mean: ms(h.Mean()),
	}
	if cpuErr == nil && cpuErr2 == nil {
		res.CPU = busyBetween(snap0.cores, snap1.cores)
		if len(g.known) > 1 { // more than this process: the peer's PIDs were given
			f := foreignPct(snap0, snap1)
			res.ForeignCPU = &f
			res.Noisy = o.maxForeign > 0 && f > o.maxForeign
		}
	}
	return res
}

func (g *gen) newResult(start time.Time, window time.Duration) *Result {
	o := g.opt
	issued := g.issued.Load()
	if o.maxRequests > 0 && issued > o.maxRequests {
		issued = o.maxRequests
	}
	return &Result{
		Label: o.label, URL: o.url, Connect: o.connect, Mode: o.mode, HTTP: o.http,
		TLSRequested: o.tls, Conns: o.conns, WarmupS: o.warmup.Seconds(), WindowS: window.Seconds(),
		Issued: issued, ErrorKinds: map[string]int64{}, ErrorSamples: map[string]string{},
		TLS: g.tlsInfo.Load(), Start: start.UTC(),
	}
}

func writeJSON(w io.Writer, r *Result) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

func writeTable(w io.Writer, r *Result) {
	row := func(k, format string, a ...any) { fmt.Fprintf(w, "%-12s "+format+"\n", append([]any{k}, a...)...) }
	if r.Label != "" {
		row("label", "%s", r.Label)
	}
	row("target", "%s (dial %s)", r.URL, r.Connect)
	row("mode", "%s, HTTP/%s, %d conns, TLS %s requested", r.Mode, r.HTTP, r.Conns, r.TLSRequested)
	if t := r.TLS; t != nil {
		row("negotiated", "%s %s group=%s alpn=%s", t.Version, t.Cipher, t.Group, t.ALPN)
	}
	if r.Idle != nil {
		i := r.Idle
		row("idle conns", "%d of %d opened in %.1fs", i.Opened, i.Requested, i.OpenSeconds)
		if i.RSSError != "" {
			row("rss", "error: %s", i.RSSError)
		} else if len(i.PIDs) > 0 {
			row("rss", "%d KiB before, %d KiB after (%.1f KiB/conn), peak %d KiB, pids %v",
				i.RSSBeforeKB, i.RSSAfterKB, i.PerConnKB, i.HWMKB, i.PIDs)
		}
	} else {
		note := ""
		if r.CapHit {
			note = " (stopped early: --max-requests reached)"
		}
		row("window", "%.2fs after %.0fs warm-up%s", r.WindowS, r.WarmupS, note)
		row("ok", "%d requests, %.1f req/s", r.OK, r.RPS)
		l := r.Latency
		row("latency", "p50 %.3fms  p90 %.3fms  p99 %.3fms  max %.3fms  mean %.3fms", l.P50, l.P90, l.P99, l.Max, l.Mean)
	}
	row("errors", "%d", r.Errors)
	for _, k := range slices.Sorted(maps.Keys(r.ErrorKinds)) {
		row("", "  %-28s %d  %s", k, r.ErrorKinds[k], r.ErrorSamples[k])
	}
	var cpu []string
	for _, c := range r.CPU {
		cpu = append(cpu, fmt.Sprintf("%s %.1f%%", c.CPU, c.Busy))
	}
	if len(cpu) > 0 {
		row("cpu busy", "%s", strings.Join(cpu, "  "))
	}
	if r.ForeignCPU != nil {
		noisy := ""
		if r.Noisy {
			noisy = "  NOISY: other processes competed for the cores"
		}
		row("foreign cpu", "%.1f%% of a core used by other processes%s", *r.ForeignCPU, noisy)
	}
}

// writeBrief prints one line: label, ok/s, p99, errors, CPU.
func writeBrief(w io.Writer, r *Result) {
	var cpu []string
	for _, c := range r.CPU {
		cpu = append(cpu, fmt.Sprintf("%s=%.0f%%", c.CPU, c.Busy))
	}
	if i := r.Idle; i != nil {
		fmt.Fprintf(w, "%-36s idle %d/%d conns in %.1fs  rss %d -> %d KiB (%.1f KiB/conn)  errors %d  %s\n",
			r.Label, i.Opened, i.Requested, i.OpenSeconds, i.RSSBeforeKB, i.RSSAfterKB, i.PerConnKB, r.Errors, strings.Join(cpu, " "))
		return
	}
	if r.ForeignCPU != nil {
		cpu = append(cpu, fmt.Sprintf("foreign=%.0f%%", *r.ForeignCPU))
	}
	noisy := ""
	if r.Noisy {
		noisy = "  NOISY"
	}
	fmt.Fprintf(w, "%-36s %9.0f ok/s  p50 %7.3fms  p99 %7.3fms  errors %d  %s%s\n",
		r.Label, r.RPS, r.Latency.P50, r.Latency.P99, r.Errors, strings.Join(cpu, " "), noisy)
}
