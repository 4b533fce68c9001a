package telemetry

import (
	"container/list"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// ExpiryTracker remembers the client certificates seen most recently (at
// most max of them) and exports, for each, the seconds left until it
// expires. Least recently seen identities are evicted first, so clients
// cycling through certificates cannot grow memory or series without bound.
type ExpiryTracker struct {
	mu    sync.Mutex
	max   int
	ll    *list.List // front = most recent
	items map[string]*list.Element
	desc  *prometheus.Desc
	now   func() time.Time
}

type expiryItem struct {
	fingerprint, subject, serial string
	notAfter                     time.Time
}

// NewExpiryTracker returns a tracker bounded to max identities (max < 1
// means 1000).
func NewExpiryTracker(max int) *ExpiryTracker {
	if max < 1 {
		max = 1000
	}
	return &ExpiryTracker{
		max: max, ll: list.New(), items: map[string]*list.Element{}, now: time.Now,
		desc: prometheus.NewDesc("mtlsgate_client_cert_expiry_seconds",
			"Seconds until the client certificate expires, for the most recently seen client certificates (bounded).",
			[]string{"subject", "serial"}, nil),
	}
}

// Seen records a client certificate by its fingerprint.
func (t *ExpiryTracker) Seen(fingerprint, subject, serial string, notAfter time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e, ok := t.items[fingerprint]; ok {
		t.ll.MoveToFront(e)
		return
	}
	t.items[fingerprint] = t.ll.PushFront(&expiryItem{fingerprint, subject, serial, notAfter})
	for t.ll.Len() > t.max {
		last := t.ll.Back()
		t.ll.Remove(last)
		delete(t.items, last.Value.(*expiryItem).fingerprint)
	}
}

// Len returns the number of tracked identities.
func (t *ExpiryTracker) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.ll.Len()
}

// Describe implements prometheus.Collector.
func (t *ExpiryTracker) Describe(ch chan<- *prometheus.Desc) { ch <- t.desc }

// Collect implements prometheus.Collector.
func (t *ExpiryTracker) Collect(ch chan<- prometheus.Metric) {
	t.mu.Lock()
	items := make([]expiryItem, 0, t.ll.Len())
	for e := t.ll.Front(); e != nil; e = e.Next() {
		items = append(items, *e.Value.(*expiryItem))
	}
	t.mu.Unlock()
	now := t.now()
	seen := map[[2]string]bool{}
	for _, it := range items {
		k := [2]string{it.subject, it.serial}
		if seen[k] {
			continue
		}
		seen[k] = true
		ch <- prometheus.MustNewConstMetric(t.desc, prometheus.GaugeValue, it.notAfter.Sub(now).Seconds(), it.subject, it.serial)
	}
}
