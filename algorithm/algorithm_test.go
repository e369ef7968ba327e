package algorithm

import (
	"math/rand/v2"
	"testing"
	"time"
)

// epoch is a Monday, midnight UTC, in microseconds.
const epoch = int64(1_767_571_200_000_000)

var everyAlgorithm = []string{"10/1m fixed_window", "10/1m", "10/1m token_bucket", "10/1m gcra burst=4", "10/1m counter", "10/1d quota"}

// TestProperties drives every algorithm with random calls and checks what
// must hold for all of them: a denied call and a read change nothing,
// remaining stays within the capacity, a denied call of cost c passes at
// exactly RetryAfter and not a microsecond earlier.
func TestProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, text := range everyAlgorithm {
		l := MustParseLimit(text)
		var s State
		now := epoch
		for i := range 5000 {
			now += rng.Int64N(int64(10 * time.Second / time.Microsecond))
			cost := rng.Int64N(l.Capacity() + 2)
			r := Apply(l, s, now, cost)
			d := r.Decision
			if d.Remaining < 0 || d.Remaining > l.Capacity() || d.Limit != l.Capacity() {
				t.Fatalf("%s step %d: remaining %d of %d", text, i, d.Remaining, d.Limit)
			}
			if (!d.Allowed || cost == 0) && r.Commit {
				t.Fatalf("%s step %d: a denied call or a read changed the state", text, i)
			}
			if d.Allowed != (d.Reason == ReasonAllowed) {
				t.Fatalf("%s step %d: allowed %v with reason %s", text, i, d.Allowed, d.Reason)
			}
			if !d.Allowed && d.Reason == ReasonRateLimited {
				retry := d.RetryAfter.Microseconds()
				if retry <= 0 {
					t.Fatalf("%s step %d: denied with retry after %s", text, i, d.RetryAfter)
				}
				if early := Apply(l, s, now+retry-1, cost).Decision; early.Allowed {
					t.Fatalf("%s step %d: cost %d passes 1µs before RetryAfter %s", text, i, cost, d.RetryAfter)
				}
				if onTime := Apply(l, s, now+retry, cost).Decision; !onTime.Allowed {
					t.Fatalf("%s step %d: cost %d still denied at RetryAfter %s: %+v", text, i, cost, d.RetryAfter, onTime)
				}
			}
			if d.Reason == ReasonCostExceedsLimit && (cost <= l.Capacity() || d.RetryAfter != 0) {
				t.Fatalf("%s step %d: cost %d of %d reported as %+v", text, i, cost, l.Capacity(), d)
			}
			if r.Commit {
				s = r.State
				if r.ExpireAt <= now {
					t.Fatalf("%s step %d: state to keep expires at once", text, i)
				}
				// After ExpireAt the state must decide like a fresh key.
				if late := Apply(l, s, r.ExpireAt, 0).Decision; late.Remaining != Apply(l, State{}, r.ExpireAt, 0).Decision.Remaining {
					t.Fatalf("%s step %d: state still counts at its ExpireAt", text, i)
				}
				if whole := Apply(l, s, now+d.Reset.Microseconds(), 0).Decision; whole.Remaining != l.Capacity() {
					t.Fatalf("%s step %d: %d remaining at Reset %s, want all %d", text, i, whole.Remaining, d.Reset, l.Capacity())
				}
			}
		}
	}
}

// TestBoundaryBurst is the table in docs/algorithms.md: a burst of 2× the
// limit just before a window boundary and another just after it.
func TestBoundaryBurst(t *testing.T) {
	want := map[string][2]int64{
		"10/1m fixed_window": {10, 10},
		"10/1m":              {10, 0},
		"10/1m token_bucket": {10, 0},
		"10/1m gcra":         {10, 0},
		"10/1m counter":      {10, 0},
		"10/1d quota":        {10, 10},
	}
	for text, w := range want {
		l := MustParseLimit(text)
		boundary := epoch + 24*int64(time.Hour/time.Microsecond) // a minute and a day boundary
		var s State
		var got [2]int64
		for burst, at := range []int64{boundary - 1_000_000, boundary} {
			for range 20 {
				if r := Apply(l, s, at, 1); r.Decision.Allowed {
					got[burst]++
					s = r.State
				}
			}
		}
		t.Logf("%-20s before: %2d  after: %2d", text, got[0], got[1])
		if got != w {
			t.Errorf("%s: admitted %v across the boundary, want %v", text, got, w)
		}
	}
}

func TestPeriodBoundsAcrossDST(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	l := Limit{Requests: 1, Algorithm: Quota, Period: Day, Location: ny}
	fall := time.Date(2026, time.November, 1, 12, 0, 0, 0, ny).UnixMicro()
	start, end := PeriodBounds(l, fall)
	if got := time.Duration(end-start) * time.Microsecond; got != 25*time.Hour {
		t.Fatalf("the day DST ends lasts %s, want 25h", got)
	}
	l.Period = Month
	start, end = PeriodBounds(l, time.Date(2026, time.February, 14, 0, 0, 0, 0, ny).UnixMicro())
	if time.UnixMicro(start).In(ny).Day() != 1 || time.UnixMicro(end).In(ny).Month() != time.March {
		t.Fatalf("February runs %s to %s", time.UnixMicro(start).In(ny), time.UnixMicro(end).In(ny))
	}
}

// TestQuotaClockSteppedBack: a count stored in a later period than the
// clock's (the clock stepped back across a boundary) keeps counting in that
// period and is kept until that period ends.
func TestQuotaClockSteppedBack(t *testing.T) {
	l := MustParseLimit("10/1d quota")
	day := int64(24 * time.Hour / time.Microsecond)
	next := Apply(l, State{}, epoch+day, 4) // counted early in the next day
	if !next.Commit {
		t.Fatal("first call not committed")
	}
	r := Apply(l, next.State, epoch+day-1000, 1) // the clock steps back 1ms
	if !r.Decision.Allowed || r.Decision.Remaining != 5 {
		t.Fatalf("after the clock stepped back: %+v, want 5 remaining of the later day", r.Decision)
	}
	if r.ExpireAt != epoch+2*day {
		t.Fatalf("ExpireAt %d, want the end of the later day %d", r.ExpireAt, epoch+2*day)
	}
}
