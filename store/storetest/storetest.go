package storetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/algorithm"
	"github.com/sluicehq/sluice/store"
)

// NewStore returns a fresh, empty store whose clock is clock. It registers
// its own cleanup (closing the store, deleting its keys) with t.Cleanup.
type NewStore func(t *testing.T, clock *Clock) store.Store

// Epoch is the instant every scenario's clock starts at unless it says
// otherwise: a Monday, midnight UTC, aligned to every window the scenarios use.
var Epoch = time.Date(2026, time.January, 5, 0, 0, 0, 0, time.UTC)

// Run runs the whole conformance suite against the stores newStore makes.
func Run(t *testing.T, newStore NewStore) {
	t.Run("Scenarios", func(t *testing.T) { testScenarios(t, newStore) })
	t.Run("AlgorithmsAreSeparate", func(t *testing.T) { testAlgorithmsSeparate(t, newStore) })
	t.Run("ResetForgetsEveryAlgorithm", func(t *testing.T) { testReset(t, newStore) })
	t.Run("Expiry", func(t *testing.T) { testExpiry(t, newStore) })
	t.Run("KeysAreDistinct", func(t *testing.T) { testKeys(t, newStore) })
	t.Run("TakeAll", func(t *testing.T) { testTakeAll(t, newStore) })
	t.Run("CanceledContext", func(t *testing.T) { testCanceled(t, newStore) })
	t.Run("ConcurrentExactness", func(t *testing.T) { testConcurrent(t, newStore) })
	t.Run("ConcurrentTakeAllExactness", func(t *testing.T) { testConcurrentTakeAll(t, newStore) })
	t.Run("Leases", func(t *testing.T) { testLeases(t, newStore) })
}

type op uint8

const (
	take op = iota
	refund
	reset
)

// step is one call of a scenario, at an offset from the scenario's start.
type step struct {
	at   time.Duration
	op   op
	cost int64 // the cost of a take, the amount of a refund
	want algorithm.Decision
}

// scenario is one algorithm's behaviour over a few calls, with every field
// of every decision written out.
type scenario struct {
	name  string
	limit string
	start time.Time // Epoch if zero
	steps []step
}

func ok(limit, remaining int64, reset time.Duration) algorithm.Decision {
	return algorithm.Decision{Allowed: true, Limit: limit, Remaining: remaining, Reset: reset, Reason: algorithm.ReasonAllowed}
}

func denied(limit, remaining int64, reset, retry time.Duration) algorithm.Decision {
	return algorithm.Decision{Limit: limit, Remaining: remaining, Reset: reset, RetryAfter: retry, Reason: algorithm.ReasonRateLimited}
}

func tooCostly(limit, remaining int64, reset time.Duration) algorithm.Decision {
	return algorithm.Decision{Limit: limit, Remaining: remaining, Reset: reset, Reason: algorithm.ReasonCostExceedsLimit}
}

var scenarios = []scenario{
	{name: "fixed_window", limit: "5/10s fixed_window", steps: []step{
		{at: 0, cost: 1, want: ok(5, 4, 10*time.Second)},
		{at: 0, cost: 4, want: ok(5, 0, 10*time.Second)},
		{at: 3 * time.Second, cost: 1, want: denied(5, 0, 7*time.Second, 7*time.Second)},
		{at: 3 * time.Second, cost: 0, want: denied(5, 0, 7*time.Second, 7*time.Second)},
		{at: 3 * time.Second, cost: 6, want: tooCostly(5, 0, 7*time.Second)},
		{at: 13 * time.Second, cost: 0, want: ok(5, 5, 0)},
		{at: 13 * time.Second, cost: 2, want: ok(5, 3, 7*time.Second)},
		{at: 14 * time.Second, op: refund, cost: 1, want: ok(5, 4, 6*time.Second)},
		{at: 14 * time.Second, op: refund, cost: 9, want: ok(5, 5, 0)},
	}},
	{name: "sliding_window", limit: "10/10s", steps: []step{
		// 4 used at 0s count until the end of the next window: the estimate
		// assumes they were spread over this one.
		{at: 0, cost: 4, want: ok(10, 6, 20*time.Second)},
		{at: 5 * time.Second, cost: 6, want: ok(10, 0, 15*time.Second)},
		// In the next window 10 weigh ceil(10 × (10s − x) / 10s): 9 at 1s.
		{at: 5 * time.Second, cost: 1, want: denied(10, 0, 15*time.Second, 6*time.Second)},
		{at: 5 * time.Second, cost: 11, want: tooCostly(10, 0, 15*time.Second)},
		// Next window: the previous 10 weigh 8 at 2s in.
		{at: 12 * time.Second, cost: 2, want: ok(10, 0, 18*time.Second)},
		{at: 12 * time.Second, cost: 1, want: denied(10, 0, 18*time.Second, time.Second)},
		{at: 13 * time.Second, cost: 0, want: ok(10, 1, 17*time.Second)},
		{at: 13 * time.Second, cost: 1, want: ok(10, 0, 17*time.Second)},
		{at: 13 * time.Second, op: refund, cost: 2, want: ok(10, 2, 17*time.Second)},
		// A refund takes from the current window first, then from the
		// previous window's count (of which 1 of 10 is left, weighing 1).
		{at: 13 * time.Second, op: refund, cost: 50, want: ok(10, 9, 7*time.Second)},
		{at: 20 * time.Second, cost: 0, want: ok(10, 10, 0)},
	}},
	{name: "token_bucket", limit: "10/10s token_bucket burst=5", steps: []step{
		{at: 0, cost: 5, want: ok(5, 0, 5*time.Second)},
		{at: 0, cost: 1, want: denied(5, 0, 5*time.Second, time.Second)},
		{at: 2500 * time.Millisecond, cost: 3, want: denied(5, 2, 2500*time.Millisecond, 500*time.Millisecond)},
		{at: 2500 * time.Millisecond, cost: 2, want: ok(5, 0, 4500*time.Millisecond)},
		{at: 2500 * time.Millisecond, cost: 6, want: tooCostly(5, 0, 4500*time.Millisecond)},
		{at: 3 * time.Second, op: refund, cost: 2, want: ok(5, 3, 2*time.Second)},
		{at: 10 * time.Second, cost: 0, want: ok(5, 5, 0)},
	}},
	{name: "gcra", limit: "10/10s gcra burst=5", steps: []step{
		{at: 0, cost: 5, want: ok(5, 0, 5*time.Second)},
		{at: 0, cost: 1, want: denied(5, 0, 5*time.Second, time.Second)},
		{at: 2500 * time.Millisecond, cost: 3, want: denied(5, 2, 2500*time.Millisecond, 500*time.Millisecond)},
		{at: 2500 * time.Millisecond, cost: 2, want: ok(5, 0, 4500*time.Millisecond)},
		{at: 2500 * time.Millisecond, cost: 6, want: tooCostly(5, 0, 4500*time.Millisecond)},
		{at: 3 * time.Second, op: refund, cost: 2, want: ok(5, 3, 2*time.Second)},
		{at: 10 * time.Second, cost: 0, want: ok(5, 5, 0)},
	}},
	{name: "counter", limit: "3/15m counter", steps: []step{
		{at: 0, cost: 1, want: ok(3, 2, 15*time.Minute)},
		{at: time.Minute, cost: 1, want: ok(3, 1, 15*time.Minute)},
		{at: 2 * time.Minute, cost: 1, want: ok(3, 0, 15*time.Minute)},
		{at: 3 * time.Minute, cost: 1, want: denied(3, 0, 14*time.Minute, 14*time.Minute)},
		{at: 3 * time.Minute, op: reset},
		{at: 3 * time.Minute, cost: 1, want: ok(3, 2, 15*time.Minute)},
		{at: 10 * time.Minute, cost: 0, want: ok(3, 2, 8*time.Minute)},
		{at: 18 * time.Minute, cost: 0, want: ok(3, 3, 0)},
	}},
	{name: "quota_month", limit: "100/month", steps: []step{
		{at: 0, cost: 60, want: ok(100, 40, 27*24*time.Hour)},
		{at: 0, cost: 50, want: denied(100, 40, 27*24*time.Hour, 27*24*time.Hour)},
		{at: 27*24*time.Hour - time.Second, cost: 40, want: ok(100, 0, time.Second)},
		{at: 27 * 24 * time.Hour, cost: 100, want: ok(100, 0, 28*24*time.Hour)},
	}},
	{name: "quota_day_dst", limit: "1000/1d quota tz=America/New_York",
		// 2026-03-08 is 23 hours long in New York; noon EDT is 16:00 UTC.
		start: time.Date(2026, time.March, 8, 16, 0, 0, 0, time.UTC), steps: []step{
			{at: 0, cost: 1, want: ok(1000, 999, 12*time.Hour)},
			{at: 12 * time.Hour, cost: 0, want: ok(1000, 1000, 0)},
		}},
	{name: "quota_week", limit: "7/1w quota", start: Epoch.Add(3 * 24 * time.Hour), steps: []step{
		{at: 0, cost: 7, want: ok(7, 0, 4*24*time.Hour)},
		{at: 0, cost: 1, want: denied(7, 0, 4*24*time.Hour, 4*24*time.Hour)},
		{at: 4 * 24 * time.Hour, cost: 1, want: ok(7, 6, 7*24*time.Hour)},
	}},
}

func testScenarios(t *testing.T, newStore NewStore) {
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			start := sc.start
			if start.IsZero() {
				start = Epoch
			}
			clock := NewClock(start)
			s := newStore(t, clock)
			limit := algorithm.MustParseLimit(sc.limit)
			ctx := context.Background()
			for i, st := range sc.steps {
				clock.Set(start.Add(st.at))
				var got algorithm.Decision
				var err error
				switch st.op {
				case take:
					got, err = s.Take(ctx, "scenario", limit, st.cost)
				case refund:
					got, err = s.Refund(ctx, "scenario", limit, st.cost)
				case reset:
					err = s.Reset(ctx, "scenario")
					got = st.want
				}
				if err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
				if got != st.want {
					t.Fatalf("step %d (%s at +%s, cost %d):\n got %+v\nwant %+v", i, [...]string{"take", "refund", "reset"}[st.op], st.at, st.cost, got, st.want)
				}
			}
		})
	}
}

func mustTake(t *testing.T, s store.Store, key string, limit algorithm.Limit, cost int64) algorithm.Decision {
	t.Helper()
	d, err := s.Take(context.Background(), key, limit, cost)
	if err != nil {
		t.Fatalf("Take(%q, %s, %d): %v", key, limit, cost, err)
	}
	return d
}

// allAlgorithms has one limit of 2 per algorithm.
var allAlgorithms = []string{"2/1m fixed_window", "2/1m", "2/1m token_bucket", "2/1m gcra", "2/1m counter", "2/1d quota"}

func testAlgorithmsSeparate(t *testing.T, newStore NewStore) {
	s := newStore(t, NewClock(Epoch))
	for _, text := range allAlgorithms {
		if d := mustTake(t, s, "shared", algorithm.MustParseLimit(text), 2); !d.Allowed || d.Remaining != 0 {
			t.Fatalf("%s on a key other algorithms used: %+v; want allowed with 0 remaining", text, d)
		}
	}
}

func testReset(t *testing.T, newStore NewStore) {
	s := newStore(t, NewClock(Epoch))
	for _, text := range allAlgorithms {
		mustTake(t, s, "k", algorithm.MustParseLimit(text), 2)
		mustTake(t, s, "other", algorithm.MustParseLimit(text), 2)
	}
	if err := s.Reset(context.Background(), "k"); err != nil {
		t.Fatal(err)
	}
	if err := s.Reset(context.Background(), "never-used"); err != nil {
		t.Fatalf("Reset of an unknown key: %v", err)
	}
	for _, text := range allAlgorithms {
		l := algorithm.MustParseLimit(text)
		if d := mustTake(t, s, "k", l, 0); d.Remaining != 2 {
			t.Errorf("%s after Reset: remaining %d, want 2", text, d.Remaining)
		}
		if d := mustTake(t, s, "other", l, 0); d.Remaining != 0 {
			t.Errorf("%s: Reset of k changed another key: remaining %d, want 0", text, d.Remaining)
		}
	}
}

func testExpiry(t *testing.T, newStore NewStore) {
	clock := NewClock(Epoch)
	s := newStore(t, clock)
	for _, text := range allAlgorithms {
		mustTake(t, s, "k", algorithm.MustParseLimit(text), 2)
	}
	clock.Advance(24 * time.Hour)
	for _, text := range allAlgorithms {
		if d := mustTake(t, s, "k", algorithm.MustParseLimit(text), 0); d.Remaining != 2 || d.Reset != 0 {
			t.Errorf("%s a day later: %+v, want the whole allowance", text, d)
		}
	}
}

func testKeys(t *testing.T, newStore NewStore) {
	s := newStore(t, NewClock(Epoch))
	l := algorithm.MustParseLimit("1/1h fixed_window")
	keys := []string{"a", "a:b", "a\\:b", "{a}", "{a}:b", "ключ", "a b", strings.Repeat("x", 1024), "A"}
	for _, k := range keys {
		if d := mustTake(t, s, k, l, 1); !d.Allowed {
			t.Fatalf("first call on key %.20q denied: keys collide", k)
		}
	}
	for _, k := range keys {
		if d := mustTake(t, s, k, l, 1); d.Allowed {
			t.Fatalf("second call on key %.20q allowed: state was lost", k)
		}
	}
}

func testTakeAll(t *testing.T, newStore NewStore) {
	ctx := context.Background()
	s := newStore(t, NewClock(Epoch))
	five := algorithm.MustParseLimit("5/10s fixed_window")
	three := algorithm.MustParseLimit("3/10s fixed_window")
	out := make([]algorithm.Decision, 2)
	reqs := []store.Request{{Key: "user", Limit: five, Cost: 2}, {Key: "route", Limit: three, Cost: 2}}

	allowed, err := s.TakeAll(ctx, reqs, out)
	if err != nil || !allowed {
		t.Fatalf("first TakeAll: allowed %v, err %v", allowed, err)
	}
	if out[0] != ok(5, 3, 10*time.Second) || out[1] != ok(3, 1, 10*time.Second) {
		t.Fatalf("first TakeAll decisions: %+v", out)
	}

	allowed, err = s.TakeAll(ctx, reqs, out)
	if err != nil || allowed {
		t.Fatalf("second TakeAll: allowed %v, err %v; want denied", allowed, err)
	}
	if out[0] != ok(5, 3, 10*time.Second) {
		t.Errorf("decision of the limit that passed in a denied TakeAll: %+v, want a read of it", out[0])
	}
	if out[1] != denied(3, 1, 10*time.Second, 10*time.Second) {
		t.Errorf("decision of the limit that denied: %+v", out[1])
	}
	if d := mustTake(t, s, "user", five, 0); d.Remaining != 3 {
		t.Fatalf("a denied TakeAll consumed from another limit: remaining %d, want 3", d.Remaining)
	}

	// Requests on the same key and algorithm see each other's cost.
	same := []store.Request{{Key: "k", Limit: five, Cost: 3}, {Key: "k", Limit: five, Cost: 3}}
	if allowed, err = s.TakeAll(ctx, same, out); err != nil || allowed {
		t.Fatalf("3+3 against 5 on one key: allowed %v, err %v; want denied", allowed, err)
	}
	if d := mustTake(t, s, "k", five, 0); d.Remaining != 5 {
		t.Fatalf("denied TakeAll on one key consumed: remaining %d, want 5", d.Remaining)
	}
	same[1].Cost = 2
	if allowed, err = s.TakeAll(ctx, same, out); err != nil || !allowed {
		t.Fatalf("3+2 against 5 on one key: allowed %v, err %v; want allowed", allowed, err)
	}
	if out[0].Remaining != 2 || out[1].Remaining != 0 {
		t.Fatalf("3+2 on one key: remaining %d then %d, want 2 then 0", out[0].Remaining, out[1].Remaining)
	}

	// Every algorithm takes part in all-or-nothing.
	var mixed []store.Request
	for _, text := range allAlgorithms {
		mixed = append(mixed, store.Request{Key: "mixed", Limit: algorithm.MustParseLimit(text), Cost: 1})
	}
	mixed = append(mixed, store.Request{Key: "full", Limit: three, Cost: 4})
	out = make([]algorithm.Decision, len(mixed))
	if allowed, err = s.TakeAll(ctx, mixed, out); err != nil || allowed {
		t.Fatalf("mixed TakeAll with one impossible cost: allowed %v, err %v", allowed, err)
	}
	if out[len(mixed)-1].Reason != algorithm.ReasonCostExceedsLimit {
		t.Fatalf("reason of the impossible cost: %s", out[len(mixed)-1].Reason)
	}
	for _, text := range allAlgorithms {
		if d := mustTake(t, s, "mixed", algorithm.MustParseLimit(text), 0); d.Remaining != 2 {
			t.Errorf("%s consumed in a denied TakeAll: remaining %d", text, d.Remaining)
		}
	}
}

func testCanceled(t *testing.T, newStore NewStore) {
	s := newStore(t, NewClock(Epoch))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Take(ctx, "k", algorithm.MustParseLimit("1/1s"), 1); !errors.Is(err, context.Canceled) {
		t.Fatalf("Take with a canceled context: err %v, want context.Canceled", err)
	}
}

// concurrentAttempts runs goroutines × calls of try and counts the allowed ones.
func concurrentAttempts(t *testing.T, goroutines, calls int, try func() (bool, error)) int64 {
	var admitted atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range calls {
				allowed, err := try()
				if err != nil {
					errs <- err
					return
				}
				if allowed {
					admitted.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	return admitted.Load()
}

func testConcurrent(t *testing.T, newStore NewStore) {
	const goroutines, calls, limit = 16, 40, 100
	s := newStore(t, NewClock(Epoch))
	for _, text := range []string{"100/1h fixed_window", "100/1h", "100/1h token_bucket", "100/1h gcra", "100/1h counter", "100/month"} {
		t.Run(text, func(t *testing.T) {
			l := algorithm.MustParseLimit(text)
			key := "concurrent:" + text
			got := concurrentAttempts(t, goroutines, calls, func() (bool, error) {
				d, err := s.Take(context.Background(), key, l, 1)
				return d.Allowed, err
			})
			if got != limit {
				t.Fatalf("%d goroutines × %d calls against %s admitted %d, want exactly %d", goroutines, calls, text, got, limit)
			}
		})
	}
}

func testConcurrentTakeAll(t *testing.T, newStore NewStore) {
	const goroutines, calls = 16, 20
	s := newStore(t, NewClock(Epoch))
	wide := algorithm.MustParseLimit("100/1h")
	narrow := algorithm.MustParseLimit("50/1h gcra")
	got := concurrentAttempts(t, goroutines, calls, func() (bool, error) {
		out := make([]algorithm.Decision, 2)
		return s.TakeAll(context.Background(), []store.Request{{Key: "user", Limit: wide, Cost: 1}, {Key: "route", Limit: narrow, Cost: 1}}, out)
	})
	if got != 50 {
		t.Fatalf("concurrent TakeAll admitted %d, want exactly 50", got)
	}
	if d := mustTake(t, s, "user", wide, 0); d.Remaining != 50 {
		t.Fatalf("the wider limit has %d remaining, want 50: denied calls consumed it", d.Remaining)
	}
}

func testLeases(t *testing.T, newStore NewStore) {
	clock := NewClock(Epoch)
	s := newStore(t, clock)
	leaser, isLeaser := s.(store.Leaser)
	if !isLeaser {
		t.Skip("the store does not hold concurrency leases (store.Leaser)")
	}
	ctx := context.Background()
	acquire := func(id string) algorithm.Decision {
		t.Helper()
		d, err := leaser.Acquire(ctx, "jobs", id, 2, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	if d := acquire("a"); !d.Allowed || d.Remaining != 1 || d.Limit != 2 {
		t.Fatalf("first lease: %+v", d)
	}
	clock.Advance(10 * time.Second)
	if d := acquire("b"); !d.Allowed || d.Remaining != 0 {
		t.Fatalf("second lease: %+v", d)
	}
	if d := acquire("c"); d.Allowed || d.RetryAfter != 50*time.Second || d.Reason != algorithm.ReasonRateLimited {
		t.Fatalf("third lease over a max of 2: %+v, want denied with retry after 50s (when a expires)", d)
	}
	if err := leaser.Release(ctx, "jobs", "a"); err != nil {
		t.Fatal(err)
	}
	if err := leaser.Release(ctx, "jobs", "never-taken"); err != nil {
		t.Fatalf("Release of an unknown lease: %v", err)
	}
	if d := acquire("c"); !d.Allowed {
		t.Fatalf("lease after a release: %+v", d)
	}
	clock.Advance(time.Minute)
	if d := acquire("d"); !d.Allowed || d.Remaining != 1 {
		t.Fatalf("lease after the others expired: %+v, want allowed with 1 remaining", d)
	}

	var seq atomic.Int64
	got := concurrentAttempts(t, 8, 10, func() (bool, error) {
		d, err := leaser.Acquire(ctx, "pool", fmt.Sprint("lease-", seq.Add(1)), 5, time.Minute)
		return d.Allowed, err
	})
	if got != 5 {
		t.Fatalf("concurrent leases with max 5 admitted %d", got)
	}
}
