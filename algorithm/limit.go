// Package algorithm holds the arithmetic of every rate-limiting algorithm
// Sluice offers: pure functions of (state, now, cost, limit) that return a new
// state and a decision. Nothing here does I/O or reads a clock.
//
// All time values are integer microseconds since the Unix epoch. Microseconds,
// not nanoseconds, because the Redis store runs the same arithmetic in Lua,
// whose numbers are IEEE doubles: exact for integers up to 2^53, which is
// 285 years of microseconds but only 104 days of nanoseconds.
package algorithm

import (
	"errors"
	"fmt"
	"math/bits"
	"strings"
	"time"
)

// Algorithm names one of the rate-limiting algorithms. The zero value is
// SlidingWindow, the default.
type Algorithm uint8

// The algorithms.
const (
	// SlidingWindow weighs the previous fixed window's count by how much of
	// it still overlaps the sliding window, plus the current window's count.
	SlidingWindow Algorithm = iota
	// FixedWindow counts calls in windows aligned to the Unix epoch.
	FixedWindow
	// TokenBucket holds up to Burst tokens and refills Requests per Window.
	TokenBucket
	// GCRA is the generic cell rate algorithm: one timestamp per key,
	// admitting Requests per Window with a burst tolerance of Burst.
	GCRA
	// Counter counts calls with no window: the count stays until Reset, or
	// until Window has passed since the last counted call.
	Counter
	// Quota counts calls per calendar period (day, week, month) in a time zone.
	Quota
	numAlgorithms
)

var algorithmNames = [numAlgorithms]string{
	SlidingWindow: "sliding_window",
	FixedWindow:   "fixed_window",
	TokenBucket:   "token_bucket",
	GCRA:          "gcra",
	Counter:       "counter",
	Quota:         "quota",
}

// String returns the algorithm's name as written in limit text and config,
// such as "sliding_window".
func (a Algorithm) String() string {
	if a < numAlgorithms {
		return algorithmNames[a]
	}
	return fmt.Sprintf("algorithm(%d)", uint8(a))
}

// Valid reports whether a names a known algorithm.
func (a Algorithm) Valid() bool { return a < numAlgorithms }

// ParseAlgorithm returns the algorithm with the given name. The empty string
// is SlidingWindow.
func ParseAlgorithm(name string) (Algorithm, error) {
	if name == "" {
		return SlidingWindow, nil
	}
	for a, n := range algorithmNames {
		if n == name {
			return Algorithm(a), nil
		}
	}
	return 0, fmt.Errorf("%w: unknown algorithm %q (accepted: %s)", ErrInvalidLimit, name, strings.Join(algorithmNames[:], ", "))
}

// MarshalText implements encoding.TextMarshaler.
func (a Algorithm) MarshalText() ([]byte, error) {
	if !a.Valid() {
		return nil, fmt.Errorf("%w: unknown algorithm %d", ErrInvalidLimit, uint8(a))
	}
	return []byte(a.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (a *Algorithm) UnmarshalText(b []byte) error {
	v, err := ParseAlgorithm(string(b))
	if err != nil {
		return err
	}
	*a = v
	return nil
}

// Period is the calendar period of a Quota limit.
type Period uint8

// The calendar periods.
const (
	NoPeriod Period = iota
	Day             // midnight to midnight
	Week            // Monday 00:00 to the next Monday 00:00 (ISO 8601 weeks)
	Month           // the first of the month 00:00 to the first of the next
)

// String returns "day", "week", "month" or "" for NoPeriod.
func (p Period) String() string {
	switch p {
	case Day:
		return "day"
	case Week:
		return "week"
	case Month:
		return "month"
	}
	return ""
}

// Bounds of the limits, chosen so that every intermediate value of the
// arithmetic stays an exact integer in a float64 (the Redis store's Lua).
const (
	// MaxRequests is the largest allowance (and burst) a Limit may have.
	MaxRequests = 1 << 50
	// MaxWindow is the longest window: ten years.
	MaxWindow = 10 * 366 * 24 * time.Hour
	// maxTolerance bounds burst × emission interval for token_bucket and gcra.
	maxTolerance = 1 << 51
)

// ErrInvalidLimit is wrapped by every error about a malformed Limit or limit text.
var ErrInvalidLimit = errors.New("invalid limit")

// Limit says how much is allowed: Requests per Window under an Algorithm.
// A Limit is a small value; compare two with ==.
type Limit struct {
	// Requests is the allowance per Window (per Period for Quota). For
	// TokenBucket and GCRA it is the refill rate: Requests per Window.
	Requests int64
	// Window is the length of the window, a whole number of microseconds.
	// For Counter it is how long the count is kept after the last counted
	// call. Quota ignores it and uses Period.
	Window time.Duration
	// Algorithm is the algorithm; the zero value is SlidingWindow.
	Algorithm Algorithm
	// Burst is the capacity of TokenBucket and GCRA: how many calls may pass
	// at once. Zero means Requests. Other algorithms must leave it zero.
	Burst int64
	// Period is the calendar period of a Quota limit, required for Quota.
	Period Period
	// Location is the time zone of Quota periods; nil means UTC.
	Location *time.Location
}

// Capacity is the most a single call may cost: Burst for TokenBucket and
// GCRA (defaulting to Requests), Requests for every other algorithm.
func (l Limit) Capacity() int64 {
	if (l.Algorithm == TokenBucket || l.Algorithm == GCRA) && l.Burst > 0 {
		return l.Burst
	}
	return l.Requests
}

// Interval is the emission interval of TokenBucket and GCRA in microseconds:
// the time one unit of allowance takes to refill, rounded up so that the
// rate never exceeds the limit.
func (l Limit) Interval() int64 {
	w := l.Window.Microseconds()
	return (w + l.Requests - 1) / l.Requests
}

// Validate reports whether the Limit is well formed, with a message that
// says what was wrong and what is accepted. Its errors wrap ErrInvalidLimit.
func (l Limit) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrInvalidLimit}, args...)...)
	}
	if !l.Algorithm.Valid() {
		return bad("unknown algorithm %d", uint8(l.Algorithm))
	}
	if l.Requests < 1 || l.Requests > MaxRequests {
		return bad("requests must be between 1 and %d, got %d", int64(MaxRequests), l.Requests)
	}
	if l.Burst < 0 || l.Burst > MaxRequests {
		return bad("burst must be between 0 (meaning: equal to requests) and %d, got %d", int64(MaxRequests), l.Burst)
	}
	if l.Burst != 0 && l.Algorithm != TokenBucket && l.Algorithm != GCRA {
		return bad("burst applies only to token_bucket and gcra, not %s", l.Algorithm)
	}
	if l.Algorithm == Quota {
		if l.Period == NoPeriod || l.Period > Month {
			return bad("quota needs a calendar period: day, week or month")
		}
		return nil
	}
	if l.Period != NoPeriod {
		return bad("a calendar period applies only to quota, not %s", l.Algorithm)
	}
	if l.Location != nil {
		return bad("a time zone applies only to quota, not %s", l.Algorithm)
	}
	if l.Window < time.Microsecond || l.Window > MaxWindow {
		return bad("window must be between 1µs and %s, got %s", MaxWindow, l.Window)
	}
	if l.Window%time.Microsecond != 0 {
		return bad("window must be a whole number of microseconds, got %s", l.Window)
	}
	if l.Algorithm == TokenBucket || l.Algorithm == GCRA {
		if l.Requests > l.Window.Microseconds() {
			return bad("%s admits at most one request per microsecond: %d per %s is too fast", l.Algorithm, l.Requests, l.Window)
		}
		// The interval is at most the window, so a capacity times the window
		// within bounds needs no division (the common case, on every call).
		if hi, lo := bits.Mul64(uint64(l.Capacity()), uint64(l.Window.Microseconds())); hi != 0 || lo > maxTolerance {
			if hi, lo := bits.Mul64(uint64(l.Capacity()), uint64(l.Interval())); hi != 0 || lo > maxTolerance {
				return bad("burst %d times the refill interval %dµs is too long", l.Capacity(), l.Interval())
			}
		}
	}
	return nil
}
