package algorithm

import (
	"math"
	"time"
)

// State is the stored state of one key under one algorithm: up to three
// integers whose meaning depends on the algorithm. The zero State is a key
// that has never been seen.
//
//	fixed_window    A = count, B = window start
//	sliding_window  A = previous window's count, B = current window's count, C = current window start
//	token_bucket    A = tokens missing from a full bucket, B = time of the last refill tick
//	gcra            A = theoretical arrival time
//	counter         A = count, B = when the count expires
//	quota           A = count, B = period start
type State struct{ A, B, C int64 }

// Result is what Apply and Refund return.
type Result struct {
	// State is the state to store when Commit is true.
	State State
	// Decision is the outcome of the call.
	Decision Decision
	// Commit reports whether State differs from the input and must be written.
	Commit bool
	// ExpireAt is when the stored state can be forgotten, in microseconds
	// since the Unix epoch: after it, a fresh State decides the same. A
	// store may delete the key once ExpireAt <= now.
	ExpireAt int64
}

// Apply decides a call of the given cost at time now (microseconds since the
// Unix epoch) against limit l, whose key holds state s. A call is allowed
// only if it fits whole; a denied call changes nothing. Cost 0 reads
// without consuming: Allowed then reports whether a call of cost 1 would
// pass, and Remaining is the allowance left now. l must be valid (see
// Limit.Validate) and cost non-negative.
func Apply(l Limit, s State, now, cost int64) (r Result) {
	ApplyTo(&r, &l, s, now, cost)
	return r
}

// ApplyTo is Apply writing its result into r (all of it: nothing of what r
// held before remains), which spares the copies of the limit and the result
// on a store's hot path.
func ApplyTo(r *Result, l *Limit, s State, now, cost int64) {
	switch l.Algorithm {
	case FixedWindow:
		fixedWindow(l, s, now, cost, r)
	case TokenBucket:
		tokenBucket(l, s, now, cost, r)
	case GCRA:
		gcra(l, s, now, cost, r)
	case Counter:
		counter(l, s, now, cost, r)
	case Quota:
		// A stored period later than now's (the clock stepped back across a
		// boundary) is decided in that period, whose bounds are then needed.
		start, end := PeriodBounds(*l, max(now, s.B))
		applyQuota(l, s, now, start, end, cost, r)
	default:
		slidingWindow(l, s, now, cost, r)
	}
}

// Refund gives back amount of allowance at time now, for calls whose real
// cost turned out lower than what was taken. The allowance never rises above
// the limit. The Decision describes the key after the refund, as a read.
func Refund(l Limit, s State, now, amount int64) Result {
	if amount <= 0 {
		return Apply(l, s, now, 0)
	}
	amount = min(amount, l.Capacity())
	switch l.Algorithm {
	case FixedWindow:
		start := now - now%l.Window.Microseconds()
		if s.B >= start {
			s.A = max(0, s.A-amount)
		}
	case TokenBucket:
		deficit, last := refill(&l, s, now)
		s.A, s.B = max(0, deficit-amount), last
	case GCRA:
		s.A = max(now, s.A-amount*l.Interval())
	case Counter:
		s.A = max(0, s.A-amount)
	case Quota:
		start, _ := PeriodBounds(l, now)
		if s.B >= start {
			s.A = max(0, s.A-amount)
		}
	default:
		prev, curr, start := slide(&l, s, now)
		taken := min(curr, amount)
		curr -= taken
		prev = max(0, prev-(amount-taken))
		s = State{A: prev, B: curr, C: start}
	}
	r := Apply(l, s, now, 0)
	r.State, r.Commit = s, true
	return r
}

// deny is the decision on a call of cost c (1 for a read) that does not
// fit, with avail allowance left and retry microseconds until it would.
func deny(l *Limit, avail int64, c int64, retry int64) Decision {
	d := Decision{Limit: l.Capacity(), Remaining: max(0, avail), Reason: ReasonRateLimited, RetryAfter: micros(max(0, retry))}
	if c > l.Capacity() {
		d.Reason, d.RetryAfter = ReasonCostExceedsLimit, 0
	}
	return d
}

func fixedWindow(l *Limit, s State, now, cost int64, r *Result) {
	w, limit := l.Window.Microseconds(), l.Requests
	start := now - now%w
	count := int64(0)
	if s.B >= start { // same window, or a newer one if the clock stepped back
		start, count = s.B, s.A
	}
	c := max(cost, 1)
	*r = Result{State: State{A: count, B: start}, ExpireAt: start + w}
	if c > limit || count+c > limit {
		r.Decision = deny(l, limit-count, c, start+w-now)
	} else {
		if cost > 0 {
			count += cost
			r.State.A, r.Commit = count, true
		}
		r.Decision = Decision{Allowed: true, Limit: limit, Remaining: limit - count, Reason: ReasonAllowed}
	}
	if count > 0 {
		r.Decision.Reset = micros(start + w - now)
	}
}

// slide returns the previous and current window counts of a sliding window
// at now, and the current window's start.
func slide(l *Limit, s State, now int64) (prev, curr, start int64) {
	w := l.Window.Microseconds()
	start = now - now%w
	switch {
	case s.C >= start: // same window, or a newer one if the clock stepped back
		return s.A, s.B, s.C
	case s.C == start-w:
		return s.B, 0, start
	}
	return 0, 0, start
}

// weighted is the part of the previous window's count p that still counts
// when rem of the window's w microseconds overlap the sliding window:
// ceil(p × rem / w). Rounding up makes "used + cost <= limit" exactly the
// comparison of the real-valued estimate (as the weighted count is compared
// with an integer), so that a slot of the previous window frees only when
// its share has fully slid out: rounding down would free one slot at every
// window boundary. It is one IEEE-754 multiplication and one division,
// computed the same way by the Lua scripts, so both stores agree to the
// unit; it is the only floating-point step that decides anything, and
// everything derived from it is searched exactly.
func weighted(p, rem, w int64) int64 {
	return int64(math.Ceil(float64(p) * float64(rem) / float64(w)))
}

// earliest returns the smallest elapsed time x in [lo, w] at which
// weighted(p, w-x, w) <= room.
func earliest(p, room, w, lo int64) int64 {
	if weighted(p, w-lo, w) <= room {
		return lo
	}
	// A first guess from the real-valued solution, x = w − room·w/p; the
	// loops make it exact.
	x := min(w, max(lo, int64(float64(w)-float64(room)*float64(w)/float64(p))))
	for x > lo && weighted(p, w-(x-1), w) <= room {
		x--
	}
	for x < w && weighted(p, w-x, w) > room {
		x++
	}
	return x
}

// slidingWait is how long until the sliding window's estimate has room for
// need more: the retry time of a call of cost need, or with need = limit the
// time until the allowance is whole.
func slidingWait(limit, prev, curr, elapsed, w, need int64) int64 {
	if room := limit - need - curr; room >= 0 {
		if x := earliest(prev, room, w, elapsed); x < w {
			return x - elapsed
		}
	}
	// In the next window the current count becomes the previous one.
	return w - elapsed + earliest(curr, limit-need, w, 0)
}

func slidingWindow(l *Limit, s State, now, cost int64, r *Result) {
	w, limit := l.Window.Microseconds(), l.Requests
	prev, curr, start := slide(l, s, now)
	elapsed := max(0, now-start)
	used := curr + weighted(prev, w-elapsed, w)
	c := max(cost, 1)
	*r = Result{State: State{A: prev, B: curr, C: start}}
	if c > limit || used+c > limit {
		retry := int64(0)
		if c <= limit {
			retry = slidingWait(limit, prev, curr, elapsed, w, c)
		}
		r.Decision = deny(l, limit-used, c, retry)
	} else {
		if cost > 0 {
			curr += cost
			used += cost
			r.State.B, r.Commit = curr, true
		}
		r.Decision = Decision{Allowed: true, Limit: limit, Remaining: limit - used, Reason: ReasonAllowed}
	}
	if used > 0 {
		r.Decision.Reset = micros(slidingWait(limit, prev, curr, elapsed, w, limit))
	}
	switch {
	case curr > 0:
		r.ExpireAt = start + 2*w
	case prev > 0:
		r.ExpireAt = start + w
	default:
		r.ExpireAt = now
	}
}

// refill returns a token bucket's deficit (tokens missing) and last refill
// tick at now, after adding one token per interval since the last tick.
func refill(l *Limit, s State, now int64) (deficit, last int64) {
	deficit, last = s.A, s.B
	if deficit > 0 && now > last {
		t := l.Interval()
		ticks := (now - last) / t
		if ticks >= deficit {
			deficit = 0
		} else {
			deficit -= ticks
			last += ticks * t
		}
	}
	if deficit == 0 {
		last = now // a full bucket starts its refill clock at the next call
	}
	return deficit, last
}

func tokenBucket(l *Limit, s State, now, cost int64, r *Result) {
	capacity, t := l.Capacity(), l.Interval()
	deficit, last := refill(l, s, now)
	c := max(cost, 1)
	*r = Result{State: State{A: deficit, B: last}}
	if avail := capacity - deficit; c > avail {
		r.Decision = deny(l, avail, c, last+(c-avail)*t-now)
	} else {
		if cost > 0 {
			deficit += cost
			r.State.A, r.Commit = deficit, true
		}
		r.Decision = Decision{Allowed: true, Limit: capacity, Remaining: capacity - deficit, Reason: ReasonAllowed}
	}
	r.ExpireAt = last + deficit*t
	if deficit > 0 {
		r.Decision.Reset = micros(r.ExpireAt - now)
	}
}

func gcra(l *Limit, s State, now, cost int64, r *Result) {
	capacity, t := l.Capacity(), l.Interval()
	tolerance := capacity * t
	tat := max(s.A, now)
	c := max(cost, 1)
	*r = Result{State: State{A: tat}}
	if c > capacity || tat+c*t-tolerance > now {
		r.Decision = deny(l, (now+tolerance-tat)/t, c, tat+c*t-tolerance-now)
	} else {
		if cost > 0 {
			tat += cost * t
			r.State.A, r.Commit = tat, true
		}
		r.Decision = Decision{Allowed: true, Limit: capacity, Remaining: (now + tolerance - tat) / t, Reason: ReasonAllowed}
	}
	r.ExpireAt = tat
	r.Decision.Reset = micros(tat - now)
}

func counter(l *Limit, s State, now, cost int64, r *Result) {
	limit := l.Requests
	count, expires := s.A, s.B
	if count > 0 && now >= expires {
		count, expires = 0, now
	}
	c := max(cost, 1)
	*r = Result{State: State{A: count, B: expires}}
	if c > limit || count+c > limit {
		r.Decision = deny(l, limit-count, c, expires-now)
	} else {
		if cost > 0 {
			count += cost
			expires = now + l.Window.Microseconds()
			r.State, r.Commit = State{A: count, B: expires}, true
		}
		r.Decision = Decision{Allowed: true, Limit: limit, Remaining: limit - count, Reason: ReasonAllowed}
	}
	r.ExpireAt = expires
	if count > 0 {
		r.Decision.Reset = micros(expires - now)
	}
}

// ApplyQuota is Apply for a Quota limit whose calendar period containing
// max(now, s.B) runs from start to end (microseconds since the Unix epoch;
// see PeriodBounds). It is separate so that a store whose clock is not the
// caller's can pass bounds computed from its own time.
func ApplyQuota(l Limit, s State, now, start, end, cost int64) (r Result) {
	applyQuota(&l, s, now, start, end, cost, &r)
	return r
}

func applyQuota(l *Limit, s State, now, start, end, cost int64, r *Result) {
	limit := l.Requests
	count := int64(0)
	if s.B == start {
		count = s.A
	}
	c := max(cost, 1)
	*r = Result{State: State{A: count, B: start}, ExpireAt: end}
	if c > limit || count+c > limit {
		r.Decision = deny(l, limit-count, c, end-now)
	} else {
		if cost > 0 {
			count += cost
			r.State.A, r.Commit = count, true
		}
		r.Decision = Decision{Allowed: true, Limit: limit, Remaining: limit - count, Reason: ReasonAllowed}
	}
	if count > 0 {
		r.Decision.Reset = micros(end - now)
	}
}

// PeriodBounds returns the start and end, in microseconds since the Unix
// epoch, of the calendar period of quota limit l that contains now. Days
// begin at midnight and weeks on Monday, in l.Location (UTC if nil); a day
// is as long as the calendar says, 23 or 25 hours across a DST change.
func PeriodBounds(l Limit, now int64) (start, end int64) {
	loc := l.Location
	if loc == nil {
		loc = time.UTC
	}
	t := time.UnixMicro(now).In(loc)
	y, m, d := t.Date()
	var from, to time.Time
	switch l.Period {
	case Month:
		from = time.Date(y, m, 1, 0, 0, 0, 0, loc)
		to = time.Date(y, m+1, 1, 0, 0, 0, 0, loc)
	case Week:
		back := (int(t.Weekday()) + 6) % 7 // days since Monday
		from = time.Date(y, m, d-back, 0, 0, 0, 0, loc)
		to = time.Date(y, m, d-back+7, 0, 0, 0, 0, loc)
	default:
		from = time.Date(y, m, d, 0, 0, 0, 0, loc)
		to = time.Date(y, m, d+1, 0, 0, 0, 0, loc)
	}
	return from.UnixMicro(), to.UnixMicro()
}
