package memory

import (
	"context"
	"fmt"

	"github.com/sluicehq/sluice/algorithm"
	"github.com/sluicehq/sluice/store"
)

// stackRequests is how many requests TakeAll handles without allocating.
const stackRequests = 8

// pending is TakeAll's bookkeeping for one request.
type pending struct {
	hash  uint64
	first int // the first request naming the same key and algorithm
	// The fields below are used on the first request of a key and
	// algorithm only, and carry that key's state through the later ones.
	orig, work algorithm.State
	expireAt   int64
	commit     bool
}

// TakeAll applies several calls at once, all-or-nothing (see store.Store).
// It locks the shards of all the keys, in ascending order, for the whole
// call. Up to 8 requests it does not allocate.
func (s *Store) TakeAll(ctx context.Context, reqs []store.Request, out []algorithm.Decision) (bool, error) {
	if err := s.check(ctx); err != nil {
		return false, err
	}
	if len(out) < len(reqs) {
		return false, fmt.Errorf("memory: TakeAll needs a decision slot per request: %d requests, %d slots", len(reqs), len(out))
	}
	for i := range reqs {
		if err := checkRequest(reqs[i].Limit, reqs[i].Cost); err != nil {
			return false, fmt.Errorf("request %d: %w", i, err)
		}
	}
	var pbuf [stackRequests]pending
	var lbuf [stackRequests]int
	p, locks := pbuf[:0], lbuf[:0]
	for i := range reqs {
		h := s.hash(reqs[i].Key)
		first := i
		for j := range i {
			if p[j].hash == h && reqs[j].Limit.Algorithm == reqs[i].Limit.Algorithm && reqs[j].Key == reqs[i].Key {
				first = p[j].first
				break
			}
		}
		p = append(p, pending{hash: h, first: first})
		locks = insertSorted(locks, s.shardIndex(h))
	}
	now := s.nowMicros()
	for _, l := range locks {
		s.shards[l].mu.Lock()
	}

	allowed := true
	var r algorithm.Result
	for i := range reqs {
		rq, f := &reqs[i], &p[p[i].first]
		if p[i].first == i {
			_, f.orig = s.shardOf(f.hash).lookup(rq.Key, rq.Limit.Algorithm, uint32(f.hash), now)
			f.work = f.orig
		}
		algorithm.ApplyTo(&r, &rq.Limit, f.work, now, rq.Cost)
		f.work, f.expireAt, f.commit = r.State, r.ExpireAt, f.commit || r.Commit
		out[i] = r.Decision
		allowed = allowed && r.Decision.Allowed
	}

	for i := range reqs {
		rq, f := &reqs[i], &p[i]
		switch {
		case allowed && f.first == i:
			sh, alg, h := s.shardOf(f.hash), rq.Limit.Algorithm, uint32(f.hash)
			r := algorithm.Result{State: f.work, Commit: f.commit, ExpireAt: f.expireAt}
			sh.store(s, sh.states.find(rq.Key, alg, h), rq.Key, alg, h, r, now)
		case !allowed && out[i].Allowed:
			// Nothing is taken: describe the key as it stands.
			d := algorithm.Apply(rq.Limit, p[f.first].orig, now, 0).Decision
			d.Allowed, d.RetryAfter = true, 0
			out[i] = d
		}
	}
	for i := len(locks) - 1; i >= 0; i-- {
		s.shards[locks[i]].mu.Unlock()
	}
	return allowed, nil
}

func (s *Store) shardIndex(h uint64) int { return int(h >> s.shift & uint64(len(s.shards)-1)) }

// insertSorted inserts v into the ascending slice a unless it is there.
func insertSorted(a []int, v int) []int {
	i := 0
	for i < len(a) && a[i] < v {
		i++
	}
	if i < len(a) && a[i] == v {
		return a
	}
	a = append(a, 0)
	copy(a[i+1:], a[i:])
	a[i] = v
	return a
}
