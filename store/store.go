// Package store defines the interface every counter store implements: the
// in-process memory store, the Redis store, and any store a user writes.
// A store owns the state of each key and applies the arithmetic of package
// algorithm to it atomically. Stores are checked for conformance by package
// storetest.
package store

import (
	"context"
	"time"

	"github.com/sluicehq/sluice/algorithm"
)

// Request is one call against one limit: cost Cost against Limit on Key.
type Request struct {
	Key   string
	Limit algorithm.Limit
	Cost  int64
}

// Store keeps the state of rate-limit keys. Implementations are safe for
// concurrent use, take their time from their own clock (the memory store's
// configured clock, Redis's TIME), and decide each call atomically: two
// concurrent calls never both see the same allowance. A store keeps one
// state per key and algorithm: a key used under two algorithms has two
// independent states.
//
// Keys and limits reaching a store have been validated by the caller
// (sluice.Limiter does this): keys are non-empty and at most
// sluice.MaxKeyLength bytes, limits pass Limit.Validate, costs are >= 0.
type Store interface {
	// Take applies a call of the given cost to key under limit and returns
	// the decision (see algorithm.Apply); cost 0 reads without consuming.
	Take(ctx context.Context, key string, limit algorithm.Limit, cost int64) (algorithm.Decision, error)

	// TakeAll applies several calls at once, all-or-nothing: if any is
	// denied, none consumes anything. It writes one decision per request to
	// out (len(out) >= len(reqs)) and reports whether all were allowed. When
	// some are denied, the decisions of the others describe their keys as
	// they stand (a read), with Allowed true. Requests naming the same key
	// and algorithm see each other's cost, in order.
	TakeAll(ctx context.Context, reqs []Request, out []algorithm.Decision) (allowed bool, err error)

	// Refund gives back amount of allowance to key under limit, never above
	// the limit, and returns the key's decision as a read afterwards.
	Refund(ctx context.Context, key string, limit algorithm.Limit, amount int64) (algorithm.Decision, error)

	// Reset forgets the state of key under every algorithm.
	Reset(ctx context.Context, key string) error
}

// Leaser is the optional ability of a store to hold concurrency leases: at
// most max leases in flight per key, each expiring ttl after it was taken
// unless released first.
type Leaser interface {
	// Acquire takes the lease id on key if fewer than max leases are held
	// (expired ones do not count). The Decision's Remaining is the number of
	// leases still free; a denied Decision's RetryAfter is when the oldest
	// held lease expires.
	Acquire(ctx context.Context, key, id string, max int64, ttl time.Duration) (algorithm.Decision, error)
	// Release gives the lease id on key back. Releasing a lease that expired
	// or was never taken does nothing and is not an error.
	Release(ctx context.Context, key, id string) error
}

// Pinger is the optional ability of a store to check it is ready to decide,
// for readiness probes. Remote stores run a real decision, not just a ping.
type Pinger interface {
	Ping(ctx context.Context) error
}
