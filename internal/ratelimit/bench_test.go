package ratelimit

import (
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

var benchPolicy = Policy{Name: "api", Requests: 100, Per: time.Minute, Burst: 20}

func benchKeys(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = "spiffe://example.org/client/" + strconv.Itoa(i)
	}
	return keys
}

func BenchmarkAllowHotKey(b *testing.B) {
	l := newLocal(b, benchPolicy, 100_000)
	now := t0
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(time.Microsecond)
		l.Allow("spiffe://example.org/client/hot", now)
	}
}

// 100,000 keys, all held, asked for in random order (cache misses included).
func BenchmarkAllowManyKeys(b *testing.B) {
	keys := benchKeys(100_000)
	l := newLocal(b, benchPolicy, 200_000)
	for _, k := range keys {
		l.Allow(k, t0)
	}
	order := rand.New(rand.NewPCG(1, 1)).Perm(len(keys))
	now, i := t0, 0
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(time.Microsecond)
		l.Allow(keys[order[i]], now)
		if i++; i == len(order) {
			i = 0
		}
	}
}

// Every request from a new key, in a full Local: the eviction path.
func BenchmarkAllowNewKeys(b *testing.B) {
	keys := benchKeys(1 << 20)
	l := newLocal(b, benchPolicy, 10_000)
	for _, k := range keys[:20_000] {
		l.Allow(k, t0)
	}
	now, i := t0, 20_000
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(time.Microsecond)
		l.Allow(keys[i], now)
		if i++; i == len(keys) {
			i = 0
		}
	}
}

// Many goroutines, each with its own clients among 100,000.
func BenchmarkAllowParallel(b *testing.B) {
	keys := benchKeys(100_000)
	l := newLocal(b, benchPolicy, 200_000)
	for _, k := range keys {
		l.Allow(k, t0)
	}
	var seq atomic.Uint64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		r := rand.New(rand.NewPCG(seq.Add(1), 0))
		now := t0
		for pb.Next() {
			now = now.Add(time.Microsecond)
			l.Allow(keys[r.IntN(len(keys))], now)
		}
	})
}

// Many goroutines on one key: the worst case for lock contention.
func BenchmarkAllowParallelHotKey(b *testing.B) {
	l := newLocal(b, benchPolicy, 100_000)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		now := t0
		for pb.Next() {
			now = now.Add(time.Microsecond)
			l.Allow("hot", now)
		}
	})
}

func BenchmarkSetHeaders(b *testing.B) {
	d := Decision{Limit: 20, Reset: 12 * time.Second, RetryAfter: 600 * ms}
	h := http.Header{}
	b.ReportAllocs()
	for b.Loop() {
		SetHeaders(h, benchPolicy, d)
	}
}
