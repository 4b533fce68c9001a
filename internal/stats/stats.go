package stats

import (
	"hash/maphash"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Labels the report uses for values the caller did not name.
const (
	// AnonymousIdentity stands for requests without a client identity
	// (Record's identity "").
	AnonymousIdentity = "(anonymous)"
	// OtherIdentity collects a route's requests from identities that found
	// no room under MaxKeys; OtherRoute those of routes beyond MaxRoutes.
	OtherIdentity = "(other)"
	OtherRoute    = "(other)"
	// NoRoute stands for requests that matched no route (Record's route "").
	NoRoute = "(none)"
	// MaxNameLen is the longest route or identity name kept; longer names
	// are cut to this many bytes.
	MaxNameLen = 1024
)

// Defaults of Options.
const (
	DefaultSlot       = time.Minute
	DefaultRetention  = 24 * time.Hour
	DefaultFineSpan   = time.Hour
	DefaultCoarseSlot = time.Hour
	DefaultMaxKeys    = 10000
	DefaultMaxRoutes  = 256
	DefaultWindow     = time.Hour
	DefaultLimit      = 100
	MaxLimit          = 10000
)

// Options configure Stats. Zero fields take the defaults.
type Options struct {
	// Slot is the aggregation granularity of recent data (default 1m).
	// Windows up to FineSpan are answered to within one Slot.
	Slot time.Duration
	// Retention is the longest window served (default 24h).
	Retention time.Duration
	// FineSpan is how long data stays at Slot granularity (default 1h,
	// rounded up to a multiple of Slot, at most Retention). Older data is
	// folded into CoarseSlot slots, so windows longer than FineSpan are
	// answered to within one CoarseSlot.
	FineSpan time.Duration
	// CoarseSlot is the granularity of data older than FineSpan (default 1h,
	// rounded up to a multiple of Slot).
	CoarseSlot time.Duration
	// MaxKeys bounds the distinct (route, identity) cells kept over the
	// whole retention (default 10000). When it is reached, new identities of
	// a route are counted under OtherIdentity for that route until cells
	// whose data has aged out of Retention are dropped. Each route also has
	// at most one OtherIdentity cell, not counted here.
	MaxKeys int
	// MaxRoutes bounds the distinct routes kept (default 256); requests of
	// further routes are counted under OtherRoute.
	MaxRoutes int
	// Now returns the current time; for tests. It may be called from
	// several goroutines at once. By default Stats reads the monotonic
	// clock, re-aligned with the wall clock at every slot rotation.
	Now func() time.Time
}

// Stats aggregates requests per route and client identity over recent time
// slots. Create it with New; all methods are safe for concurrent use. A nil
// *Stats ignores Record and RecordAt.
type Stats struct {
	slot, fineSpan, coarseLen, retention int64 // nanoseconds; coarseLen 0: no coarse tier
	maxKeys, maxRoutes                   int
	routeCap, keyCap                     int              // id space sizes
	nowFn                                func() time.Time // nil: the clock below

	// Without Options.Now the time is wallOff + time.Since(mono): one
	// monotonic clock read instead of time.Now's two. maintain re-anchors
	// wallOff to the wall clock, so slot boundaries follow it within a slot.
	mono    time.Time
	wallOff atomic.Int64

	// cur is the slot Record writes to. rotMu serialises replacing it and
	// guards pending (former current slots not yet moved into fine).
	cur     atomic.Pointer[slotSet]
	rotMu   sync.Mutex
	pending []*slotSet

	// mu guards fine and coarse, folding, dropping and eviction; Snapshot
	// holds it while it reads, so key ids stay put under it. Record never
	// waits for mu.
	mu          sync.Mutex
	fine        []*slotSet // Slot-sized, oldest first, without cur
	coarse      []*slotSet // CoarseSlot-sized, oldest first
	maintaining atomic.Bool

	// keyMu serialises adding and removing routes and keys. Lookups are
	// lock-free: keys (named cells by route and identity) and routes are
	// replaced, not changed, except that keys gets entries added in place.
	keyMu      sync.Mutex
	seed       maphash.Seed
	keys       atomic.Pointer[keyTable]
	routes     atomic.Pointer[map[string]*routeEntry]
	routeByID  []atomic.Pointer[routeEntry]
	keyByID    []atomic.Pointer[key]
	freeRoutes []uint32
	freeKeys   []uint32
	nextRoute  uint32
	nextKey    uint32
	namedRoute int // routes other than OtherRoute
	namedKeys  int // keys other than OtherIdentity
	routesFull atomic.Bool
	keysFull   atomic.Bool
}

// evicted marks a routeEntry or key that has been dropped; Record retries
// with a fresh one.
const evicted = math.MinInt64

// routeEntry is a route known to Stats.
type routeEntry struct {
	name  string // as reported
	id    uint32
	last  atomic.Int64 // index of the newest Slot with data; evicted when dropped
	other atomic.Pointer[key]
}

// key is one (route, identity) cell.
type key struct {
	name  string // identity as reported
	hash  uint64 // keyHash(route.name, name)
	id    uint32
	route *routeEntry
	last  atomic.Int64
	other bool
}

// touch records that the owner has data in slot idx. It fails only when the
// owner was evicted, so that nothing writes under an id being reused.
func touch(last *atomic.Int64, idx int64) bool {
	for {
		v := last.Load()
		if v >= idx {
			return true
		}
		if v == evicted {
			return false
		}
		if last.CompareAndSwap(v, idx) {
			return true
		}
	}
}

// New returns an empty Stats.
func New(o Options) *Stats {
	if o.Slot <= 0 {
		o.Slot = DefaultSlot
	}
	if o.Retention <= 0 {
		o.Retention = DefaultRetention
	}
	o.Retention = roundUp(o.Retention, o.Slot)
	if o.FineSpan <= 0 {
		o.FineSpan = DefaultFineSpan
	}
	o.FineSpan = min(roundUp(o.FineSpan, o.Slot), o.Retention)
	if o.CoarseSlot <= 0 {
		o.CoarseSlot = DefaultCoarseSlot
	}
	o.CoarseSlot = roundUp(o.CoarseSlot, o.Slot)
	if o.MaxKeys <= 0 {
		o.MaxKeys = DefaultMaxKeys
	}
	if o.MaxRoutes <= 0 {
		o.MaxRoutes = DefaultMaxRoutes
	}
	s := &Stats{
		slot: int64(o.Slot), fineSpan: int64(o.FineSpan), coarseLen: int64(o.CoarseSlot), retention: int64(o.Retention),
		maxKeys: o.MaxKeys, maxRoutes: o.MaxRoutes, nowFn: o.Now, mono: time.Now(),
	}
	s.anchor()
	if s.fineSpan >= s.retention || s.coarseLen <= s.slot {
		// One tier: everything at Slot granularity for the whole retention.
		s.fineSpan, s.coarseLen = s.retention, 0
	}
	// Ids: every named route plus OtherRoute; every named key plus one
	// OtherIdentity key per route.
	s.routeCap = s.maxRoutes + 1
	s.keyCap = s.maxKeys + s.routeCap
	s.routeByID = make([]atomic.Pointer[routeEntry], s.routeCap)
	s.keyByID = make([]atomic.Pointer[key], s.keyCap)
	empty := map[string]*routeEntry{}
	s.routes.Store(&empty)
	s.seed = maphash.MakeSeed()
	s.keys.Store(newKeyTable(0))
	s.cur.Store(s.newSlot(floorTo(s.nowNs(), s.slot), s.slot))
	return s
}

func roundUp(d, unit time.Duration) time.Duration {
	if r := d % unit; r != 0 {
		d += unit - r
	}
	return d
}

// floorTo rounds t down to a multiple of unit (also for t < 0).
func floorTo(t, unit int64) int64 {
	r := t % unit
	if r < 0 {
		r += unit
	}
	return t - r
}

func (s *Stats) nowNs() int64 {
	if s.nowFn != nil {
		return s.nowFn().UnixNano()
	}
	return s.wallOff.Load() + int64(time.Since(s.mono))
}

// anchor aligns the monotonic clock with the wall clock.
func (s *Stats) anchor() {
	if s.nowFn == nil {
		now := time.Now()
		s.wallOff.Store(now.UnixNano() - int64(now.Sub(s.mono)))
	}
}

// Slot returns the normalised fine slot length.
func (s *Stats) Slot() time.Duration { return time.Duration(s.slot) }

// Retention returns the longest window served.
func (s *Stats) Retention() time.Duration { return time.Duration(s.retention) }

// Record counts one finished request: its route, the client identity
// (a certificate subject, "" for anonymous), the response status, the time
// it took and the request and response body sizes (negative: unknown, 0).
//
// For a (route, identity) already seen in the current slot it takes no
// lock and allocates nothing: a monotonic clock read, one lock-free hash
// table probe and at most five atomic adds (one on the route's histogram,
// up to four on the identity's cell). The first request of a new identity
// takes a mutex and allocates its key; one over MaxKeys does neither.
//
// A Record that stalls for FineSpan between picking its slot and writing
// may lose its request (or part of it) with that slot, folded meanwhile.
func (s *Stats) Record(route, identity string, status int, latency time.Duration, bytesIn, bytesOut int64) {
	if s == nil {
		return
	}
	s.record(s.nowNs(), route, identity, status, latency, bytesIn, bytesOut)
}

// RecordAt is Record for a request that ended at end, for a caller that has
// read the clock already (saving Record's clock read, a third of its cost).
// end should come from the same clock as Options.Now; a time before the
// current slot is counted in the current slot.
func (s *Stats) RecordAt(end time.Time, route, identity string, status int, latency time.Duration, bytesIn, bytesOut int64) {
	if s == nil {
		return
	}
	s.record(end.UnixNano(), route, identity, status, latency, bytesIn, bytesOut)
}

func (s *Stats) record(t int64, route, identity string, status int, latency time.Duration, bytesIn, bytesOut int64) {
	sl := s.cur.Load()
	if t >= sl.end {
		sl = s.advance(t)
	}
	re, k := s.resolve(route, identity, sl.idx)
	cls := statusClass(status)
	fb := fineBucket(latency)
	in, out := uint64(max(bytesIn, 0)), uint64(max(bytesOut, 0))
	// Route histogram first, identity cell second: Snapshot reads them in
	// the other order, so every identity sample it sees is in its route's
	// histogram too (identityQuantile relies on that). A route's counts are
	// the sum of its identities' cells.
	sl.routeCell(re.id).hist[fb].Add(1)
	ic := sl.identCell(k.id)
	ic.class[cls].Add(1)
	ic.hist[octaveOf(fb)].Add(1)
	if in != 0 {
		ic.bytesIn.Add(in)
	}
	if out != 0 {
		ic.bytesOut.Add(out)
	}
}

// Status classes: index 0 is anything outside 100–599.
const numClasses = 6

func statusClass(status int) int {
	if status < 100 || status > 599 {
		return 0
	}
	return status / 100
}

// advance makes the slot holding t current. A t before the current slot
// (a stale reading or a clock step back) is counted in the current slot.
func (s *Stats) advance(t int64) *slotSet {
	s.rotMu.Lock()
	cur := s.cur.Load()
	if t < cur.end {
		s.rotMu.Unlock()
		return cur
	}
	next := s.newSlot(floorTo(t, s.slot), s.slot)
	s.pending = append(s.pending, cur)
	s.cur.Store(next)
	s.rotMu.Unlock()
	// Folding and eviction walk whole slots; keep them off the request.
	if s.maintaining.CompareAndSwap(false, true) {
		go func() {
			defer s.maintaining.Store(false)
			s.mu.Lock()
			defer s.mu.Unlock()
			s.maintain(s.nowNs())
		}()
	}
	return next
}

func normName(name, empty string) string {
	if name == "" {
		return empty
	}
	if len(name) > MaxNameLen {
		return name[:MaxNameLen]
	}
	return name
}

// resolve finds (or adds) the route and key for a request in slot idx and
// marks both as having data there.
func (s *Stats) resolve(route, identity string, idx int64) (*routeEntry, *key) {
	route = normName(route, NoRoute)
	identity = normName(identity, AnonymousIdentity)
	// Fast path: a named key. Touch the route before the key: evict relies
	// on a route's newest slot being at least its keys'.
	h := keyHash(s.seed, route, identity)
	if k := s.keys.Load().find(h, route, identity); k != nil && touch(&k.route.last, idx) && touch(&k.last, idx) {
		return k.route, k
	}
	for {
		re := s.routeFor(route, idx)
		rh := h
		if re.name != route { // counted under OtherRoute
			rh = keyHash(s.seed, re.name, identity)
		}
		if k := s.keyFor(re, identity, rh, idx); k != nil {
			return re, k
		}
	}
}

func (s *Stats) routeFor(name string, idx int64) *routeEntry {
	m := *s.routes.Load()
	if re := m[name]; re != nil {
		if touch(&re.last, idx) {
			return re
		}
	} else if s.routesFull.Load() {
		if re := m[OtherRoute]; re != nil && touch(&re.last, idx) {
			return re
		}
	}
	return s.addRoute(name, idx)
}

func (s *Stats) addRoute(name string, idx int64) *routeEntry {
	s.keyMu.Lock()
	defer s.keyMu.Unlock()
	m := *s.routes.Load()
	if re := m[name]; re != nil && touch(&re.last, idx) {
		return re
	}
	if m[name] == nil && s.namedRoute >= s.maxRoutes {
		name = OtherRoute
		if re := m[OtherRoute]; re != nil && touch(&re.last, idx) {
			return re
		}
	}
	id, ok := allocID(&s.freeRoutes, &s.nextRoute, s.routeCap)
	if !ok {
		panic("stats: route ids exhausted") // cannot happen: see routeCap
	}
	re := &routeEntry{name: strings.Clone(name), id: id}
	re.last.Store(idx)
	next := make(map[string]*routeEntry, len(m)+1)
	for n, e := range m {
		next[n] = e
	}
	if old := next[re.name]; old == nil && re.name != OtherRoute {
		s.namedRoute++
		s.routesFull.Store(s.namedRoute >= s.maxRoutes)
	}
	next[re.name] = re
	s.routes.Store(&next)
	s.routeByID[id].Store(re)
	return re
}

// keyFor returns the key of identity under re, or nil when re was evicted
// meanwhile (the caller then retries with a fresh route).
// h is keyHash(re.name, identity).
func (s *Stats) keyFor(re *routeEntry, identity string, h uint64, idx int64) *key {
	if k := s.keys.Load().find(h, re.name, identity); k != nil {
		if touch(&k.last, idx) {
			return k
		}
	} else if s.keysFull.Load() || identity == OtherIdentity {
		if k := re.other.Load(); k != nil && touch(&k.last, idx) {
			return k
		}
	}
	return s.addKey(re, identity, h, idx)
}

func (s *Stats) addKey(re *routeEntry, identity string, h uint64, idx int64) *key {
	s.keyMu.Lock()
	defer s.keyMu.Unlock()
	if re.last.Load() == evicted {
		return nil
	}
	if k := s.keys.Load().find(h, re.name, identity); k != nil && touch(&k.last, idx) {
		return k
	}
	if identity != OtherIdentity && s.namedKeys < s.maxKeys {
		id, ok := allocID(&s.freeKeys, &s.nextKey, s.keyCap)
		if !ok {
			panic("stats: key ids exhausted") // cannot happen: see keyCap
		}
		k := &key{name: strings.Clone(identity), hash: h, id: id, route: re}
		k.last.Store(idx)
		s.namedKeys++
		s.keysFull.Store(s.namedKeys >= s.maxKeys)
		s.keyByID[id].Store(k)
		if !s.keys.Load().put(k) {
			s.rebuildKeys() // grows; k is in keyByID
		}
		return k
	}
	if k := re.other.Load(); k != nil && touch(&k.last, idx) {
		return k
	}
	id, ok := allocID(&s.freeKeys, &s.nextKey, s.keyCap)
	if !ok {
		panic("stats: key ids exhausted")
	}
	k := &key{name: OtherIdentity, id: id, route: re, other: true}
	k.last.Store(idx)
	re.other.Store(k)
	s.keyByID[id].Store(k)
	return k
}

func allocID(free *[]uint32, next *uint32, limit int) (uint32, bool) {
	if n := len(*free); n > 0 {
		id := (*free)[n-1]
		*free = (*free)[:n-1]
		return id, true
	}
	if int(*next) >= limit {
		return 0, false
	}
	id := *next
	*next++
	return id, true
}

// evict drops the routes and keys whose newest data is older than slot
// index horizon, i.e. no longer in any slot, and frees their ids. Caller
// holds s.mu.
func (s *Stats) evict(horizon int64) {
	s.keyMu.Lock()
	defer s.keyMu.Unlock()
	dropped := false
	defer func() {
		if dropped {
			s.rebuildKeys()
		}
	}()
	for i := range s.keyByID {
		k := s.keyByID[i].Load()
		if k == nil {
			continue
		}
		if v := k.last.Load(); v < horizon && v != evicted && k.last.CompareAndSwap(v, evicted) {
			s.dropKey(k)
			dropped = true
		}
	}
	gone := map[*routeEntry]bool{}
	for i := range s.routeByID {
		re := s.routeByID[i].Load()
		if re == nil {
			continue
		}
		if v := re.last.Load(); v < horizon && v != evicted && re.last.CompareAndSwap(v, evicted) {
			gone[re] = true
		}
	}
	if len(gone) == 0 {
		return
	}
	// Record touches a route before its key, so a key's newest slot is
	// never newer than its route's and the loop above dropped every key
	// of these routes. Stop any left from writing, defensively.
	for i := range s.keyByID {
		if k := s.keyByID[i].Load(); k != nil && gone[k.route] && k.last.Swap(evicted) != evicted {
			s.dropKey(k)
			dropped = true
		}
	}
	m := *s.routes.Load()
	next := make(map[string]*routeEntry, len(m))
	for n, e := range m {
		next[n] = e
	}
	for re := range gone {
		if next[re.name] == re {
			delete(next, re.name)
			if re.name != OtherRoute {
				s.namedRoute--
			}
		}
		s.routeByID[re.id].Store(nil)
		s.freeRoutes = append(s.freeRoutes, re.id)
	}
	s.routesFull.Store(s.namedRoute >= s.maxRoutes)
	s.routes.Store(&next)
}

// dropKey removes an evicted key; the caller rebuilds the key table. Caller
// holds keyMu.
func (s *Stats) dropKey(k *key) {
	if k.other {
		k.route.other.CompareAndSwap(k, nil)
	} else {
		s.namedKeys--
		s.keysFull.Store(s.namedKeys >= s.maxKeys)
	}
	s.keyByID[k.id].Store(nil)
	s.freeKeys = append(s.freeKeys, k.id)
}
