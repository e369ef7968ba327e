// Package sluice is a rate limiter for APIs: a Limiter decides whether a
// call may pass under a Limit, with counters in a Store (in memory by
// default, or Redis). It offers every common algorithm (sliding and fixed
// window, token bucket, GCRA, counters without a window, calendar quotas),
// per-call cost, several limits checked at once all-or-nothing, concurrency
// leases, an ephemeral cache of blocked keys, and a choice of what happens
// when the store fails.
//
//	lim := sluice.New(nil, sluice.Config{}) // counters in memory
//	d, err := lim.Allow(ctx, "login:alice@example.com", sluice.MustParseLimit("5/15m"))
//	if err != nil { /* the store failed and the limiter is fail-closed */ }
//	if !d.Allowed { /* d.RetryAfter, d.Remaining, d.Reset, d.Reason */ }
//
// Over the limit is a Decision with Allowed false, never an error. An error
// means the input was invalid or the store failed under FailClosed.
package sluice

import (
	"errors"

	"github.com/sluicehq/sluice/algorithm"
	"github.com/sluicehq/sluice/store"
)

// Limit says how much is allowed; see algorithm.Limit.
type Limit = algorithm.Limit

// Decision is the outcome of a call; see algorithm.Decision.
type Decision = algorithm.Decision

// Reason says why a Decision came out the way it did; see algorithm.Reason.
type Reason = algorithm.Reason

// Algorithm names a rate-limiting algorithm; see algorithm.Algorithm.
type Algorithm = algorithm.Algorithm

// Request is one call in AllowAll: Cost against Limit on Key.
type Request = store.Request

// The algorithms.
const (
	SlidingWindow = algorithm.SlidingWindow
	FixedWindow   = algorithm.FixedWindow
	TokenBucket   = algorithm.TokenBucket
	GCRA          = algorithm.GCRA
	Counter       = algorithm.Counter
	Quota         = algorithm.Quota
)

// The reasons.
const (
	ReasonAllowed          = algorithm.ReasonAllowed
	ReasonRateLimited      = algorithm.ReasonRateLimited
	ReasonCostExceedsLimit = algorithm.ReasonCostExceedsLimit
	ReasonCacheBlock       = algorithm.ReasonCacheBlock
	ReasonTimeout          = algorithm.ReasonTimeout
	ReasonStoreError       = algorithm.ReasonStoreError
	ReasonLocalFallback    = algorithm.ReasonLocalFallback
	ReasonDenied           = algorithm.ReasonDenied
	ReasonSkipped          = algorithm.ReasonSkipped
)

// MaxKeyLength is the longest key, in bytes, a Limiter accepts.
const MaxKeyLength = 1024

// Errors returned by a Limiter; test them with errors.Is.
var (
	// ErrInvalidLimit: a Limit or limit text is malformed.
	ErrInvalidLimit = algorithm.ErrInvalidLimit
	// ErrInvalidKey: a key is empty or longer than MaxKeyLength.
	ErrInvalidKey = errors.New("invalid key")
	// ErrInvalidCost: a cost or refund amount is negative.
	ErrInvalidCost = errors.New("invalid cost")
	// ErrStoreUnavailable: the store failed or timed out and the Limiter is
	// fail-closed. It wraps the store's error.
	ErrStoreUnavailable = errors.New("rate-limit store unavailable")
	// ErrLeasesUnsupported: the store cannot hold concurrency leases.
	ErrLeasesUnsupported = errors.New("store does not support concurrency leases")
)

// ParseLimit parses limit text such as "100/15m", "10/s token_bucket
// burst=20" or "5000/month tz=Europe/Berlin"; see algorithm.ParseLimit.
func ParseLimit(text string) (Limit, error) { return algorithm.ParseLimit(text) }

// MustParseLimit is ParseLimit for limits written in source code: it panics
// on malformed text. Never call it on input.
func MustParseLimit(text string) Limit { return algorithm.MustParseLimit(text) }

// Key joins parts into one key such that different tuples of parts never
// produce the same key; see store.JoinKey.
func Key(parts ...string) string { return store.JoinKey(parts...) }
