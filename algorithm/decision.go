package algorithm

import (
	"fmt"
	"time"
)

// Reason says why a Decision came out the way it did.
type Reason uint8

// The reasons.
const (
	// ReasonAllowed: the call was within the limit.
	ReasonAllowed Reason = iota
	// ReasonRateLimited: the call was over the limit.
	ReasonRateLimited
	// ReasonCostExceedsLimit: the call costs more than the limit's capacity,
	// so it can never pass.
	ReasonCostExceedsLimit
	// ReasonCacheBlock: the key was known to be blocked until its reset and
	// was denied without asking the store.
	ReasonCacheBlock
	// ReasonTimeout: the store did not answer in time; the call was let
	// through (fail-open).
	ReasonTimeout
	// ReasonStoreError: the store failed; the call was let through (fail-open).
	ReasonStoreError
	// ReasonLocalFallback: the store was unreachable and the call was decided
	// by a local in-memory limit instead.
	ReasonLocalFallback
	// ReasonDenied: the caller is on a deny list.
	ReasonDenied
	// ReasonSkipped: the policy chose not to count this call.
	ReasonSkipped
	numReasons
)

var reasonNames = [numReasons]string{
	ReasonAllowed:          "allowed",
	ReasonRateLimited:      "rate_limited",
	ReasonCostExceedsLimit: "cost_exceeds_limit",
	ReasonCacheBlock:       "cache_block",
	ReasonTimeout:          "timeout",
	ReasonStoreError:       "store_error",
	ReasonLocalFallback:    "local_fallback",
	ReasonDenied:           "denied",
	ReasonSkipped:          "skipped",
}

// String returns the reason as it appears in APIs and metrics, such as "rate_limited".
func (r Reason) String() string {
	if r < numReasons {
		return reasonNames[r]
	}
	return fmt.Sprintf("reason(%d)", uint8(r))
}

// MarshalText implements encoding.TextMarshaler.
func (r Reason) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (r *Reason) UnmarshalText(b []byte) error {
	for i, n := range reasonNames {
		if n == string(b) {
			*r = Reason(i)
			return nil
		}
	}
	return fmt.Errorf("unknown reason %q", b)
}

// Decision is the outcome of one call against one limit.
type Decision struct {
	// Allowed reports whether the call may pass. For a read (cost 0) it
	// reports whether a call of cost 1 would pass now.
	Allowed bool
	// Limit is the limit's capacity: Requests, or Burst for token_bucket and gcra.
	Limit int64
	// Remaining is how much allowance is left after this call.
	Remaining int64
	// Reset is how long until the allowance is whole again; 0 if it is whole.
	Reset time.Duration
	// RetryAfter is, for a denied call, how long until a call of the same
	// cost could pass; 0 for an allowed call, and 0 when the cost exceeds the
	// limit (such a call can never pass: see Reason).
	RetryAfter time.Duration
	// Reason says why.
	Reason Reason
}

// micros converts microseconds to a Duration.
func micros(us int64) time.Duration { return time.Duration(us) * time.Microsecond }
