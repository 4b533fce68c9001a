package ratelimit

import (
	"fmt"
	"hash/maphash"
	"math"
	"strings"
	"sync"
	"time"
)

const (
	// maxShards is the number of shards of a large Local. More shards mean
	// less lock contention, fewer mean eviction closer to a global LRU.
	maxShards = 64
	// minPerShard is the smallest shard worth having: a small Local gets
	// fewer shards so that each still has a meaningful LRU.
	minPerShard = 64
	// MaxKeys bounds NewLocal's maxKeys: entries are indexed with int32.
	MaxKeys = 1 << 30
	// maxInlineKey is the longest key stored as it is; longer keys are
	// stored as a 16-byte keyed digest so every entry has a bounded size.
	maxInlineKey = 64
	// evictScan is how many of a shard's least recently used entries an
	// insertion into a full shard looks at to choose its victim.
	evictScan = 8
	// timeLimit clamps times relative to the limiter's epoch (±2⁶¹ ns, about
	// 73 years), so that sums and differences of times, intervals and bursts
	// stay far inside int64.
	timeLimit = int64(1) << 61
)

// nilIndex marks the end of a shard's LRU list.
const nilIndex = -1

// Local is an in-memory Limiter holding at most a fixed number of keys.
// See the package documentation for the algorithm and the eviction policy.
type Local struct {
	policy   Policy
	limit    int
	interval int64 // emission interval T, ns
	tau      int64 // burst tolerance limit·T, ns
	epoch    time.Time
	seed     maphash.Seed // shard choice and the first half of long-key digests
	seed2    maphash.Seed // second half of long-key digests
	mask     uint64
	shards   []shard
}

var _ Limiter = (*Local)(nil)

// shard is one lock's worth of keys: a map from key to an index into
// entries, and an intrusive doubly linked LRU list threaded through entries
// by index. entries never grows beyond capacity.
type shard struct {
	mu        sync.Mutex
	head      int32 // most recently used, or nilIndex
	tail      int32 // least recently used, or nilIndex
	capacity  int32
	index     map[string]int32
	entries   []entry
	evictions uint64
	_         [64]byte // keep neighbouring shards' locks off this cache line
}

// entry is one key's bucket. tat is the GCRA theoretical arrival time in ns
// since the limiter's epoch: the bucket is full when tat ≤ now.
type entry struct {
	key        string
	tat        int64
	prev, next int32
}

// NewLocal returns an in-memory Limiter for p holding at most maxKeys keys
// (1 ≤ maxKeys ≤ MaxKeys). Memory grows as keys arrive, not up front; on
// amd64 with Go 1.26 a full Local holds about 120 bytes per key for keys of
// about 40 bytes, settling at about 155 once it has churned through many
// more keys than it holds (the maps' deleted slots), and at most 64 bytes
// more per key for longer keys (see TestMemoryBounded).
func NewLocal(p Policy, maxKeys int) (*Local, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if maxKeys < 1 || maxKeys > MaxKeys {
		return nil, fmt.Errorf("ratelimit: maxKeys must be between 1 and %d, got %d", MaxKeys, maxKeys)
	}
	n := maxShards
	for n > 1 && maxKeys/n < minPerShard {
		n /= 2
	}
	l := &Local{
		policy:   p,
		limit:    p.burst(),
		interval: int64(p.interval()),
		epoch:    time.Now(),
		seed:     maphash.MakeSeed(),
		seed2:    maphash.MakeSeed(),
		mask:     uint64(n - 1),
		shards:   make([]shard, n),
	}
	l.tau = int64(l.limit) * l.interval
	for i := range l.shards {
		c := maxKeys / n
		if i < maxKeys%n {
			c++
		}
		l.shards[i] = shard{
			head:     nilIndex,
			tail:     nilIndex,
			capacity: int32(c),
			index:    make(map[string]int32),
		}
	}
	return l, nil
}

// Policy returns the policy l enforces.
func (l *Local) Policy() Policy { return l.policy }

// Allow takes one token for key at now. A key not yet held starts with a
// full bucket and may evict another key (see the package documentation).
func (l *Local) Allow(key string, now time.Time) Decision {
	t := l.nanos(now)
	if len(key) <= maxInlineKey {
		h := maphash.String(l.seed, key)
		return l.shards[h&l.mask].allow(l, key, t)
	}
	// Long key: store a 128-bit keyed digest instead. The conversion below
	// does not escape, so it lives on the stack.
	h := maphash.String(l.seed, key)
	var d [16]byte
	putUint64(d[:8], h)
	putUint64(d[8:], maphash.String(l.seed2, key))
	return l.shards[h&l.mask].allow(l, string(d[:]), t)
}

// Len reports the number of keys currently held.
func (l *Local) Len() int {
	n := 0
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		n += len(s.index)
		s.mu.Unlock()
	}
	return n
}

// Evictions reports how many keys have been evicted to make room for new
// ones since l was created.
func (l *Local) Evictions() uint64 {
	var n uint64
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		n += s.evictions
		s.mu.Unlock()
	}
	return n
}

// nanos converts now to nanoseconds since l's epoch, clamped to ±timeLimit.
// When now carries a monotonic clock reading (time.Now()), so does the
// epoch, and the difference is monotonic.
func (l *Local) nanos(now time.Time) int64 {
	d := int64(now.Sub(l.epoch)) // saturates at ±292 years
	return min(max(d, -timeLimit), timeLimit)
}

// decide applies GCRA to one bucket at now and updates *tat.
func (l *Local) decide(tat *int64, now int64) Decision {
	T, tau := l.interval, l.tau
	if *tat-now > tau {
		// Only possible if now went backwards: an admitted request never
		// leaves tat more than tau ahead of its own now. Treat the bucket as
		// empty as of now (never fuller than it was, and refilling from now
		// rather than from the far future).
		*tat = now + tau
	}
	base := max(*tat, now)
	next := base + T
	if next-now <= tau {
		*tat = next
		return Decision{
			Allowed:   true,
			Limit:     l.limit,
			Remaining: int((tau - (next - now)) / T),
			Reset:     time.Duration(next - now),
		}
	}
	return Decision{
		Allowed:    false,
		Limit:      l.limit,
		Remaining:  0,
		Reset:      time.Duration(base - now),
		RetryAfter: time.Duration(next - now - tau),
	}
}

func (s *shard) allow(l *Local, key string, now int64) Decision {
	s.mu.Lock()
	i, ok := s.index[key]
	if ok {
		s.touch(i)
	} else {
		i = s.insert(key, now)
	}
	d := l.decide(&s.entries[i].tat, now)
	s.mu.Unlock()
	return d
}

// insert adds key with a full bucket at the front of the LRU list, evicting
// an entry if the shard is full, and returns its index.
func (s *shard) insert(key string, now int64) int32 {
	var i int32
	if n := len(s.entries); n < int(s.capacity) {
		if n == cap(s.entries) {
			// Grow by hand so the backing array never exceeds capacity.
			c := min(max(2*n, 8), int(s.capacity))
			e := make([]entry, n, c)
			copy(e, s.entries)
			s.entries = e
		}
		i = int32(n)
		s.entries = s.entries[:n+1]
	} else {
		i = s.victim(now)
		s.unlink(i)
		delete(s.index, s.entries[i].key)
		s.evictions++
	}
	// Copy the key so we never pin a larger buffer the caller's string
	// may point into.
	k := strings.Clone(key)
	s.entries[i] = entry{key: k, tat: now, prev: nilIndex, next: nilIndex}
	s.index[k] = i
	s.pushFront(i)
	return i
}

// victim chooses the entry to evict from a full shard: among the evictScan
// least recently used entries, the first whose bucket is already full
// (evicting it loses nothing), else the one closest to full.
func (s *shard) victim(now int64) int32 {
	best, bestTAT := s.tail, int64(math.MaxInt64)
	for i, n := s.tail, 0; i != nilIndex && n < evictScan; i, n = s.entries[i].prev, n+1 {
		t := s.entries[i].tat
		if t <= now {
			return i
		}
		if t < bestTAT {
			best, bestTAT = i, t
		}
	}
	return best
}

func (s *shard) touch(i int32) {
	if s.head == i {
		return
	}
	s.unlink(i)
	s.pushFront(i)
}

func (s *shard) unlink(i int32) {
	e := &s.entries[i]
	if e.prev != nilIndex {
		s.entries[e.prev].next = e.next
	} else {
		s.head = e.next
	}
	if e.next != nilIndex {
		s.entries[e.next].prev = e.prev
	} else {
		s.tail = e.prev
	}
	e.prev, e.next = nilIndex, nilIndex
}

func (s *shard) pushFront(i int32) {
	e := &s.entries[i]
	e.prev, e.next = nilIndex, s.head
	if s.head != nilIndex {
		s.entries[s.head].prev = i
	} else {
		s.tail = i
	}
	s.head = i
}

func putUint64(b []byte, v uint64) {
	_ = b[7]
	for i := range 8 {
		b[i] = byte(v >> (8 * i))
	}
}
