package stats

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// clock is a settable time source safe for concurrent use.
type clock struct{ ns atomic.Int64 }

func newClock(t time.Time) *clock {
	c := &clock{}
	c.ns.Store(t.UnixNano())
	return c
}

func (c *clock) Now() time.Time                  { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) Add(d time.Duration)             { c.ns.Add(int64(d)) }
func (c *clock) Set(t time.Time)                 { c.ns.Store(t.UnixNano()) }
func (c *clock) Since(d time.Duration) time.Time { return c.Now().Add(-d) }

var t0 = time.Date(2026, 3, 1, 12, 0, 30, 0, time.UTC)

func newTest(t testing.TB, o Options) (*Stats, *clock) {
	t.Helper()
	c := newClock(t0)
	o.Now = c.Now
	return New(o), c
}

// settle runs the maintenance a slot rotation starts in the background
// (folding, dropping, evicting) now, so a test can rely on its effects.
func settle(s *Stats) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.maintain(s.nowNs())
}

func findRoute(t testing.TB, r Report, name string) RouteStats {
	t.Helper()
	for _, rs := range r.Routes {
		if rs.Route == name {
			return rs
		}
	}
	t.Fatalf("route %q not in report %+v", name, r.Routes)
	return RouteStats{}
}

func findIdentity(t testing.TB, rs RouteStats, name string) IdentityStats {
	t.Helper()
	for _, is := range rs.Identities {
		if is.Identity == name {
			return is
		}
	}
	t.Fatalf("identity %q not in route %q: %+v", name, rs.Route, rs.Identities)
	return IdentityStats{}
}

func total(r Report) (n uint64) {
	for _, rs := range r.Routes {
		n += rs.Requests
	}
	return n
}

func TestCountsAndStatusClasses(t *testing.T) {
	s, _ := newTest(t, Options{})
	for _, st := range []int{200, 201, 204, 301, 304, 400, 403, 404, 500, 502, 101, 0, 999} {
		s.Record("orders", "CN=alice", st, time.Millisecond, 10, 100)
	}
	s.Record("orders", "CN=bob", 200, time.Millisecond, -1, -1) // unknown sizes count as 0
	s.Record("orders", "", 200, time.Millisecond, 0, 7)
	s.Record("", "CN=alice", 404, time.Millisecond, 0, 0)

	r := s.Snapshot(Query{})
	orders := findRoute(t, r, "orders")
	want := Summary{Requests: 15, Errors: Errors{S4xx: 3, S5xx: 2},
		Status:  Status{S1xx: 1, S2xx: 5, S3xx: 2, S4xx: 3, S5xx: 2, Other: 2},
		BytesIn: 130, BytesOut: 1307}
	got := orders.Summary
	got.LatencyMS = Latency{}
	if got != want {
		t.Fatalf("orders: got %+v\nwant %+v", got, want)
	}
	alice := findIdentity(t, orders, "CN=alice")
	if alice.Requests != 13 || alice.Status.Other != 2 || alice.BytesIn != 130 || alice.BytesOut != 1300 {
		t.Fatalf("alice: %+v", alice)
	}
	if bob := findIdentity(t, orders, "CN=bob"); bob.BytesIn != 0 || bob.BytesOut != 0 {
		t.Fatalf("bob bytes: %+v", bob)
	}
	if anon := findIdentity(t, orders, AnonymousIdentity); anon.Requests != 1 || anon.BytesOut != 7 {
		t.Fatalf("anonymous: %+v", anon)
	}
	if none := findRoute(t, r, NoRoute); none.Requests != 1 || none.Status.S4xx != 1 {
		t.Fatalf("(none): %+v", none)
	}
	// Identities: by requests, then name.
	var names []string
	for _, is := range orders.Identities {
		names = append(names, is.Identity)
	}
	if strings.Join(names, "|") != "CN=alice|(anonymous)|CN=bob" {
		t.Fatalf("identity order %q", names)
	}
	if r.Routes[0].Route != NoRoute || r.Routes[1].Route != "orders" {
		t.Fatalf("route order %q, %q", r.Routes[0].Route, r.Routes[1].Route)
	}
}

func TestWindows(t *testing.T) {
	s, c := newTest(t, Options{})
	start := c.Now()
	s.Record("orders", "CN=old", 200, time.Millisecond, 0, 0) // will be 2h old
	c.Add(90 * time.Minute)
	s.Record("orders", "CN=mid", 200, time.Millisecond, 0, 0) // 30m old
	c.Add(29 * time.Minute)
	s.Record("orders", "CN=new", 200, time.Millisecond, 0, 0) // 1m old
	c.Add(time.Minute)
	now := c.Now()
	if now.Sub(start) != 2*time.Hour {
		t.Fatal("clock")
	}

	names := func(r Report) string {
		var out []string
		for _, rs := range r.Routes {
			for _, is := range rs.Identities {
				out = append(out, is.Identity)
			}
		}
		return strings.Join(out, ",")
	}
	for _, c := range []struct {
		window     time.Duration
		want       string
		from       time.Time
		wantWindow string
	}{
		{30 * time.Second, "", time.Date(2026, 3, 1, 14, 0, 0, 0, time.UTC), "30s"},
		{time.Minute, "CN=new", time.Date(2026, 3, 1, 13, 59, 0, 0, time.UTC), "1m0s"},
		{time.Hour, "CN=mid,CN=new", time.Date(2026, 3, 1, 13, 0, 0, 0, time.UTC), "1h0m0s"},
		{119 * time.Minute, "CN=mid,CN=new", time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), "1h59m0s"},
		{3 * time.Hour, "CN=mid,CN=new,CN=old", time.Date(2026, 3, 1, 11, 0, 0, 0, time.UTC), "3h0m0s"},
		{48 * time.Hour, "CN=mid,CN=new,CN=old", time.Date(2026, 2, 28, 14, 0, 0, 0, time.UTC), "24h0m0s"},
	} {
		r := s.Snapshot(Query{Window: c.window})
		if got := names(r); got != c.want {
			t.Errorf("window %v: identities %q, want %q", c.window, got, c.want)
		}
		if !r.From.Equal(c.from) || !r.To.Equal(now) || r.Window.String() != c.wantWindow {
			t.Errorf("window %v: from %v to %v window %v; want from %v to %v", c.window, r.From, r.To, r.Window, c.from, now)
		}
	}
	// The "old" request sits in the coarse hour 12:00–13:00; a window
	// starting in that hour reads all of it (and From says so), one
	// starting after the fine span still cuts at the minute.
	if r := s.Snapshot(Query{Window: 61 * time.Minute}); names(r) != "CN=mid,CN=new" || !r.From.Equal(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)) {
		t.Errorf("61m: %q from %v", names(r), r.From)
	}

	// A request exactly at the window start is in; one just before is out.
	s2, c2 := newTest(t, Options{})
	c2.Set(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	s2.Record("r", "CN=edge", 200, time.Millisecond, 0, 0)
	c2.Add(time.Hour)
	if r := s2.Snapshot(Query{Window: time.Hour}); total(r) != 1 {
		t.Errorf("request at now-1h not counted: %+v", r)
	}
	c2.Add(time.Minute)
	if r := s2.Snapshot(Query{Window: time.Hour}); total(r) != 0 {
		t.Errorf("request at now-1h1m counted: %+v", r)
	}
}

// TestFoldKeepsTotals records through a day so fine slots fold into coarse
// ones and checks nothing is lost or counted twice.
func TestFoldKeepsTotals(t *testing.T) {
	s, c := newTest(t, Options{})
	for i := 0; i < 26*60; i += 7 {
		for j := 0; j < 3; j++ {
			s.Record(fmt.Sprintf("r%d", j), fmt.Sprintf("CN=c%d", i%5), 200+100*(i%4), time.Duration(i)*time.Millisecond, 1, 2)
		}
		c.Add(7 * time.Minute)
	}
	r := s.Snapshot(Query{Window: 24 * time.Hour})
	var got, sumIdent uint64
	for _, rs := range r.Routes {
		got += rs.Requests
		for _, is := range rs.Identities {
			sumIdent += is.Requests
		}
		if rs.BytesIn != rs.Requests || rs.BytesOut != 2*rs.Requests {
			t.Fatalf("bytes of %s: %+v", rs.Route, rs.Summary)
		}
	}
	from, start := r.From, r.To.Add(-24*time.Hour)
	if from.Minute() != 0 || from.After(start) || start.Sub(from) >= time.Hour {
		t.Fatalf("from %v to %v", from, r.To)
	}
	// Everything recorded in [To-24h, To] is counted, nothing before From.
	var atLeast, atMost uint64
	at := t0
	for i := 0; i < 26*60; i += 7 {
		if !at.Before(start) {
			atLeast += 3
		}
		if !at.Before(from) {
			atMost += 3
		}
		at = at.Add(7 * time.Minute)
	}
	if got < atLeast || got > atMost || sumIdent != got {
		t.Fatalf("requests %d, identities sum %d, want %d..%d", got, sumIdent, atLeast, atMost)
	}
	s.mu.Lock()
	nf, nc := len(s.fine), len(s.coarse)
	s.mu.Unlock()
	if nf > 61 || nc > 25 || nf+nc+2 > s.MaxSlots() {
		t.Fatalf("%d fine and %d coarse slots kept, MaxSlots %d", nf, nc, s.MaxSlots())
	}
}

func TestMaxKeysOther(t *testing.T) {
	s, c := newTest(t, Options{MaxKeys: 3, Retention: 2 * time.Hour})
	for _, id := range []string{"a", "b", "c", "d", "e"} {
		s.Record("orders", id, 200, time.Millisecond, 0, 0)
	}
	s.Record("users", "a", 200, time.Millisecond, 0, 0) // a new (route, identity): over the bound
	s.Record("orders", "a", 200, time.Millisecond, 0, 0)

	ids := func(r Report, route string) map[string]uint64 {
		m := map[string]uint64{}
		for _, rs := range r.Routes {
			if rs.Route == route {
				for _, is := range rs.Identities {
					m[is.Identity] = is.Requests
				}
			}
		}
		return m
	}
	r := s.Snapshot(Query{})
	if got := ids(r, "orders"); fmt.Sprint(got) != "map[(other):2 a:2 b:1 c:1]" {
		t.Fatalf("orders identities %v", got)
	}
	if got := ids(r, "users"); fmt.Sprint(got) != "map[(other):1]" {
		t.Fatalf("users identities %v", got)
	}

	// The bound holds across slots: an hour later the old cells still have
	// data in the window, so a newcomer is still "(other)".
	c.Add(time.Hour)
	s.Record("orders", "f", 200, time.Millisecond, 0, 0)
	s.Record("orders", "a", 200, time.Millisecond, 0, 0)
	if got := ids(s.Snapshot(Query{Window: 2 * time.Hour}), "orders"); fmt.Sprint(got) != "map[(other):3 a:3 b:1 c:1]" {
		t.Fatalf("after 1h: %v", got)
	}
	s.mu.Lock()
	named := s.namedKeys
	s.mu.Unlock()
	if named != 3 {
		t.Fatalf("%d named keys, MaxKeys 3", named)
	}

	// Once b and c have no data left they are dropped and new identities
	// get cells of their own again; a keeps its cell. Data lives in its
	// coarse hour until that hour ends Retention ago: 12:00–13:00 is gone
	// at 15:00.
	c.Set(time.Date(2026, 3, 1, 15, 0, 0, 0, time.UTC))
	settle(s)
	s.Record("orders", "g", 200, time.Millisecond, 0, 0)
	s.Record("orders", "a", 200, time.Millisecond, 0, 0)
	got := ids(s.Snapshot(Query{Window: 2 * time.Hour}), "orders")
	if fmt.Sprint(got) != "map[(other):1 a:2 g:1]" {
		t.Fatalf("after eviction: %v", got)
	}
}

// TestIDReuse checks that a key taking over a freed id does not inherit
// the data of the key that had it.
func TestIDReuse(t *testing.T) {
	s, c := newTest(t, Options{MaxKeys: 1, Retention: time.Hour, FineSpan: time.Hour, Slot: time.Minute})
	s.Record("r", "old", 200, time.Second, 5, 5)
	c.Add(62 * time.Minute)
	settle(s)
	s.Record("r", "new", 500, time.Millisecond, 1, 1)
	r := s.Snapshot(Query{Window: time.Hour})
	rs := findRoute(t, r, "r")
	if len(rs.Identities) != 1 || rs.Identities[0].Identity != "new" || rs.Identities[0].Requests != 1 || rs.Identities[0].BytesIn != 1 || rs.Requests != 1 {
		t.Fatalf("after reuse: %+v", rs)
	}
	s.mu.Lock()
	k := s.keyByID[0].Load()
	s.mu.Unlock()
	if k == nil || k.name != "new" {
		t.Fatalf("id 0 is %+v, want the reused id", k)
	}
}

func TestMaxRoutes(t *testing.T) {
	s, _ := newTest(t, Options{MaxRoutes: 2})
	for _, rt := range []string{"a", "b", "c", "d", "a"} {
		s.Record(rt, "CN=x", 200, time.Millisecond, 0, 0)
	}
	r := s.Snapshot(Query{})
	if len(r.Routes) != 3 || findRoute(t, r, OtherRoute).Requests != 2 || findRoute(t, r, "a").Requests != 2 {
		t.Fatalf("routes %+v", r.Routes)
	}
}

func TestLongNamesAreCut(t *testing.T) {
	s, _ := newTest(t, Options{})
	long := strings.Repeat("x", 3000)
	s.Record("r", long, 200, time.Millisecond, 0, 0)
	s.Record("r", long+"y", 200, time.Millisecond, 0, 0)
	is := findRoute(t, s.Snapshot(Query{}), "r").Identities
	if len(is) != 1 || len(is[0].Identity) != MaxNameLen || is[0].Requests != 2 {
		t.Fatalf("identities %d, first %d bytes", len(is), len(is[0].Identity))
	}
	if r := s.Snapshot(Query{Identity: long}); total(r) != 2 {
		t.Fatal("query by the uncut name finds nothing")
	}
}

func TestQueryFilters(t *testing.T) {
	s, _ := newTest(t, Options{})
	for i := 0; i < 5; i++ {
		for j := 0; j <= i; j++ {
			s.Record("orders", fmt.Sprintf("CN=c%d", i), 200, time.Millisecond, 0, 0)
		}
	}
	s.Record("users", "CN=c1", 500, time.Millisecond, 0, 0)
	s.Record("legacy", "CN=c4", 200, time.Millisecond, 0, 0)

	r := s.Snapshot(Query{Limit: 2})
	orders := findRoute(t, r, "orders")
	if len(orders.Identities) != 2 || !orders.IdentitiesTruncated || orders.Identities[0].Identity != "CN=c4" || orders.Identities[1].Identity != "CN=c3" {
		t.Fatalf("limit 2: %+v", orders.Identities)
	}
	if findRoute(t, r, "users").IdentitiesTruncated {
		t.Fatal("users truncated")
	}
	// Who still calls "legacy"?
	if r := s.Snapshot(Query{Route: "legacy"}); len(r.Routes) != 1 || r.Routes[0].Identities[0].Identity != "CN=c4" {
		t.Fatalf("route filter: %+v", r.Routes)
	}
	// What does c1 call? Route totals stay whole-route.
	r = s.Snapshot(Query{Identity: "CN=c1"})
	if len(r.Routes) != 2 || r.Routes[0].Route != "orders" || r.Routes[0].Requests != 15 || len(r.Routes[0].Identities) != 1 ||
		r.Routes[0].Identities[0].Requests != 2 || r.Routes[1].Route != "users" {
		t.Fatalf("identity filter: %+v", r.Routes)
	}
	if r := s.Snapshot(Query{Route: "nope"}); len(r.Routes) != 0 {
		t.Fatalf("unknown route: %+v", r.Routes)
	}
	if b, _ := json.Marshal(s.Snapshot(Query{Route: "nope"})); !strings.Contains(string(b), `"routes":[]`) {
		t.Fatalf("empty routes not []: %s", b)
	}
}

func TestLatencyReport(t *testing.T) {
	s, _ := newTest(t, Options{})
	for i := 1; i <= 100; i++ {
		s.Record("r", "CN=a", 200, time.Duration(i)*time.Millisecond, 0, 0)
	}
	rs := findRoute(t, s.Snapshot(Query{}), "r")
	for _, c := range []struct {
		got, exact float64
	}{{rs.LatencyMS.P50, 50}, {rs.LatencyMS.P95, 95}, {rs.LatencyMS.P99, 99}} {
		if d := c.got/c.exact - 1; d > 1.0/17 || d < -1.0/17 {
			t.Errorf("route percentile %v, exact %v", c.got, c.exact)
		}
	}
	// The only caller: the identity gets the route's precision.
	if rs.Identities[0].LatencyMS != rs.LatencyMS {
		t.Errorf("sole identity %+v, route %+v", rs.Identities[0].LatencyMS, rs.LatencyMS)
	}
}

// TestGoldenJSON pins the JSON shape and ordering.
func TestGoldenJSON(t *testing.T) {
	s, _ := newTest(t, Options{})
	for i := 0; i < 3; i++ {
		s.Record("orders", "CN=alice,O=Example", 200, 10*time.Millisecond, 100, 2000)
	}
	s.Record("orders", "CN=alice,O=Example", 503, 250*time.Millisecond, 0, 50)
	s.Record("orders", "CN=bob,O=Example", 404, 2*time.Millisecond, 0, 120)
	s.Record("users", "", 200, 1500*time.Microsecond, 0, 300)
	got, err := json.MarshalIndent(s.Snapshot(Query{Window: time.Hour}), "", " ")
	if err != nil {
		t.Fatal(err)
	}
	const want = `{
 "window": "1h0m0s",
 "from": "2026-03-01T11:00:00Z",
 "to": "2026-03-01T12:00:30Z",
 "routes": [
  {
   "route": "orders",
   "requests": 5,
   "errors": {
    "4xx": 1,
    "5xx": 1
   },
   "status": {
    "2xx": 3,
    "3xx": 0,
    "4xx": 1,
    "5xx": 1
   },
   "latency_ms": {
    "p50": 9.933878,
    "p95": 242.98037,
    "p99": 242.98037
   },
   "bytes_in": 300,
   "bytes_out": 6170,
   "identities": [
    {
     "identity": "CN=alice,O=Example",
     "requests": 4,
     "errors": {
      "4xx": 0,
      "5xx": 1
     },
     "status": {
      "2xx": 3,
      "3xx": 0,
      "4xx": 0,
      "5xx": 1
     },
     "latency_ms": {
      "p50": 9.933878,
      "p95": 242.98037,
      "p99": 242.98037
     },
     "bytes_in": 300,
     "bytes_out": 6050
    },
    {
     "identity": "CN=bob,O=Example",
     "requests": 1,
     "errors": {
      "4xx": 1,
      "5xx": 0
     },
     "status": {
      "2xx": 0,
      "3xx": 0,
      "4xx": 1,
      "5xx": 0
     },
     "latency_ms": {
      "p50": 2.029502,
      "p95": 2.029502,
      "p99": 2.029502
     },
     "bytes_in": 0,
     "bytes_out": 120
    }
   ],
   "identities_truncated": false
  },
  {
   "route": "users",
   "requests": 1,
   "errors": {
    "4xx": 0,
    "5xx": 0
   },
   "status": {
    "2xx": 1,
    "3xx": 0,
    "4xx": 0,
    "5xx": 0
   },
   "latency_ms": {
    "p50": 1.504479,
    "p95": 1.504479,
    "p99": 1.504479
   },
   "bytes_in": 0,
   "bytes_out": 300,
   "identities": [
    {
     "identity": "(anonymous)",
     "requests": 1,
     "errors": {
      "4xx": 0,
      "5xx": 0
     },
     "status": {
      "2xx": 1,
      "3xx": 0,
      "4xx": 0,
      "5xx": 0
     },
     "latency_ms": {
      "p50": 1.504479,
      "p95": 1.504479,
      "p99": 1.504479
     },
     "bytes_in": 0,
     "bytes_out": 300
    }
   ],
   "identities_truncated": false
  }
 ]
}`
	if string(got) != want {
		t.Fatalf("JSON:\n%s", got)
	}
	// Deterministic: the same state marshals to the same bytes.
	again, _ := json.MarshalIndent(s.Snapshot(Query{Window: time.Hour}), "", " ")
	if string(again) != want {
		t.Fatal("second snapshot differs")
	}
}

func TestRecordNilStats(t *testing.T) {
	var s *Stats
	s.Record("r", "i", 200, time.Millisecond, 0, 0) // must not panic
	s.RecordAt(time.Now(), "r", "i", 200, time.Millisecond, 0, 0)
}

func TestRecordAt(t *testing.T) {
	s, c := newTest(t, Options{})
	s.RecordAt(c.Now(), "r", "CN=a", 200, time.Millisecond, 0, 0)
	s.RecordAt(c.Now().Add(-3*time.Hour), "r", "CN=late", 200, time.Millisecond, 0, 0) // counted now
	s.RecordAt(c.Now().Add(2*time.Minute), "r", "CN=ahead", 200, time.Millisecond, 0, 0)
	c.Add(2 * time.Minute)
	r := s.Snapshot(Query{Window: time.Minute})
	if rs := findRoute(t, r, "r"); rs.Requests != 1 || rs.Identities[0].Identity != "CN=ahead" {
		t.Fatalf("1m: %+v", rs)
	}
	if r := s.Snapshot(Query{Window: 5 * time.Minute}); total(r) != 3 {
		t.Fatalf("5m: %d requests", total(r))
	}
	if n := testing.AllocsPerRun(100, func() { s.RecordAt(c.Now(), "r", "CN=a", 200, time.Millisecond, 1, 1) }); n != 0 {
		t.Fatalf("%v allocations", n)
	}
}

// TestRecordAllocs: a (route, identity) already seen in the current slot
// costs no allocation.
func TestRecordAllocs(t *testing.T) {
	s, _ := newTest(t, Options{})
	route, ident := "orders", strings.Clone("CN=alice,O=Example")
	s.Record(route, ident, 200, time.Millisecond, 1, 1)
	s.Record(route, "", 200, time.Millisecond, 1, 1)
	if n := testing.AllocsPerRun(1000, func() {
		s.Record(route, ident, 200, 3*time.Millisecond, 10, 100)
		s.Record(route, "", 503, time.Second, 0, 0)
	}); n != 0 {
		t.Fatalf("%v allocations per Record", n)
	}
	// Over MaxKeys, new identities go to "(other)" without allocating.
	s2, _ := newTest(t, Options{MaxKeys: 1})
	s2.Record(route, "first", 200, time.Millisecond, 0, 0)
	s2.Record(route, "second", 200, time.Millisecond, 0, 0)
	names := make([]string, 2000)
	for i := range names {
		names[i] = fmt.Sprintf("CN=client-%d", i)
	}
	i := 0
	if n := testing.AllocsPerRun(1000, func() {
		s2.Record(route, names[i%len(names)], 200, time.Millisecond, 0, 0)
		i++
	}); n != 0 {
		t.Fatalf("%v allocations per overflowing Record", n)
	}
}

// TestConcurrent records from many goroutines while snapshots run and the
// clock moves through slot rotations, folds and evictions; run with -race.
// Every request recorded is counted exactly once.
func TestConcurrent(t *testing.T) {
	s, c := newTest(t, Options{Slot: time.Second, FineSpan: 5 * time.Second, CoarseSlot: 10 * time.Second, Retention: time.Hour, MaxKeys: 50})
	const workers, phases, perPhase = 8, 40, 300
	var stop atomic.Bool
	var snaps sync.WaitGroup
	for i := 0; i < 2; i++ {
		snaps.Add(1)
		go func() {
			defer snaps.Done()
			for !stop.Load() {
				r := s.Snapshot(Query{Window: time.Duration(1+i) * 7 * time.Second, Limit: 5})
				for _, rs := range r.Routes {
					var sum uint64
					for _, is := range rs.Identities {
						sum += is.Requests
					}
					if !rs.IdentitiesTruncated && sum > rs.Requests {
						t.Errorf("identities of %s sum to %d > %d", rs.Route, sum, rs.Requests)
					}
				}
			}
		}()
	}
	for p := 0; p < phases; p++ {
		var wg sync.WaitGroup
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < perPhase; i++ {
					s.Record(fmt.Sprintf("r%d", i%3), fmt.Sprintf("CN=%d", (w*perPhase+i+p)%80), 200+100*(i%4), time.Duration(i)*time.Microsecond, 1, 1)
					if i%100 == 0 && w == 0 {
						c.Add(300 * time.Millisecond) // rotate while others record
					}
				}
			}()
		}
		wg.Wait()
		c.Add(200 * time.Millisecond)
	}
	stop.Store(true)
	snaps.Wait()
	r := s.Snapshot(Query{Window: time.Hour})
	if got, want := total(r), uint64(workers*phases*perPhase); got != want {
		t.Fatalf("counted %d requests, recorded %d", got, want)
	}
	var sumIdent uint64
	for _, rs := range r.Routes {
		for _, is := range rs.Identities {
			sumIdent += is.Requests
		}
	}
	if sumIdent != total(r) {
		t.Fatalf("identities sum %d, routes %d", sumIdent, total(r))
	}
}

// TestConcurrentEviction churns keys through eviction and id reuse while
// recording and reading. Each identity always sends the same, identity-
// specific bytes_in, so a cell that inherited another identity's data
// would show bytes_in that is not a multiple of that size, and a torn read
// would show bytes for fewer or more requests than counted. While Records
// run, a snapshot may count a request that is between its own adds: at
// most one per worker. Once they stop, the figures must match exactly.
func TestConcurrentEviction(t *testing.T) {
	s, c := newTest(t, Options{Slot: time.Second, FineSpan: 2 * time.Second, CoarseSlot: 2 * time.Second,
		Retention: 4 * time.Second, MaxKeys: 20, MaxRoutes: 3})
	const workers = 4
	size := func(i int) int64 { return int64(1 + i*7) }
	var stop atomic.Bool
	var wg sync.WaitGroup
	inFlight := uint64(workers)
	check := func(r Report) {
		for _, rs := range r.Routes {
			seen := map[string]bool{}
			var sum uint64
			for _, is := range rs.Identities {
				sum += is.Requests
				if seen[is.Identity] {
					t.Errorf("%s listed twice under %s", is.Identity, rs.Route)
				}
				seen[is.Identity] = true
				if is.Identity == OtherIdentity {
					continue
				}
				var i int
				if _, err := fmt.Sscanf(is.Identity, "CN=%d", &i); err != nil {
					t.Errorf("unexpected identity %q", is.Identity)
					continue
				}
				sz := uint64(size(i))
				if n := is.BytesIn / sz; is.BytesIn%sz != 0 || n > is.Requests+inFlight || n+inFlight < is.Requests {
					t.Errorf("%s on %s: %d bytes in %d requests of %d", is.Identity, rs.Route, is.BytesIn, is.Requests, sz)
				}
			}
			if !rs.IdentitiesTruncated && sum != rs.Requests {
				t.Errorf("%s: identities sum %d, route %d", rs.Route, sum, rs.Requests)
			}
		}
	}
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; !stop.Load(); n++ {
				i := (n*7 + w*13) % 60
				s.Record(fmt.Sprintf("r%d", (i+n)%5), fmt.Sprintf("CN=%d", i), 200, time.Millisecond, size(i), 0)
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !stop.Load() {
			check(s.Snapshot(Query{Window: 4 * time.Second}))
		}
	}()
	for i := 0; i < 300; i++ {
		c.Add(100 * time.Millisecond)
		time.Sleep(time.Millisecond)
	}
	stop.Store(true)
	wg.Wait()
	inFlight = 0
	check(s.Snapshot(Query{Window: 4 * time.Second}))
	s.mu.Lock()
	named, routes := s.namedKeys, s.namedRoute
	s.mu.Unlock()
	if named > 20 || routes > 3 {
		t.Fatalf("%d named keys, %d routes: over the bounds", named, routes)
	}
}
