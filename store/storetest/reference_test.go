package storetest_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/algorithm"
	"github.com/sluicehq/sluice/store"
	"github.com/sluicehq/sluice/store/storetest"
)

// reference is the simplest correct store: one lock, one map, no expiry. The
// suite running against it checks the suite's own expectations and the
// algorithm arithmetic, independently of any real store.
type reference struct {
	mu     sync.Mutex
	now    func() time.Time
	states map[stateKey]algorithm.State
}

type stateKey struct {
	key string
	alg algorithm.Algorithm
}

func (r *reference) Take(ctx context.Context, key string, l algorithm.Limit, cost int64) (algorithm.Decision, error) {
	out := make([]algorithm.Decision, 1)
	_, err := r.TakeAll(ctx, []store.Request{{Key: key, Limit: l, Cost: cost}}, out)
	return out[0], err
}

func (r *reference) TakeAll(ctx context.Context, reqs []store.Request, out []algorithm.Decision) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now().UnixMicro()
	pending := map[stateKey]algorithm.State{}
	allowed := true
	for i, req := range reqs {
		k := stateKey{req.Key, req.Limit.Algorithm}
		s, seen := pending[k]
		if !seen {
			s = r.states[k]
		}
		res := algorithm.Apply(req.Limit, s, now, req.Cost)
		out[i] = res.Decision
		allowed = allowed && res.Decision.Allowed
		if res.Commit {
			pending[k] = res.State
		}
	}
	if !allowed {
		for i, req := range reqs {
			if out[i].Allowed {
				out[i] = algorithm.Apply(req.Limit, r.states[stateKey{req.Key, req.Limit.Algorithm}], now, 0).Decision
				out[i].Allowed, out[i].RetryAfter = true, 0
			}
		}
		return false, nil
	}
	for k, s := range pending {
		r.states[k] = s
	}
	return true, nil
}

func (r *reference) Refund(ctx context.Context, key string, l algorithm.Limit, amount int64) (algorithm.Decision, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := stateKey{key, l.Algorithm}
	res := algorithm.Refund(l, r.states[k], r.now().UnixMicro(), amount)
	r.states[k] = res.State
	return res.Decision, nil
}

func (r *reference) Reset(ctx context.Context, key string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for k := range r.states {
		if k.key == key {
			delete(r.states, k)
		}
	}
	return nil
}

func TestReferenceStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T, c *storetest.Clock) store.Store {
		return &reference{now: c.Now, states: map[stateKey]algorithm.State{}}
	})
}
