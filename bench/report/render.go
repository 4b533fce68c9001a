package main

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// generatorBound is the CPU pattern of a run limited by core 1 (generator +
// upstream) rather than by the peer: the generator's core is saturated while
// the peer's is not.
func generatorBound(c *cell) bool { return c.genBusy >= 95 && c.peerBusy < 90 }

func render(o *options, runs map[string][]*run, versions string) string {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	cells := map[string]*cell{}
	for _, w := range o.workloads {
		for _, peer := range o.peers {
			if c := summarize(runs[w+"/"+peer], o.peerCPU, o.genCPU); c != nil {
				cells[w+"/"+peer] = c
			}
		}
	}

	p("## Results\n\n")
	if o.date != "" {
		p("- date: %s\n", o.date)
	}
	p("- command: `%s`\n", o.command)
	if o.settings != "" {
		p("- settings: %s\n", o.settings)
	}
	p("- placement: peers on %s (one worker/thread, GOMAXPROCS=1); load generator and upstream on %s\n\n", o.peerCPU, o.genCPU)

	p("### Throughput: median ok req/s (min..max over runs), median p99 latency\n\n")
	tableHead := func() {
		p("| peer |")
		for _, w := range o.workloads {
			p(" %s |", w)
		}
		p("\n|---|")
		for range o.workloads {
			p("---|")
		}
		p("\n")
	}
	tableHead()
	for _, peer := range o.peers {
		p("| %s |", peer)
		for _, w := range o.workloads {
			c := cells[w+"/"+peer]
			if c == nil {
				p(" n/a |")
				continue
			}
			p(" %s (%s..%s), p99 %.2f ms", thousands(c.med), thousands(c.lo), thousands(c.hi), c.p99)
			if c.errors > 0 {
				p(", **%d errors**", c.errors)
			}
			if generatorBound(c) {
				p(", gen-bound")
			}
			if c.noisy > 0 {
				p(", %d noisy", c.noisy)
			}
			p(" |")
		}
		p("\n")
	}

	p("\n### Ratios (%s ok/s divided by the peer's; > 1 means %s is faster)\n\n```text\n", o.base, o.base)
	for _, w := range o.workloads {
		for _, peer := range o.peers {
			if peer == o.base {
				continue
			}
			p("ratio %s vs %s: %s\n", w, peer, ratio(cells[w+"/"+o.base], cells[w+"/"+peer]))
		}
	}
	p("```\n")

	p("\n### CPU during the measured window (median %%: peer core / generator+upstream core / foreign)\n\n")
	p("A cell marked gen-bound had the generator's core saturated (>= 95%%) while the peer's core was not (< 90%%):\n")
	p("that run measured the generator, not the peer, and its ratio is a lower bound on the gap.\n")
	p("Foreign is CPU used by processes other than the peer, the upstream and the generator, in %% of one core;\n")
	p("a run above the noise threshold is repeated, and cells with runs still marked noisy say so.\n\n")
	tableHead()
	for _, peer := range o.peers {
		p("| %s |", peer)
		for _, w := range o.workloads {
			if c := cells[w+"/"+peer]; c != nil {
				p(" %.0f / %.0f", c.peerBusy, c.genBusy)
				if c.foreign >= 0 {
					p(" / %.0f", c.foreign)
				}
				p(" |")
			} else {
				p(" n/a |")
			}
		}
		p("\n")
	}

	p("\n### Negotiated TLS (first handshake of the first run)\n\n| workload | peer | version | cipher | group | ALPN |\n|---|---|---|---|---|---|\n")
	for _, w := range o.workloads {
		for _, peer := range o.peers {
			if c := cells[w+"/"+peer]; c != nil {
				p("| %s | %s | %s | %s | %s | %s |\n", w, peer, c.version, c.cipher, c.gr, c.alpn)
			}
		}
	}

	var errLines []string
	for _, w := range o.workloads {
		for _, peer := range o.peers {
			c := cells[w+"/"+peer]
			if c == nil || c.errors == 0 {
				continue
			}
			var kinds []string
			for _, k := range slices.Sorted(maps.Keys(c.errKinds)) {
				kinds = append(kinds, fmt.Sprintf("%s=%d", k, c.errKinds[k]))
			}
			errLines = append(errLines, fmt.Sprintf("- %s / %s: %d errors over %d runs (%s)", w, peer, c.errors, c.n, strings.Join(kinds, ", ")))
		}
	}
	p("\n### Errors\n\n")
	if len(errLines) == 0 {
		p("None: every measured request got a 2xx.\n")
	} else {
		p("%s\n", strings.Join(errLines, "\n"))
	}

	idle := false
	for _, peer := range o.peers {
		if len(runs["idle/"+peer]) > 0 {
			idle = true
		}
	}
	if idle {
		p("\n### Idle connections: resident memory with many open mTLS connections\n\n")
		p("Each connection did a full mTLS handshake and one request, then sat idle; RSS is VmRSS from /proc/PID/status (nginx: master + worker).\n\n")
		p("| peer | connections open | RSS before | RSS with connections | per connection |\n|---|---|---|---|---|\n")
		for _, peer := range o.peers {
			for _, r := range runs["idle/"+peer] {
				i := r.Idle
				if i == nil {
					continue
				}
				if i.RSSError != "" {
					p("| %s | %d of %d | n/a | n/a | %s |\n", peer, i.Opened, i.Requested, i.RSSError)
					continue
				}
				p("| %s | %s of %s | %.1f MiB | %.1f MiB | %.1f KiB |\n", peer, thousands(float64(i.Opened)),
					thousands(float64(i.Requested)), float64(i.RSSBeforeKB)/1024, float64(i.RSSAfterKB)/1024, i.PerConnKB)
			}
		}
	}
	if versions != "" {
		p("\n### Versions\n\n```text\n%s", versions)
		if !strings.HasSuffix(versions, "\n") {
			p("\n")
		}
		p("```\n")
	}
	return b.String()
}
