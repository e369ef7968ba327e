package memory

import (
	"math/rand/v2"

	"github.com/sluicehq/sluice/algorithm"
)

// entry is the state of one key under one algorithm. It holds no pointer
// but the key's, so a million entries are a million small objects for the
// garbage collector, not two million.
type entry struct {
	key   string
	state algorithm.State
	// expireAt is Result.ExpireAt in microseconds since the Unix epoch: once
	// the clock reaches it, the entry decides like a fresh one and may go.
	expireAt int64
	// hash is the low 32 bits of the key's hash: it places the entry in
	// the index and lets the index grow without hashing keys again.
	hash uint32
	alg  algorithm.Algorithm
}

// table is an open-addressing hash table of entries, one per shard. The
// entries sit densely in a slice, so that eviction can sample them at random
// and the janitor can scan them; the index maps hashes to positions in that
// slice with linear probing. Every slot of the index is 0 (empty) or the
// entry's 32-bit hash in the high half and its position plus one in the low
// half, so most probes that do not match are rejected without touching the
// entry. The index is at most 3/4 full, so probing always ends.
//
// The positions of all algorithms of one key start at the same slot of the
// index, since the slot is derived from the key alone.
type table struct {
	index   []uint64
	entries []entry
}

const minIndex = 8 // the smallest index, a power of two

// find returns the position in entries of key under alg, or -1.
func (t *table) find(key string, alg algorithm.Algorithm, h uint32) int {
	if len(t.index) == 0 {
		return -1
	}
	mask := uint32(len(t.index) - 1)
	for p := h & mask; ; p = (p + 1) & mask {
		v := t.index[p]
		if v == 0 {
			return -1
		}
		if uint32(v>>32) == h {
			i := int(uint32(v)) - 1
			if e := &t.entries[i]; e.alg == alg && e.key == key {
				return i
			}
		}
	}
}

// insert adds an entry that is not in the table yet and returns its
// position. key must not be shared with memory the caller may reuse.
func (t *table) insert(key string, alg algorithm.Algorithm, h uint32, s algorithm.State, expireAt int64) int {
	if (len(t.entries)+1)*4 > len(t.index)*3 {
		t.resize(max(minIndex, 2*len(t.index)))
	}
	i := len(t.entries)
	t.entries = append(t.entries, entry{key: key, state: s, expireAt: expireAt, hash: h, alg: alg})
	t.place(h, i)
	return i
}

// place writes position i with hash h into the first free slot of its probe
// sequence.
func (t *table) place(h uint32, i int) {
	mask := uint32(len(t.index) - 1)
	p := h & mask
	for t.index[p] != 0 {
		p = (p + 1) & mask
	}
	t.index[p] = uint64(h)<<32 | uint64(i+1)
}

// slotOf returns the index slot that holds position i.
func (t *table) slotOf(i int) uint32 {
	mask := uint32(len(t.index) - 1)
	p := t.entries[i].hash & mask
	for uint32(t.index[p]) != uint32(i+1) {
		p = (p + 1) & mask
	}
	return p
}

// remove deletes the entry at position i. The last entry moves into its
// place, so positions above i are not stable across a remove.
func (t *table) remove(i int) {
	t.clearSlot(t.slotOf(i))
	last := len(t.entries) - 1
	if i != last {
		t.index[t.slotOf(last)] = uint64(t.entries[last].hash)<<32 | uint64(i+1)
		t.entries[i] = t.entries[last]
	}
	t.entries[last] = entry{} // drop the key for the garbage collector
	t.entries = t.entries[:last]
}

// clearSlot empties slot p of the index and shifts later slots of the same
// probe run back, so that no lookup stops early at the hole (backward-shift
// deletion: no tombstones).
func (t *table) clearSlot(p uint32) {
	mask := uint32(len(t.index) - 1)
	t.index[p] = 0
	for j := (p + 1) & mask; t.index[j] != 0; j = (j + 1) & mask {
		home := uint32(t.index[j]>>32) & mask
		// The slot at j may move back to the hole p unless its home lies
		// cyclically in (p, j].
		stays := (home > p && home <= j) || (j < p && (home > p || home <= j))
		if !stays {
			t.index[p], t.index[j] = t.index[j], 0
			p = j
		}
	}
}

// resize rebuilds the index with n slots (a power of two).
func (t *table) resize(n int) {
	t.index = make([]uint64, n)
	for i := range t.entries {
		t.place(t.entries[i].hash, i)
	}
}

// shrink gives memory back after many entries went away: it reallocates
// the entries and the index when they are less than a quarter used.
func (t *table) shrink() {
	n := len(t.entries)
	if n*4 >= cap(t.entries) && (n+1)*8 > len(t.index) {
		return
	}
	size := minIndex
	for (n+1)*2 > size { // at most half full after shrinking
		size *= 2
	}
	if n == 0 {
		t.index, t.entries = nil, nil
		return
	}
	t.entries = append(make([]entry, 0, n+n/4), t.entries...)
	if size < len(t.index) {
		t.resize(size)
	}
}

// victim samples a few entries at random and returns the position of one to
// evict: an expired one if the sample holds any, else the one that expires
// soonest. The table must not be empty.
func (t *table) victim(now int64) int {
	const samples = 5
	best := rand.IntN(len(t.entries))
	for range samples - 1 {
		if t.entries[best].expireAt <= now {
			break
		}
		if i := rand.IntN(len(t.entries)); t.entries[i].expireAt < t.entries[best].expireAt {
			best = i
		}
	}
	return best
}
