package sluice

import (
	"context"
	"crypto/rand"
	"fmt"
	"sync"
	"time"

	"github.com/sluicehq/sluice/store"
)

// Lease is one call in flight, taken with Acquire. Release it when the call
// ends; a lease never released expires at its TTL, so a crashed caller
// cannot hold a slot forever.
type Lease struct {
	leaser store.Leaser // nil for a lease granted without the store (fail-open)
	key    string
	id     string
	once   sync.Once
}

// Release gives the lease back. It is safe to call more than once and on a
// nil Lease; only the first call does anything.
func (l *Lease) Release(ctx context.Context) error {
	if l == nil {
		return nil
	}
	var err error
	l.once.Do(func() {
		if l.leaser != nil {
			err = l.leaser.Release(ctx, l.key, l.id)
		}
	})
	if err != nil {
		return fmt.Errorf("%w: release: %w", ErrStoreUnavailable, err)
	}
	return nil
}

// Acquire takes one of maxInFlight concurrency leases on key, each lasting at most
// ttl. When maxInFlight are in flight the Decision is denied (RetryAfter: when the
// oldest lease expires) and the Lease is nil. The store must implement
// store.Leaser (the memory and Redis stores do). Failure modes apply as for
// AllowN: fail-open grants a lease that holds nothing.
func (l *Limiter) Acquire(ctx context.Context, key string, maxInFlight int64, ttl time.Duration) (*Lease, Decision, error) {
	if err := validateKey(key); err != nil {
		return nil, Decision{}, err
	}
	if maxInFlight < 1 {
		return nil, Decision{}, fmt.Errorf("%w: at most %d leases in flight: must be at least 1", ErrInvalidLimit, maxInFlight)
	}
	if ttl < time.Millisecond {
		return nil, Decision{}, fmt.Errorf("%w: lease TTL %s is shorter than 1ms", ErrInvalidLimit, ttl)
	}
	leaser, ok := l.store.(store.Leaser)
	if !ok {
		return nil, Decision{}, ErrLeasesUnsupported
	}
	id := rand.Text()
	tctx, cancel := l.withTimeout(ctx)
	d, err := leaser.Acquire(tctx, key, id, maxInFlight, ttl)
	cancel()
	if err != nil {
		limit := Limit{Requests: maxInFlight, Window: ttl}
		d, err = l.onStoreError(ctx, err, limit, func(store.Store) (Decision, error) {
			leaser = l.local
			return l.local.Acquire(ctx, key, id, maxInFlight, ttl)
		})
		if err != nil || l.mode == FailOpen {
			leaser = nil
		}
	}
	if err != nil || !d.Allowed {
		return nil, d, err
	}
	return &Lease{leaser: leaser, key: key, id: id}, d, nil
}
