package memory

import (
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/sluicehq/sluice/algorithm"
)

// TestTableMatchesMap runs random inserts, updates and removes on a table
// and on a map, with hashes narrowed to a few bits so that probe runs are
// long and wrap around the index, and checks they always agree.
func TestTableMatchesMap(t *testing.T) {
	type k struct {
		key string
		alg algorithm.Algorithm
	}
	for _, hashBits := range []uint{3, 6, 32} {
		rng := rand.New(rand.NewPCG(1, uint64(hashBits)))
		hashOf := func(key string) uint32 {
			n, _ := strconv.Atoi(key)
			return uint32(rand.New(rand.NewPCG(uint64(n), 7)).Uint64()) >> (32 - hashBits)
		}
		var tb table
		model := map[k]int64{}
		for step := range 20000 {
			key := k{strconv.Itoa(rng.IntN(300)), algorithm.Algorithm(rng.IntN(2))}
			h := hashOf(key.key)
			i := tb.find(key.key, key.alg, h)
			want, ok := model[key]
			if (i >= 0) != ok || (ok && tb.entries[i].state.A != want) {
				t.Fatalf("bits %d step %d: find(%v) = %d, model has %v %d", hashBits, step, key, i, ok, want)
			}
			switch {
			case !ok:
				tb.insert(key.key, key.alg, h, algorithm.State{A: int64(step)}, 0)
				model[key] = int64(step)
			case rng.IntN(2) == 0:
				tb.remove(i)
				delete(model, key)
			default:
				tb.entries[i].state.A = int64(step)
				model[key] = int64(step)
			}
			if step%500 == 0 && rng.IntN(4) == 0 {
				tb.shrink()
			}
			if len(tb.entries) != len(model) {
				t.Fatalf("bits %d step %d: %d entries, model has %d", hashBits, step, len(tb.entries), len(model))
			}
		}
		for key, want := range model {
			if i := tb.find(key.key, key.alg, hashOf(key.key)); i < 0 || tb.entries[i].state.A != want {
				t.Fatalf("bits %d: final find(%v) = %d", hashBits, key, i)
			}
		}
	}
}

func TestShrinkGivesMemoryBack(t *testing.T) {
	var tb table
	for i := range 10000 {
		tb.insert(strconv.Itoa(i), 0, uint32(i*2654435761), algorithm.State{}, 0)
	}
	for len(tb.entries) > 10 {
		tb.remove(len(tb.entries) - 1)
	}
	tb.shrink()
	if cap(tb.entries) > 100 || len(tb.index) > 64 {
		t.Fatalf("after shrinking to 10 entries: cap %d, index %d", cap(tb.entries), len(tb.index))
	}
	for i := range 10 {
		if tb.find(strconv.Itoa(i), 0, uint32(i*2654435761)) != i {
			t.Fatalf("entry %d lost in shrinking", i)
		}
	}
	for len(tb.entries) > 0 {
		tb.remove(0)
	}
	tb.shrink()
	if tb.index != nil || tb.entries != nil {
		t.Fatal("an empty table keeps memory")
	}
}
