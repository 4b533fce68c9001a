package stats

import (
	"hash/maphash"
	"sync/atomic"
)

// keyTable finds the key of a (route, identity) with one hash and no lock:
// open addressing with linear probing over atomic pointers, at most half
// full so probes stay short and always reach an empty slot. Only keyMu
// holders write: they insert into free slots in place, and replace the
// whole table to grow or to drop evicted keys. A reader holding an older
// table may miss a key just added (and then takes the locked path) or find
// an evicted one (whose touch then fails); it never sees a torn entry.
type keyTable struct {
	mask  uint64
	n     int // keys held; keyMu
	slots []atomic.Pointer[key]
}

const minTable = 64

func newKeyTable(n int) *keyTable {
	size := minTable
	for size < 2*n+2 {
		size *= 2
	}
	return &keyTable{mask: uint64(size - 1), slots: make([]atomic.Pointer[key], size)}
}

func keyHash(seed maphash.Seed, route, identity string) uint64 {
	return maphash.String(seed, route)*0x9e3779b97f4a7c15 ^ maphash.String(seed, identity)
}

func (t *keyTable) find(h uint64, route, identity string) *key {
	for i := h & t.mask; ; i = (i + 1) & t.mask {
		k := t.slots[i].Load()
		if k == nil {
			return nil
		}
		if k.hash == h && k.name == identity && k.route.name == route {
			return k
		}
	}
}

// put adds k, which is not in the table; it reports false when the table
// is too full and must be replaced by a bigger one first. Caller holds
// keyMu.
func (t *keyTable) put(k *key) bool {
	if 2*(t.n+1) > len(t.slots) {
		return false
	}
	for i := k.hash & t.mask; ; i = (i + 1) & t.mask {
		if t.slots[i].Load() == nil {
			t.slots[i].Store(k)
			t.n++
			return true
		}
	}
}

// rebuildKeys publishes a new table holding the named keys of keyByID,
// sized for them. Caller holds keyMu.
func (s *Stats) rebuildKeys() {
	n := 0
	for i := range s.keyByID {
		if k := s.keyByID[i].Load(); k != nil && !k.other {
			n++
		}
	}
	t := newKeyTable(n)
	for i := range s.keyByID {
		if k := s.keyByID[i].Load(); k != nil && !k.other {
			t.put(k)
		}
	}
	s.keys.Store(t)
}
