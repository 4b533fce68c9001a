package stats

import (
	"math"
	"sync/atomic"
)

// A slotSet holds the cells of one time slot: one routeCell per route id and
// one identCell per key id that had requests in the slot. Cells are reached
// by id through pointer tables sized for the whole id space, allocated on
// first use (identity cells in chunks of chunkSize), so Record finds a cell
// without hashing and a slot only pays for the ids it saw.
type slotSet struct {
	start, end int64 // [start, end) in Unix nanoseconds
	idx        int64 // start / Slot: the index Record touches keys with
	// dataEnd is, for a coarse slot, the end of the newest fine slot folded
	// into it: its data covers [start, dataEnd). Guarded by Stats.mu.
	dataEnd int64
	routes  []atomic.Pointer[routeCell]
	chunks  []atomic.Pointer[cellChunk]
}

const chunkSize = 16 // identCells per allocation: 16×160 B = 2560 B

type cellChunk [chunkSize]identCell

// identCell aggregates one (route, identity) in one slot: 160 bytes.
// Counts are uint32: a cell of a one-hour slot wraps only above 1.19 million
// requests per second from one identity on one route.
type identCell struct {
	bytesIn, bytesOut atomic.Uint64
	class             [numClasses]atomic.Uint32
	hist              [octBuckets]atomic.Uint32
}

// routeCell holds one route's latency histogram in one slot at full
// resolution: 872 bytes. The route's counts are those of its identCells.
type routeCell struct {
	hist [fineBuckets]atomic.Uint32
}

func (s *Stats) newSlot(start, length int64) *slotSet {
	return &slotSet{
		start: start, end: start + length, idx: start / s.slot,
		routes: make([]atomic.Pointer[routeCell], s.routeCap),
		chunks: make([]atomic.Pointer[cellChunk], (s.keyCap+chunkSize-1)/chunkSize),
	}
}

func (sl *slotSet) routeCell(id uint32) *routeCell {
	p := &sl.routes[id]
	if c := p.Load(); c != nil {
		return c
	}
	c := new(routeCell)
	if p.CompareAndSwap(nil, c) {
		return c
	}
	return p.Load()
}

func (sl *slotSet) identCell(id uint32) *identCell {
	p := &sl.chunks[id/chunkSize]
	ch := p.Load()
	if ch == nil {
		ch = new(cellChunk)
		if !p.CompareAndSwap(nil, ch) {
			ch = p.Load()
		}
	}
	return &ch[id%chunkSize]
}

// used reports whether the cell counted any request.
func (c *identCell) used() bool {
	for i := range c.class {
		if c.class[i].Load() != 0 {
			return true
		}
	}
	return false
}

// addSat adds v to a counter only the folding goroutine writes, stopping at
// the maximum instead of wrapping.
func addSat(dst *atomic.Uint32, v uint32) {
	if v == 0 {
		return
	}
	n := uint64(dst.Load()) + uint64(v)
	dst.Store(uint32(min(n, math.MaxUint32)))
}

func mergeCounts(dstClass, srcClass []atomic.Uint32, dstIn, dstOut, srcIn, srcOut *atomic.Uint64) {
	for i := range srcClass {
		addSat(&dstClass[i], srcClass[i].Load())
	}
	if v := srcIn.Load(); v != 0 {
		dstIn.Add(v)
	}
	if v := srcOut.Load(); v != 0 {
		dstOut.Add(v)
	}
}

// foldInto adds every cell of the fine slot f into the coarse slot c.
func (f *slotSet) foldInto(c *slotSet) {
	for id := range f.routes {
		src := f.routes[id].Load()
		if src == nil {
			continue
		}
		dst := c.routeCell(uint32(id))
		for i := range src.hist {
			addSat(&dst.hist[i], src.hist[i].Load())
		}
	}
	for ci := range f.chunks {
		ch := f.chunks[ci].Load()
		if ch == nil {
			continue
		}
		for j := range ch {
			src := &ch[j]
			if !src.used() {
				continue
			}
			dst := c.identCell(uint32(ci*chunkSize + j))
			mergeCounts(dst.class[:], src.class[:], &dst.bytesIn, &dst.bytesOut, &src.bytesIn, &src.bytesOut)
			for i := range src.hist {
				addSat(&dst.hist[i], src.hist[i].Load())
			}
		}
	}
	c.dataEnd = max(c.dataEnd, f.end)
}

// maintain brings the slots up to now: it makes a current slot for now,
// folds fine slots that ended FineSpan ago or earlier into their coarse
// slot, drops slots that ended Retention ago or earlier, and evicts keys
// with no data left. Caller holds s.mu.
func (s *Stats) maintain(now int64) {
	s.anchor()
	s.rotMu.Lock()
	if cur := s.cur.Load(); now >= cur.end {
		s.pending = append(s.pending, cur)
		s.cur.Store(s.newSlot(floorTo(now, s.slot), s.slot))
	}
	s.fine = append(s.fine, s.pending...)
	clear(s.pending)
	s.pending = s.pending[:0]
	cur := s.cur.Load()
	s.rotMu.Unlock()

	// Fine slots: keep those that end after now-FineSpan.
	fineCut, dropCut := now-s.fineSpan, now-s.retention
	keep := s.fine[:0]
	for _, f := range s.fine {
		switch {
		case f.end > fineCut:
			keep = append(keep, f)
		case s.coarseLen > 0 && f.end > dropCut:
			f.foldInto(s.coarseFor(f.start))
		}
	}
	clear(s.fine[len(keep):])
	s.fine = keep

	// Coarse slots: keep those that end after now-Retention.
	ckeep := s.coarse[:0]
	for _, c := range s.coarse {
		if c.end > dropCut {
			ckeep = append(ckeep, c)
		}
	}
	clear(s.coarse[len(ckeep):])
	s.coarse = ckeep

	oldest := cur.start
	if len(s.fine) > 0 {
		oldest = min(oldest, s.fine[0].start)
	}
	if len(s.coarse) > 0 {
		oldest = min(oldest, s.coarse[0].start)
	}
	s.evict(floorTo(oldest, s.slot) / s.slot)
}

// coarseFor returns the coarse slot holding time t, creating it in order.
func (s *Stats) coarseFor(t int64) *slotSet {
	start := floorTo(t, s.coarseLen)
	i := len(s.coarse)
	for i > 0 && s.coarse[i-1].start >= start {
		if s.coarse[i-1].start == start {
			return s.coarse[i-1]
		}
		i--
	}
	c := s.newSlot(start, s.coarseLen)
	s.coarse = append(s.coarse, nil)
	copy(s.coarse[i+1:], s.coarse[i:])
	s.coarse[i] = c
	return c
}
