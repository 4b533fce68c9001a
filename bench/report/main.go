// Command report turns bench/run.sh's per-run JSON files into the results
// section: a peer × workload table (median ok/s with min..max, p99), the
// ratio lines, CPU placement checks, the idle-connection memory table and
// the versions. It prints the section and, with --out, rewrites the part of
// that file between the markers, keeping everything else.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

const (
	beginMarker = "<!-- BEGIN bench/run.sh results: generated, edits here are overwritten -->"
	endMarker   = "<!-- END bench/run.sh results -->"
)

// run is the part of loadgen's JSON report the table needs.
type run struct {
	Label      string           `json:"label"`
	OK         int64            `json:"ok"`
	RPS        float64          `json:"ok_per_s"`
	Errors     int64            `json:"errors"`
	ErrorKinds map[string]int64 `json:"error_kinds"`
	Latency    struct {
		P50 float64 `json:"p50_ms"`
		P99 float64 `json:"p99_ms"`
	} `json:"latency"`
	TLS *struct {
		Version string `json:"version"`
		Cipher  string `json:"cipher"`
		Group   string `json:"group"`
		ALPN    string `json:"alpn"`
	} `json:"tls"`
	CPU []struct {
		CPU  string  `json:"cpu"`
		Busy float64 `json:"busy_pct"`
	} `json:"cpu_busy"`
	ForeignCPU *float64 `json:"foreign_cpu_pct"`
	Noisy      bool     `json:"noisy"`
	Idle       *struct {
		Requested   int     `json:"requested"`
		Opened      int     `json:"opened"`
		OpenSeconds float64 `json:"open_seconds"`
		RSSBeforeKB int64   `json:"rss_before_kb"`
		RSSAfterKB  int64   `json:"rss_after_kb"`
		PerConnKB   float64 `json:"per_conn_kb"`
		RSSError    string  `json:"rss_error"`
	} `json:"idle"`
}

func (r *run) busy(cpu string) float64 {
	for _, c := range r.CPU {
		if c.CPU == cpu {
			return c.Busy
		}
	}
	return -1
}

type options struct {
	results, out, versions, command, settings, date string
	peers, workloads                                []string
	base, peerCPU, genCPU                           string
}

func main() {
	if err := run1(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
}

func run1(args []string, stdout io.Writer) error {
	var o options
	var peers, workloads string
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	fs.StringVar(&o.results, "results", "", "directory of loadgen JSON files (labels workload/peer/rep, idle/peer)")
	fs.StringVar(&o.out, "out", "", "markdown file whose marked section is rewritten (created if missing)")
	fs.StringVar(&o.versions, "versions", "", "text file with tool versions, copied verbatim")
	fs.StringVar(&o.command, "command", "bench/run.sh", "command line that produced the results")
	fs.StringVar(&o.settings, "settings", "", "settings line (reps, durations, connections)")
	fs.StringVar(&o.date, "date", "", "date of the run")
	fs.StringVar(&peers, "peers", "mtlsgate nginx haproxy go-bare", "peers, in table order")
	fs.StringVar(&workloads, "workloads", "keepalive-h1 keepalive-h2 handshake-tls13-ecdsa handshake-tls13-rsa handshake-tls12-ecdsa", "workloads, in table order")
	fs.StringVar(&o.base, "base", "mtlsgate", "peer the ratios are computed for")
	fs.StringVar(&o.peerCPU, "peer-cpu", "cpu0", "core the peers are pinned to")
	fs.StringVar(&o.genCPU, "gen-cpu", "cpu1", "core the generator and upstream are pinned to")
	if err := fs.Parse(args); err != nil {
		return err
	}
	o.peers, o.workloads = strings.Fields(peers), strings.Fields(workloads)
	if o.results == "" {
		return errors.New("--results is required")
	}
	runs, err := load(o.results)
	if err != nil {
		return err
	}
	var versions string
	if o.versions != "" {
		b, err := os.ReadFile(o.versions)
		if err != nil {
			return err
		}
		versions = string(b)
	}
	section := render(&o, runs, versions)
	if _, err := io.WriteString(stdout, section); err != nil {
		return err
	}
	if o.out == "" {
		return nil
	}
	old, err := os.ReadFile(o.out)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return os.WriteFile(o.out, []byte(splice(string(old), section)), 0o644)
}

// load reads every *.json in dir, grouped by label without the repetition:
// "workload/peer/rep" -> "workload/peer"; "idle/peer" stays.
func load(dir string) (map[string][]*run, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	out := map[string][]*run{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		r := &run{}
		if err := json.Unmarshal(b, r); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		parts := strings.Split(r.Label, "/")
		if len(parts) < 2 {
			return nil, fmt.Errorf("%s: label %q is not workload/peer[/rep]", f, r.Label)
		}
		key := parts[0] + "/" + parts[1]
		out[key] = append(out[key], r)
	}
	return out, nil
}

// splice replaces the marked section of doc (or appends one) with section.
func splice(doc, section string) string {
	block := beginMarker + "\n" + section + endMarker + "\n"
	b := strings.Index(doc, beginMarker)
	e := strings.Index(doc, endMarker)
	if b >= 0 && e > b {
		rest := doc[e+len(endMarker):]
		rest = strings.TrimPrefix(rest, "\n")
		return doc[:b] + block + rest
	}
	if doc == "" {
		doc = "# mtlsgate benchmark results\n\nHand-written notes go outside the markers; `bench/run.sh` rewrites only the marked section.\n"
	}
	if !strings.HasSuffix(doc, "\n") {
		doc += "\n"
	}
	return doc + "\n" + block
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// cell is the summary of one peer × workload.
type cell struct {
	n                   int
	med, lo, hi         float64 // ok/s
	p99                 float64 // median p99, ms
	peerBusy, genBusy   float64 // median busy %
	foreign             float64 // median foreign CPU, % of a core (-1: unknown)
	noisy               int     // runs marked noisy
	errors, ok          int64
	errKinds            map[string]int64
	version, cipher, gr string
	alpn                string
}

func summarize(rs []*run, peerCPU, genCPU string) *cell {
	if len(rs) == 0 {
		return nil
	}
	c := &cell{n: len(rs), errKinds: map[string]int64{}}
	var rps, p99, pb, gb, fo []float64
	for _, r := range rs {
		rps = append(rps, r.RPS)
		p99 = append(p99, r.Latency.P99)
		pb = append(pb, r.busy(peerCPU))
		gb = append(gb, r.busy(genCPU))
		if r.ForeignCPU != nil {
			fo = append(fo, *r.ForeignCPU)
		}
		if r.Noisy {
			c.noisy++
		}
		c.errors += r.Errors
		c.ok += r.OK
		for k, v := range r.ErrorKinds {
			c.errKinds[k] += v
		}
		if r.TLS != nil && c.version == "" {
			c.version, c.cipher, c.gr, c.alpn = r.TLS.Version, r.TLS.Cipher, r.TLS.Group, r.TLS.ALPN
		}
	}
	c.med, c.lo, c.hi = median(rps), slices.Min(rps), slices.Max(rps)
	c.p99, c.peerBusy, c.genBusy = median(p99), median(pb), median(gb)
	c.foreign = -1
	if len(fo) > 0 {
		c.foreign = median(fo)
	}
	return c
}

// thousands formats n with thin separators: 12345 -> "12,345".
func thousands(f float64) string {
	s := fmt.Sprintf("%.0f", f)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, ch := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(ch)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// Ratio is base ok/s divided by the peer's, or "n/a".
func ratio(base, peer *cell) string {
	if base == nil || peer == nil || peer.med <= 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2f", base.med/peer.med)
}
