// Package stats keeps recent request statistics per route and per client
// identity in memory, for the admin API's GET /api/stats: requests, status
// classes, latency p50/p95/p99 and bytes in and out, so an API owner sees
// who calls what, and who still calls a deprecated route. Prometheus stays
// the long-term store; this is the recent view, with the per-identity
// cardinality Prometheus should not hold.
//
// The gateway calls Record once per request; Snapshot (or Handler, its HTTP
// form) answers a Query for a window such as the last hour.
//
// # Time
//
// Requests are added up in time slots, in two tiers:
//
//   - fine: Slot (1m) slots for the last FineSpan (1h);
//   - coarse: older data is folded into CoarseSlot (1h) slots, kept until
//     they ended Retention (24h) ago.
//
// A window up to FineSpan is answered to within one Slot, a longer one to
// within one CoarseSlot; Report.From says where the data read starts. A
// ring of 1440 one-minute slots would hold a day at minute precision for
// 17 times the memory (2.7 GiB instead of 163 MiB at the worst case below),
// a precision nobody needs for data hours old. Slots rotate as Record and
// Snapshot see the clock (Options.Now) move; the folding, dropping and
// eviction a rotation calls for runs in a short-lived goroutine, off the
// request, and again at the start of each Snapshot. There is nothing to
// close.
//
// # Bounds
//
// Cells are kept per (route, identity). At most MaxKeys (10000) of them
// have an identity of their own; once that many are held, new identities
// of a route are counted under "(other)" for that route. The bound is over
// all slots: a cell stays until its newest data has left the last slot, up
// to Retention+CoarseSlot after its last request, and only then makes room.
// Routes are bounded the same way by MaxRoutes (256), beyond which requests
// count under route "(other)". Requests without an identity are reported as
// "(anonymous)", without a route as "(none)"; names are cut to MaxNameLen
// bytes.
//
// # Latency
//
// Latencies go into fixed log-linear histograms (see hist.go), which merge
// exactly across slots. Each route has, per slot, a histogram with 8
// buckets per power of two from 1.024 µs to 137 s: a reported percentile is
// within 1/17 (5.9 %) of the exact nearest-rank percentile. Each
// (route, identity) has a 29-bucket one-per-power-of-two histogram: within
// 1/3 in the worst case, narrowed by the route's histogram to the route's
// precision when the identity is the only caller in that latency range
// (identityQuantile). TestQuantileErrorBound checks both bounds against
// exact percentiles of random samples.
//
// # Memory
//
// A slot holds, for each route with requests in it, an 872-byte histogram
// (896 allocated), and for each (route, identity) with requests in it a
// 160-byte cell (class counts, bytes, the small histogram), allocated in
// chunks of 16 (168 bytes each). The worst case is every cell in every
// slot:
//
//	MaxSlots × (routes × 896 + cells × 168 + 9 × (routes + cells/16))
//	MaxSlots = FineSpan/Slot + 1 + ceil((Retention−FineSpan)/CoarseSlot) + 1 + 2
//
// where routes = MaxRoutes+1 and cells = MaxKeys + routes (each route's
// "(other)"). At the defaults that is 87 slots × 1.87 MiB = 163 MiB (16 KiB
// per cell), plus about 200 bytes and the name for each cell (2.3 MiB).
// TestMemoryWorstCase fills it and measures 161 MiB of heap; MemoryBound
// computes it for any Options. Memory is linear in MaxKeys and in the slot
// count: FineSpan 15m gives 43 slots and 81 MiB, MaxKeys 2000 gives 51 MiB.
// Actual use follows activity, since a slot only holds the cells that had
// requests in it: 500 identities on 10 routes, each calling every minute,
// take 8.3 MiB.
//
// # Concurrency and cost
//
// Everything is safe for concurrent use. Record takes no lock and
// allocates nothing once its (route, identity) has a cell in the current
// slot: a monotonic clock read, one probe of a lock-free hash table keyed
// by (route, identity) and at most five atomic adds (BenchmarkRecord*);
// RecordAt takes the caller's clock reading and saves the first.
// Concurrent requests of one route contend on that route's histogram
// cache lines, as they would on a Prometheus histogram. Snapshot holds an
// internal lock that only maintenance takes, never Record, and reads cells
// with atomic loads; its cost is proportional to the cells in the window.
package stats
