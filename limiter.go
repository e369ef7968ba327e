package sluice

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sluicehq/sluice/store"
	"github.com/sluicehq/sluice/store/memory"
)

// FailureMode says what a Limiter does when its store fails or times out.
type FailureMode uint8

// The failure modes.
const (
	// FailOpen lets the call through with reason timeout or store_error. The
	// default: an outage of the store does not become an outage of the API.
	FailOpen FailureMode = iota
	// FailClosed returns an error wrapping ErrStoreUnavailable (a server
	// answers 503, not 429).
	FailClosed
	// FailLocal decides the call against the same limit in a local
	// in-memory store for the duration of the outage, with reason
	// local_fallback: a login limit need not open the door while Redis is
	// down. Each process then enforces the limit on its own.
	FailLocal
)

// String returns "open", "closed" or "local".
func (m FailureMode) String() string {
	switch m {
	case FailClosed:
		return "closed"
	case FailLocal:
		return "local"
	}
	return "open"
}

// Config configures a Limiter. The zero value is ready to use.
type Config struct {
	// Now is the Limiter's clock, used by the block cache and the local
	// fallback store; tests set it. Nil means the system clock. Stores keep
	// their own clocks.
	Now func() time.Time
	// Timeout is a deadline added to each store call. Zero adds none: the
	// memory store needs none, and the Redis store has its own default.
	Timeout time.Duration
	// OnStoreError is what happens when the store fails; FailOpen by default.
	OnStoreError FailureMode
	// BlockCacheSize bounds the ephemeral block cache, in keys. Zero means
	// DefaultBlockCacheSize; a negative value turns the cache off.
	BlockCacheSize int
	// LocalMaxKeys bounds the FailLocal fallback store, as
	// memory.Config.MaxKeys; zero means memory.DefaultMaxKeys.
	LocalMaxKeys int
}

// DefaultBlockCacheSize is the block cache's size when Config leaves it zero.
const DefaultBlockCacheSize = 100_000

// Limiter decides calls against limits with counters in a Store. It is safe
// for concurrent use. Create one with New and share it.
type Limiter struct {
	store   store.Store
	owned   []*memory.Store // stores the Limiter made and closes
	local   *memory.Store   // the FailLocal fallback, nil otherwise
	nanos   func() int64    // the block cache's clock, in nanoseconds
	timeout time.Duration
	mode    FailureMode
	blocked *blockCache // nil when the cache is off
}

// New returns a Limiter over s. A nil s means a new in-memory store with
// default settings, which Close closes.
func New(s store.Store, cfg Config) *Limiter {
	l := &Limiter{store: s, nanos: monotonicNanos(), timeout: max(cfg.Timeout, 0), mode: cfg.OnStoreError}
	if cfg.Now != nil {
		l.nanos = func() int64 { return cfg.Now().UnixNano() }
	}
	if s == nil {
		m := memory.New(memory.Config{Now: cfg.Now})
		l.store, l.owned = m, append(l.owned, m)
	}
	if l.mode == FailLocal {
		l.local = memory.New(memory.Config{Now: cfg.Now, MaxKeys: cfg.LocalMaxKeys})
		l.owned = append(l.owned, l.local)
	}
	if cfg.BlockCacheSize >= 0 {
		size := cfg.BlockCacheSize
		if size == 0 {
			size = DefaultBlockCacheSize
		}
		l.blocked = newBlockCache(size)
	}
	return l
}

// Close releases the stores the Limiter created itself (the default memory
// store, the local fallback). A store passed to New is the caller's to close.
func (l *Limiter) Close() error {
	var errs []error
	for _, s := range l.owned {
		errs = append(errs, s.Close())
	}
	return errors.Join(errs...)
}

// Store returns the store the Limiter decides with.
func (l *Limiter) Store() store.Store { return l.store }

// Allow decides one call of cost 1 on key under limit.
func (l *Limiter) Allow(ctx context.Context, key string, limit Limit) (Decision, error) {
	return l.AllowN(ctx, key, limit, 1)
}

// AllowN decides one call of the given cost on key under limit. Cost 0 reads
// without consuming (see Peek). A denied call consumes nothing. A cost
// larger than the limit's capacity is denied with reason cost_exceeds_limit.
func (l *Limiter) AllowN(ctx context.Context, key string, limit Limit, cost int64) (Decision, error) {
	if err := validate(key, limit, cost); err != nil {
		return Decision{}, err
	}
	if cost > 0 {
		if d, hit := l.blocked.lookup(key, limit, l.nanos); hit {
			return d, nil
		}
	}
	tctx, cancel := l.withTimeout(ctx)
	d, err := l.store.Take(tctx, key, limit, cost)
	cancel()
	if err != nil {
		return l.onStoreError(ctx, err, limit, func(local store.Store) (Decision, error) {
			return local.Take(ctx, key, limit, cost)
		})
	}
	if cost == 1 {
		l.blocked.remember(key, limit, d, l.nanos)
	}
	return d, nil
}

// Peek reads key's allowance under limit without consuming: Allowed reports
// whether a call of cost 1 would pass now, Remaining what is left.
func (l *Limiter) Peek(ctx context.Context, key string, limit Limit) (Decision, error) {
	return l.AllowN(ctx, key, limit, 0)
}

// AllowAll decides several calls at once, all-or-nothing: if any limit
// denies, no counter is consumed. It returns a combined Decision (allowed
// only if all are; when denied, the decision of the limit that must wait
// longest; when allowed, the one with the least remaining) and each
// request's own decision. If a key is known to be blocked (the block cache)
// the store is not asked: that request's decision has reason cache_block,
// and the others, not evaluated, have reason skipped.
func (l *Limiter) AllowAll(ctx context.Context, reqs ...Request) (Decision, []Decision, error) {
	if len(reqs) == 0 {
		return Decision{}, nil, fmt.Errorf("%w: AllowAll needs at least one request", ErrInvalidLimit)
	}
	for _, r := range reqs {
		if err := validate(r.Key, r.Limit, r.Cost); err != nil {
			return Decision{}, nil, err
		}
	}
	each := make([]Decision, len(reqs))
	for i, r := range reqs {
		if r.Cost == 0 {
			continue
		}
		if d, hit := l.blocked.lookup(r.Key, r.Limit, l.nanos); hit {
			for j, o := range reqs {
				each[j] = Decision{Allowed: true, Limit: o.Limit.Capacity(), Reason: ReasonSkipped}
			}
			each[i] = d
			return d, each, nil
		}
	}
	tctx, cancel := l.withTimeout(ctx)
	_, err := l.store.TakeAll(tctx, reqs, each)
	cancel()
	if err != nil {
		d, err := l.onStoreError(ctx, err, reqs[0].Limit, func(local store.Store) (Decision, error) {
			if _, err := local.TakeAll(ctx, reqs, each); err != nil {
				return Decision{}, err
			}
			for i := range each {
				each[i].Reason = ReasonLocalFallback
			}
			return combine(each), nil
		})
		if err != nil {
			return d, nil, err
		}
		if l.mode != FailLocal {
			for i, r := range reqs {
				each[i] = d
				each[i].Limit = r.Limit.Capacity()
			}
		}
		return d, each, nil
	}
	for i, r := range reqs {
		if r.Cost == 1 {
			l.blocked.remember(r.Key, r.Limit, each[i], l.nanos)
		}
	}
	return combine(each), each, nil
}

// combine is the decision that stands for several: the binding denial, or
// the allowed decision with the least remaining.
func combine(each []Decision) Decision {
	var out Decision
	for i, d := range each {
		switch {
		case i == 0:
			out = d
		case !d.Allowed && (out.Allowed || d.RetryAfter > out.RetryAfter):
			out = d
		case d.Allowed && out.Allowed && d.Remaining < out.Remaining:
			out = d
		}
	}
	return out
}

// Refund gives back amount of allowance on key under limit, for calls whose
// real cost turned out lower than what was taken (an LLM call that used
// fewer tokens than reserved). The allowance never rises above the limit.
func (l *Limiter) Refund(ctx context.Context, key string, limit Limit, amount int64) (Decision, error) {
	if err := validate(key, limit, amount); err != nil {
		return Decision{}, err
	}
	l.blocked.forget(key)
	ctx, cancel := l.withTimeout(ctx)
	defer cancel()
	d, err := l.store.Refund(ctx, key, limit, amount)
	if err != nil {
		return Decision{}, fmt.Errorf("%w: refund: %w", ErrStoreUnavailable, err)
	}
	return d, nil
}

// Reset forgets key's state under every algorithm, as if it had never been
// used (a successful login clearing failed attempts).
func (l *Limiter) Reset(ctx context.Context, key string) error {
	if err := validateKey(key); err != nil {
		return err
	}
	l.blocked.forget(key)
	if l.local != nil {
		_ = l.local.Reset(ctx, key) // the local store cannot fail
	}
	ctx, cancel := l.withTimeout(ctx)
	defer cancel()
	if err := l.store.Reset(ctx, key); err != nil {
		return fmt.Errorf("%w: reset: %w", ErrStoreUnavailable, err)
	}
	return nil
}

// monotonicNanos returns a clock of nanoseconds since an arbitrary start,
// read from the monotonic clock alone: half the cost of time.Now, which
// also reads the wall clock, and immune to steps of the wall clock.
func monotonicNanos() func() int64 {
	start := time.Now()
	return func() int64 { return int64(time.Since(start)) }
}

// withTimeout adds the configured deadline to ctx.
func (l *Limiter) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if l.timeout <= 0 {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, l.timeout)
}

// onStoreError applies the failure mode to a store error. ctx is the
// caller's context: if the caller gave up, that is returned as the error
// whatever the mode. local decides the call in the local fallback store.
func (l *Limiter) onStoreError(ctx context.Context, err error, limit Limit, local func(store.Store) (Decision, error)) (Decision, error) {
	if ctx.Err() != nil {
		return Decision{}, fmt.Errorf("sluice: %w", ctx.Err())
	}
	reason := ReasonStoreError
	if errors.Is(err, context.DeadlineExceeded) {
		reason = ReasonTimeout
	}
	switch l.mode {
	case FailClosed:
		return Decision{Limit: limit.Capacity(), Reason: reason}, fmt.Errorf("%w (%s): %w", ErrStoreUnavailable, reason, err)
	case FailLocal:
		d, lerr := local(l.local)
		if lerr != nil {
			return Decision{}, fmt.Errorf("%w: local fallback: %w", ErrStoreUnavailable, lerr)
		}
		d.Reason = ReasonLocalFallback
		return d, nil
	}
	return Decision{Allowed: true, Limit: limit.Capacity(), Reason: reason}, nil
}

func validateKey(key string) error {
	if key == "" {
		return fmt.Errorf("%w: empty key", ErrInvalidKey)
	}
	if len(key) > MaxKeyLength {
		return fmt.Errorf("%w: key is %d bytes, at most %d are accepted", ErrInvalidKey, len(key), MaxKeyLength)
	}
	return nil
}

func validate(key string, limit Limit, cost int64) error {
	if err := validateKey(key); err != nil {
		return err
	}
	if cost < 0 {
		return fmt.Errorf("%w: %d is negative; a cost is 0 (read only) or more", ErrInvalidCost, cost)
	}
	return limit.Validate()
}
