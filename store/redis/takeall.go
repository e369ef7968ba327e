package redis

import (
	"context"
	"fmt"

	"github.com/sluicehq/sluice/algorithm"
	"github.com/sluicehq/sluice/store"
)

// undoInts is the number of integers take.lua returns per call for the
// cross-slot protocol: existed, state before (a, b, c), state after (a, b, c).
const undoInts = 7

// group is the calls of an all-or-nothing check that share a hash slot.
type group struct {
	idx []int // indexes into the requests, in order
}

// TakeAll applies several calls at once, all-or-nothing; see store.Store.
//
// On a standalone Redis, or when every key is in one Cluster slot (keys
// starting with the same "{tag}"), this is one script: atomic, one round
// trip. When the keys fall in several slots, each slot's calls run as one
// script on their node, all at once (one round trip); a script consumes only
// if all its calls pass. If some slot group was denied, the groups that
// consumed are undone in a second round trip (undo.lua), so that nothing
// stays consumed by a denied check. Between the two round trips, other
// callers may see those allowances as taken: a transient under-admission,
// never an over-admission. If the undo itself fails (the node is
// unreachable), those allowances stay consumed until their window passes;
// the store logs a warning and still returns the denial.
func (s *Store) TakeAll(ctx context.Context, reqs []store.Request, out []algorithm.Decision) (bool, error) {
	if len(out) < len(reqs) {
		return false, fmt.Errorf("sluice redis: take all: %d decisions for %d requests", len(out), len(reqs))
	}
	if len(reqs) == 0 {
		return true, nil
	}
	var kbuf [stackRequests]string
	keys := kbuf[:0]
	for _, r := range reqs {
		if err := check(r.Limit, r.Cost); err != nil {
			return false, err
		}
		keys = append(keys, s.key(r.Key, suffix(r.Limit.Algorithm)))
	}
	if !s.run.cluster || oneSlot(keys) {
		return s.takeAllAtomic(ctx, reqs, keys, out)
	}
	return s.takeAllCrossSlot(ctx, reqs, keys, out)
}

// stackRequests is how many requests TakeAll handles in buffers on its
// stack.
const stackRequests = 8

// oneSlot reports whether all keys are in one Cluster slot.
func oneSlot(keys []string) bool {
	first := slot(keys[0])
	for _, k := range keys[1:] {
		if slot(k) != first {
			return false
		}
	}
	return true
}

// takeAllAtomic runs the whole check as one script: one round trip.
func (s *Store) takeAllAtomic(ctx context.Context, reqs []store.Request, keys []string, out []algorithm.Decision) (bool, error) {
	var buf [stackRequests * 64]byte
	var ends [4 + stackRequests*10]int
	var argv [4 + stackRequests*10]string
	var rbuf [1 + stackRequests*decisionInts]int64
	a := argBuf{b: buf[:0], ends: ends[:0]}
	a, ref := s.header(a)
	a = a.str("0")
	for _, r := range reqs {
		a = a.limit(r.Limit, ref).int(r.Cost)
	}
	cctx, cancel := s.deadline(ctx)
	reply, err := s.run.runOne(cctx, s.scripts.take, keys, a.strings(argv[:0]), rbuf[:0])
	cancel()
	if err != nil {
		return false, fail(cctx, "take all", err)
	}
	if len(reply) != 1+len(reqs)*decisionInts {
		return false, fmt.Errorf("sluice redis: take all: reply of %d integers, want %d", len(reply), 1+len(reqs)*decisionInts)
	}
	for i := range reqs {
		out[i] = decision(reply[1+i*decisionInts:])
	}
	return reply[0] == 1, nil
}

// takeAllCrossSlot runs the check as one script per slot, all at once, and
// undoes the groups that consumed if another was denied.
func (s *Store) takeAllCrossSlot(ctx context.Context, reqs []store.Request, keys []string, out []algorithm.Decision) (bool, error) {
	groups := s.groups(keys)
	calls := make([]call, len(groups))
	for g, grp := range groups {
		calls[g] = s.takeCall(reqs, keys, grp.idx, true)
	}
	cctx, cancel := s.deadline(ctx)
	s.run.run(cctx, calls)
	cancel()

	// Which groups answered, and did they consume?
	var firstErr error
	allowed := true
	consumed := make([]bool, len(groups))
	for g, grp := range groups {
		c := &calls[g]
		want := 1 + len(grp.idx)*(decisionInts+undoInts)
		if c.err == nil && len(c.reply) != want {
			c.err = fmt.Errorf("reply of %d integers, want %d", len(c.reply), want)
		}
		if c.err != nil {
			if firstErr == nil {
				firstErr = fail(cctx, "take all", c.err)
			}
			continue
		}
		consumed[g] = c.reply[0] == 1
		allowed = allowed && consumed[g]
		for j, i := range grp.idx {
			out[i] = decision(c.reply[1+j*decisionInts:])
		}
	}
	if firstErr == nil && allowed {
		return true, nil
	}
	// Some group was denied or failed: undo the groups that consumed.
	var undo []call
	var undone []int
	for g, grp := range groups {
		if consumed[g] {
			undo = append(undo, s.undoCall(reqs, keys, grp.idx, calls[g].reply[1+len(grp.idx)*decisionInts:]))
			undone = append(undone, g)
		}
	}
	if len(undo) > 0 {
		// The undo runs even if the caller gave up: leaving the counters
		// consumed would deny later calls for nothing.
		uctx, cancel := s.deadline(context.WithoutCancel(ctx))
		s.run.run(uctx, undo)
		cancel()
		for u, g := range undone {
			c := &undo[u]
			if c.err == nil && len(c.reply) != len(groups[g].idx)*decisionInts {
				c.err = fmt.Errorf("reply of %d integers, want %d", len(c.reply), len(groups[g].idx)*decisionInts)
			}
			if c.err != nil {
				s.log.Warn("sluice redis: could not undo a denied all-or-nothing check across Cluster slots; its allowance stays consumed until the windows pass",
					"err", fail(uctx, "undo", c.err), "keys", len(groups[g].idx))
				continue
			}
			for j, i := range groups[g].idx {
				out[i] = decision(c.reply[j*decisionInts:])
			}
		}
	}
	if firstErr != nil {
		return false, firstErr
	}
	return false, nil
}

// groups splits the requests by hash slot, in order of first appearance.
// Without a cluster, all requests form one group.
func (s *Store) groups(keys []string) []group {
	if !s.run.cluster {
		idx := make([]int, len(keys))
		for i := range idx {
			idx[i] = i
		}
		return []group{{idx: idx}}
	}
	var groups []group
	var slots []uint16
next:
	for i, k := range keys {
		sl := slot(k)
		for g, gs := range slots {
			if gs == sl {
				groups[g].idx = append(groups[g].idx, i)
				continue next
			}
		}
		slots = append(slots, sl)
		groups = append(groups, group{idx: []int{i}})
	}
	return groups
}

// takeCall builds the take.lua call of one group.
func (s *Store) takeCall(reqs []store.Request, keys []string, idx []int, undo bool) call {
	a := argBuf{b: make([]byte, 0, 16+64*len(idx)), ends: make([]int, 0, 4+10*len(idx))}
	a, ref := s.header(a)
	if undo {
		a = a.str("1")
	} else {
		a = a.str("0")
	}
	ks := make([]string, len(idx))
	for j, i := range idx {
		ks[j] = keys[i]
		a = a.limit(reqs[i].Limit, ref)
		a = a.int(reqs[i].Cost)
	}
	return call{script: s.scripts.take, keys: ks, args: a.strings(make([]string, 0, len(a.ends))), reply: make([]int64, 0, 1+len(idx)*(decisionInts+undoInts))}
}

// undoCall builds the undo.lua call of one group from what take.lua
// returned for it (undoInts integers per call).
func (s *Store) undoCall(reqs []store.Request, keys []string, idx []int, states []int64) call {
	a := argBuf{b: make([]byte, 0, 16+200*len(idx)), ends: make([]int, 0, 2+17*len(idx))}
	a, ref := s.header(a)
	ks := make([]string, len(idx))
	for j, i := range idx {
		ks[j] = keys[i]
		a = a.limit(reqs[i].Limit, ref)
		a = a.int(reqs[i].Cost)
		for _, v := range states[j*undoInts : (j+1)*undoInts] {
			a = a.int(v)
		}
	}
	return call{script: s.scripts.undo, keys: ks, args: a.strings(nil)}
}
