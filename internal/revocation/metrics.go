package revocation

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// stripedCounter is a counter spread over cache lines, picked by a byte of
// the certificate, so that handshakes on many cores do not all increment
// one contended word.
type stripedCounter struct {
	cells [16]struct {
		v atomic.Uint64
		_ [56]byte
	}
}

func (s *stripedCounter) add(key []byte, n uint64) {
	i := 0
	if len(key) > 0 {
		i = int(key[len(key)-1]) & 15
	}
	s.cells[i].v.Add(n)
}

func (s *stripedCounter) load() uint64 {
	var n uint64
	for i := range s.cells {
		n += s.cells[i].v.Load()
	}
	return n
}

const ns = "mtlsgate_revocation_"

// metricDescs are the descriptors of one checker (the listener name is a
// constant label, so that one registry can hold every listener's).
type metricDescs struct {
	age, entries, nextUpdate, lastSuccess, loads *prometheus.Desc
	ocspRequests, ocspCache, decisions, failOpen *prometheus.Desc
}

func (c *Checker) descs() *metricDescs {
	cl := prometheus.Labels{"listener": c.cfg.Name}
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(ns+name, help, labels, cl)
	}
	return &metricDescs{
		age:          d("crl_age_seconds", "Seconds since the thisUpdate of the CRL in force, per CRL source.", "source"),
		entries:      d("crl_entries", "Revoked certificates listed by the CRL in force, per CRL source.", "source"),
		nextUpdate:   d("crl_next_update_timestamp_seconds", "nextUpdate of the CRL in force (Unix time), per CRL source.", "source"),
		lastSuccess:  d("crl_last_success_timestamp_seconds", "Last time the CRL source was loaded or found unchanged (Unix time).", "source"),
		loads:        d("crl_loads_total", "CRL load attempts per source and result (ok, unchanged, error).", "source", "result"),
		ocspRequests: d("ocsp_requests_total", "OCSP lookups by result: hit (fresh cached answer), miss (none cached), error (failed query).", "result"),
		ocspCache:    d("ocsp_cache_entries", "Certificates in the OCSP answer cache."),
		decisions:    d("decisions_total", "Revocation decisions by code (ok when the certificate passed).", "code"),
		failOpen:     d("fail_open_total", "Certificates allowed only because a fail_open rule applied."),
	}
}

// Describe implements prometheus.Collector.
func (c *Checker) Describe(ch chan<- *prometheus.Desc) {
	d := c.descs()
	for _, x := range []*prometheus.Desc{d.age, d.entries, d.nextUpdate, d.lastSuccess, d.loads, d.ocspRequests, d.ocspCache, d.decisions, d.failOpen} {
		ch <- x
	}
}

// Collect implements prometheus.Collector.
func (c *Checker) Collect(ch chan<- prometheus.Metric) {
	d := c.descs()
	now := c.cfg.Now()
	gauge := func(desc *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, v, labels...)
	}
	counter := func(desc *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, float64(v), labels...)
	}
	for _, s := range c.allSources() {
		s.mu.Lock()
		l, lastOK := s.current, s.lastOK
		s.mu.Unlock()
		if l != nil {
			gauge(d.age, now.Sub(unixUTC(l.thisUpdate)).Seconds(), s.label)
			gauge(d.entries, float64(l.count), s.label)
			if l.hasNext {
				gauge(d.nextUpdate, float64(l.nextUpdate), s.label)
			}
		}
		if !lastOK.IsZero() {
			gauge(d.lastSuccess, float64(lastOK.UnixNano())/1e9, s.label)
		}
		counter(d.loads, s.loadsOK.Load(), s.label, "ok")
		counter(d.loads, s.loadsUnchanged.Load(), s.label, "unchanged")
		counter(d.loads, s.loadsErr.Load(), s.label, "error")
	}
	counter(d.ocspRequests, c.ocspHits.load(), "hit")
	counter(d.ocspRequests, c.ocspMisses.load(), "miss")
	counter(d.ocspRequests, c.ocspErrors.load(), "error")
	gauge(d.ocspCache, float64(c.ocspLen()))
	for i, code := range Codes {
		if code == CodeOK {
			code = "ok"
		}
		counter(d.decisions, c.decisions[i].load(), code)
	}
	counter(d.failOpen, c.failOpen.load())
}

var _ prometheus.Collector = (*Checker)(nil)
