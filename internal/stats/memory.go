package stats

import "unsafe"

// Allocation sizes of the cells: the Go allocator rounds an object up to its
// size class (872 → 896, 16×160 = 2560 → 2688).
const (
	identCellSize  = int64(unsafe.Sizeof(identCell{}))
	routeCellSize  = int64(unsafe.Sizeof(routeCell{}))
	routeCellAlloc = 896
	chunkAlloc     = 2688
	// slotHeader is the slotSet struct; its two pointer tables take 8 bytes
	// per id, 9 with size-class rounding.
	slotHeader = int64(unsafe.Sizeof(slotSet{}))
)

// KeyOverhead bounds the memory of one (route, identity) key besides its
// cells and its identity string: the key itself and its slots in the hash
// table and the id table.
const KeyOverhead = 200

// MaxSlots is the most slots Stats holds at once: FineSpan/Slot+1 fine
// slots (the current one included), ceil((Retention-FineSpan)/CoarseSlot)+1
// coarse slots with data, and 2 more while background maintenance lags a
// rotation behind. At the defaults: 61 + 24 + 2 = 87.
func (s *Stats) MaxSlots() int {
	n := int(s.fineSpan/s.slot) + 1 + 2
	if s.coarseLen > 0 {
		n += int((s.retention-s.fineSpan+s.coarseLen-1)/s.coarseLen) + 1
	}
	return n
}

// MemoryBound is the most memory the slots can take, in bytes: every slot
// holding a cell for every route and key id. It excludes the keys
// themselves (KeyOverhead plus the identity string each, at most
// MaxKeys+MaxRoutes+1 keys). See the package documentation for the figures
// at the defaults.
func (s *Stats) MemoryBound() int64 {
	chunks := int64((s.keyCap + chunkSize - 1) / chunkSize)
	routes := int64(s.routeCap)
	perSlot := slotHeader + 9*routes + 9*chunks + routes*routeCellAlloc + chunks*chunkAlloc
	return int64(s.MaxSlots()) * perSlot
}
