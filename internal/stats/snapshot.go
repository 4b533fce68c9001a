package stats

import (
	"cmp"
	"encoding/json"
	"slices"
	"time"
)

// Query selects what Snapshot reports.
type Query struct {
	// Window is how far back to look (default 1h; at most Retention, longer
	// is cut to Retention).
	Window time.Duration
	// Route limits the report to one route ("" all). Use NoRoute for
	// requests that matched no route.
	Route string
	// Identity limits the identities listed to one ("" all); routes it did
	// not call are left out. Use AnonymousIdentity for anonymous requests.
	// Route-level figures always cover all identities of the route.
	Identity string
	// Limit is how many identities to list per route, busiest first
	// (default 100).
	Limit int
}

// Report is the answer to a Query. It marshals to JSON as
//
//	{"window":"1h0m0s","from":"…","to":"…","routes":[…]}
//
// with from and to in RFC 3339, UTC.
type Report struct {
	Window time.Duration
	// From and To delimit the time covered: every request recorded in
	// [To-Window, To] is counted, none before From. From is To-Window
	// rounded down to the slot containing it (Slot for windows up to
	// FineSpan, CoarseSlot beyond), so a window covers at most one slot
	// more than asked.
	From, To time.Time
	// Routes with requests in the window, by name.
	Routes []RouteStats
}

// RouteStats is one route's figures and its busiest identities.
type RouteStats struct {
	Route string `json:"route"`
	Summary
	// Identities by requests (most first), then name.
	Identities          []IdentityStats `json:"identities"`
	IdentitiesTruncated bool            `json:"identities_truncated"`
}

// IdentityStats is one identity's figures on a route.
type IdentityStats struct {
	Identity string `json:"identity"`
	Summary
}

// Summary is what is counted for a route or an identity.
type Summary struct {
	Requests  uint64  `json:"requests"`
	Errors    Errors  `json:"errors"`
	Status    Status  `json:"status"`
	LatencyMS Latency `json:"latency_ms"`
	BytesIn   uint64  `json:"bytes_in"`
	BytesOut  uint64  `json:"bytes_out"`
}

// Errors repeats the error classes of Status.
type Errors struct {
	S4xx uint64 `json:"4xx"`
	S5xx uint64 `json:"5xx"`
}

// Status counts responses by class. 1xx and Other (a status outside
// 100–599, e.g. 0 for a request abandoned before a response) appear in JSON
// only when not zero.
type Status struct {
	S1xx  uint64 `json:"1xx,omitempty"`
	S2xx  uint64 `json:"2xx"`
	S3xx  uint64 `json:"3xx"`
	S4xx  uint64 `json:"4xx"`
	S5xx  uint64 `json:"5xx"`
	Other uint64 `json:"other,omitempty"`
}

// Latency holds percentiles in milliseconds; see the package documentation
// for their error bounds.
type Latency struct {
	P50 float64 `json:"p50"`
	P95 float64 `json:"p95"`
	P99 float64 `json:"p99"`
}

// MarshalJSON writes the report in the admin API's shape.
func (r Report) MarshalJSON() ([]byte, error) {
	routes := r.Routes
	if routes == nil {
		routes = []RouteStats{}
	}
	return json.Marshal(struct {
		Window string       `json:"window"`
		From   string       `json:"from"`
		To     string       `json:"to"`
		Routes []RouteStats `json:"routes"`
	}{r.Window.String(), r.From.UTC().Format(time.RFC3339), r.To.UTC().Format(time.RFC3339), routes})
}

type counts struct {
	class   [numClasses]uint64
	in, out uint64
}

// read loads a cell's counts while Records may be adding to it. Record adds
// the class count first and the bytes after, so reading the counts, then
// the bytes, then the counts again, and retrying if they moved, yields
// bytes that belong to the requests counted, except for Records paused
// between their own adds.
func (c *identCell) read(into *counts) {
	var n [numClasses]uint32
	for try := 0; ; try++ {
		for i := range c.class {
			n[i] = c.class[i].Load()
		}
		in, out := c.bytesIn.Load(), c.bytesOut.Load()
		same := true
		for i := range c.class {
			same = same && c.class[i].Load() == n[i]
		}
		if same || try == 3 {
			for i, v := range n {
				into.class[i] = uint64(v)
			}
			into.in, into.out = in, out
			return
		}
	}
}

func (c *counts) merge(o *counts) {
	for i, v := range o.class {
		c.class[i] += v
	}
	c.in += o.in
	c.out += o.out
}

func (c *counts) requests() uint64 {
	var n uint64
	for _, v := range c.class {
		n += v
	}
	return n
}

type routeAcc struct {
	counts
	hist   [fineBuckets]uint64
	re     *routeEntry
	idents []*identAcc
}

type identAcc struct {
	counts
	hist [octBuckets]uint64
	k    *key
}

// Snapshot aggregates the slots overlapping the query's window. It reads
// while Record goes on (a request recorded meanwhile may or may not be
// counted) and does not block Record.
func (s *Stats) Snapshot(q Query) Report {
	w := q.Window
	if w <= 0 {
		w = DefaultWindow
	}
	w = min(w, time.Duration(s.retention))
	limit := q.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	route, ident := q.Route, q.Identity
	if len(route) > MaxNameLen {
		route = route[:MaxNameLen]
	}
	if len(ident) > MaxNameLen {
		ident = ident[:MaxNameLen]
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.nowNs()
	s.maintain(now)
	t0 := now - int64(w)

	// The slots with data in [t0, now]: fine slots ending after t0 and
	// coarse slots whose folded data ends after t0. Each request is in
	// exactly one slot, so adding them up counts it once.
	s.rotMu.Lock()
	sets := make([]*slotSet, 0, len(s.fine)+len(s.pending)+1+len(s.coarse))
	for _, f := range s.fine {
		if f.end > t0 {
			sets = append(sets, f)
		}
	}
	for _, f := range s.pending {
		if f.end > t0 {
			sets = append(sets, f)
		}
	}
	sets = append(sets, s.cur.Load())
	s.rotMu.Unlock()
	for _, c := range s.coarse {
		if c.dataEnd > t0 {
			sets = append(sets, c)
		}
	}

	routes := map[*routeEntry]*routeAcc{}
	idents := map[*key]*identAcc{}
	routeAccOf := func(re *routeEntry) *routeAcc {
		a := routes[re]
		if a == nil {
			a = &routeAcc{re: re}
			routes[re] = a
		}
		return a
	}
	for _, sl := range sets {
		// Identity cells before route cells: see Record.
		for ci := range sl.chunks {
			ch := sl.chunks[ci].Load()
			if ch == nil {
				continue
			}
			for j := range ch {
				c := &ch[j]
				if !c.used() {
					continue
				}
				k := s.keyByID[ci*chunkSize+j].Load()
				if k == nil || (route != "" && k.route.name != route) {
					continue
				}
				var cc counts
				c.read(&cc)
				routeAccOf(k.route).merge(&cc)
				if ident != "" && k.name != ident {
					continue
				}
				a := idents[k]
				if a == nil {
					a = &identAcc{k: k}
					idents[k] = a
				}
				a.merge(&cc)
				for i := range c.hist {
					a.hist[i] += uint64(c.hist[i].Load())
				}
			}
		}
		for id := range sl.routes {
			c := sl.routes[id].Load()
			if c == nil {
				continue
			}
			re := s.routeByID[id].Load()
			if re == nil || (route != "" && re.name != route) {
				continue
			}
			a := routeAccOf(re)
			for i := range c.hist {
				a.hist[i] += uint64(c.hist[i].Load())
			}
		}
	}
	for k, a := range idents {
		if ra := routes[k.route]; ra != nil {
			ra.idents = append(ra.idents, a)
		}
	}

	rep := Report{Window: w, From: time.Unix(0, s.windowStart(now, t0)).UTC(), To: time.Unix(0, now).UTC(), Routes: []RouteStats{}}
	accs := make([]*routeAcc, 0, len(routes))
	for _, ra := range routes {
		if ra.requests() == 0 || (ident != "" && len(ra.idents) == 0) {
			continue
		}
		accs = append(accs, ra)
	}
	slices.SortFunc(accs, func(a, b *routeAcc) int {
		return cmp.Or(cmp.Compare(a.re.name, b.re.name), cmp.Compare(a.re.id, b.re.id))
	})
	for _, ra := range accs {
		rs := RouteStats{Route: ra.re.name, Identities: []IdentityStats{}}
		n := ra.requests()
		rs.Summary = ra.summary(n, fineQuantile(&ra.hist, 50), fineQuantile(&ra.hist, 95), fineQuantile(&ra.hist, 99))
		ids := ra.idents
		slices.SortFunc(ids, func(a, b *identAcc) int {
			return cmp.Or(cmp.Compare(b.requests(), a.requests()), cmp.Compare(a.k.name, b.k.name), cmp.Compare(a.k.id, b.k.id))
		})
		if len(ids) > limit {
			ids, rs.IdentitiesTruncated = ids[:limit], true
		}
		for _, ia := range ids {
			n := ia.requests()
			if n == 0 {
				continue
			}
			rs.Identities = append(rs.Identities, IdentityStats{Identity: ia.k.name, Summary: ia.summary(n,
				identityQuantile(&ia.hist, &ra.hist, 50), identityQuantile(&ia.hist, &ra.hist, 95), identityQuantile(&ia.hist, &ra.hist, 99))})
		}
		rep.Routes = append(rep.Routes, rs)
	}
	return rep
}

// windowStart is the start of the oldest slot a window starting at t0 reads
// (see Report.From); it agrees with maintain's folding rule.
func (s *Stats) windowStart(now, t0 int64) int64 {
	f := floorTo(t0, s.slot)
	if s.coarseLen == 0 || f+s.slot > now-s.fineSpan {
		return f
	}
	return floorTo(t0, s.coarseLen)
}

func (c *counts) summary(n uint64, p50, p95, p99 int64) Summary {
	return Summary{
		Requests: n,
		Errors:   Errors{S4xx: c.class[4], S5xx: c.class[5]},
		Status: Status{S1xx: c.class[1], S2xx: c.class[2], S3xx: c.class[3], S4xx: c.class[4], S5xx: c.class[5],
			Other: c.class[0]},
		LatencyMS: Latency{P50: ms(p50), P95: ms(p95), P99: ms(p99)},
		BytesIn:   c.in,
		BytesOut:  c.out,
	}
}

// ms converts whole nanoseconds to milliseconds; the float prints as the
// exact decimal (e.g. 12.345678).
func ms(ns int64) float64 { return float64(ns) / 1e6 }
