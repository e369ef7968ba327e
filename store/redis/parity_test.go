package redis

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/sluicehq/sluice/algorithm"
	"github.com/sluicehq/sluice/store/storetest"
)

// TestParityWithAlgorithm runs random sequences of takes, reads and refunds
// at random instants through the Lua scripts and through package
// algorithm's Go functions, and requires the very same decisions and the
// very same stored state, for every algorithm, including limits at the
// largest values the arithmetic accepts.
func TestParityWithAlgorithm(t *testing.T) {
	client := standaloneClient(t)
	clock := storetest.NewClock(storetest.Epoch)
	s := newTestStore(t, client, Config{Now: clock.Now})
	ctx := context.Background()
	sequences, steps := 60, 50
	if testing.Short() {
		sequences = 10
	}
	for alg := algorithm.SlidingWindow; alg.Valid(); alg++ {
		t.Run(alg.String(), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(alg)+1, 42))
			for seq := range sequences {
				l := randomLimit(rng, alg)
				key := fmt.Sprintf("parity:%d", seq)
				now := randomStart(rng)
				var state algorithm.State
				var history strings.Builder
				for step := range steps {
					// Stay before 2100: later, times plus the longest
					// windows and tolerances pass 2^53 µs, where Lua's
					// doubles stop being exact (see docs/redis.md).
					if adv := randomAdvance(rng, l); now.Add(adv).Before(endOfTime) {
						now = now.Add(adv)
					} else {
						now = now.Add(now.Sub(endOfTime) / -2).Truncate(time.Microsecond)
					}
					clock.Set(now)
					us := now.UnixMicro()
					var want algorithm.Result
					var got algorithm.Decision
					var err error
					switch op := rng.IntN(10); {
					case op < 7:
						cost := randomCost(rng, l, op == 0)
						fmt.Fprintf(&history, "  %d: take %d at %s\n", step, cost, now.Format(time.RFC3339Nano))
						want = algorithm.Apply(l, state, us, cost)
						got, err = s.Take(ctx, key, l, cost)
					default:
						amount := randomCost(rng, l, false)
						fmt.Fprintf(&history, "  %d: refund %d at %s\n", step, amount, now.Format(time.RFC3339Nano))
						want = algorithm.Refund(l, state, us, amount)
						got, err = s.Refund(ctx, key, l, amount)
					}
					if err != nil {
						t.Fatalf("limit %s:\n%s%v", l, history.String(), err)
					}
					if want.Commit {
						state = want.State
					}
					if got != want.Decision {
						t.Fatalf("limit %s, state %+v:\n%s  redis: %+v\n  go:    %+v", l, state, history.String(), got, want.Decision)
					}
					checkStored(t, s, key, l, state, us, want.ExpireAt, history.String())
				}
			}
		})
	}
}

// checkStored compares the state Redis holds with the Go state: equal
// fields when the key exists, and absent only when the state is empty or
// expired.
func checkStored(t *testing.T, s *Store, key string, l algorithm.Limit, state algorithm.State, now, expireAt int64, history string) {
	t.Helper()
	v, err := s.run.client.Do(context.Background(), s.run.client.B().Get().Key(s.key(key, suffix(l.Algorithm))).Build()).ToString()
	if err != nil {
		if !rueidis.IsRedisNil(err) {
			t.Fatal(err)
		}
		if !emptyState(l.Algorithm, state, now) && expireAt > now {
			t.Fatalf("limit %s: key deleted while its state %+v is live until %d (now %d)\n%s", l, state, expireAt, now, history)
		}
		return
	}
	want := encodeState(l.Algorithm, state)
	if v != want {
		t.Fatalf("limit %s: Redis holds %q, Go's state is %q\n%s", l, v, want, history)
	}
}

// emptyState is lib.lua's empty.
func emptyState(a algorithm.Algorithm, s algorithm.State, now int64) bool {
	switch a {
	case algorithm.SlidingWindow:
		return s.A == 0 && s.B == 0
	case algorithm.GCRA:
		return s.A <= now
	}
	return s.A == 0
}

// encodeState is lib.lua's encode.
func encodeState(a algorithm.Algorithm, s algorithm.State) string {
	switch a {
	case algorithm.GCRA:
		return fmt.Sprint(s.A)
	case algorithm.SlidingWindow:
		return fmt.Sprintf("%d:%d:%d", s.A, s.B, s.C)
	}
	return fmt.Sprintf("%d:%d", s.A, s.B)
}

var windows = []time.Duration{
	time.Microsecond, 3 * time.Microsecond, time.Millisecond, 7 * time.Millisecond, 250 * time.Millisecond,
	time.Second, 13 * time.Second, time.Minute, time.Hour, 24 * time.Hour, 7 * 24 * time.Hour,
	365 * 24 * time.Hour, algorithm.MaxWindow,
}

var zones = []string{"", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe", "Pacific/Chatham"}

// randomLimit returns a valid limit of algorithm a, sometimes at the edges
// of what Limit.Validate accepts.
func randomLimit(rng *rand.Rand, a algorithm.Algorithm) algorithm.Limit {
	for {
		l := algorithm.Limit{Algorithm: a}
		switch rng.IntN(8) {
		case 0:
			l.Requests = algorithm.MaxRequests - rng.Int64N(3)
		case 1:
			l.Requests = 1 + rng.Int64N(1<<30)
		default:
			l.Requests = 1 + rng.Int64N(12)
		}
		l.Window = windows[rng.IntN(len(windows))]
		if a == algorithm.TokenBucket || a == algorithm.GCRA {
			switch rng.IntN(4) {
			case 0:
				l.Burst = 1 + rng.Int64N(20)
			case 1:
				l.Burst = 1 + rng.Int64N(algorithm.MaxRequests)
			}
		}
		if a == algorithm.Quota {
			l.Window = 0
			l.Period = algorithm.Period(1 + rng.IntN(3))
			if z := zones[rng.IntN(len(zones))]; z != "" {
				loc, err := time.LoadLocation(z)
				if err != nil {
					panic(err)
				}
				l.Location = loc
			}
		}
		if l.Validate() == nil {
			return l
		}
	}
}

// endOfTime bounds the instants of the parity tests.
var endOfTime = time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)

// randomStart is a random instant between 2000 and 2040, or one just
// before a DST change.
func randomStart(rng *rand.Rand) time.Time {
	if rng.IntN(3) == 0 {
		dst := []time.Time{
			time.Date(2026, 3, 29, 0, 59, 0, 0, time.UTC),  // Europe
			time.Date(2026, 10, 25, 0, 59, 0, 0, time.UTC), // Europe
			time.Date(2026, 3, 8, 6, 59, 0, 0, time.UTC),   // US
			time.Date(2026, 4, 4, 14, 59, 0, 0, time.UTC),  // Lord Howe (30 min)
			time.Date(2026, 1, 31, 23, 59, 59, 999999000, time.UTC),
		}
		return dst[rng.IntN(len(dst))].Add(-time.Duration(rng.Int64N(int64(time.Hour))))
	}
	from := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro()
	to := time.Date(2040, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro()
	return time.UnixMicro(from + rng.Int64N(to-from)).UTC()
}

// randomAdvance is how far the clock moves before the next call: often not
// at all or a little, sometimes a window or more.
func randomAdvance(rng *rand.Rand, l algorithm.Limit) time.Duration {
	w := l.Window
	if l.Algorithm == algorithm.Quota {
		w = 24 * time.Hour
	}
	if l.Algorithm == algorithm.TokenBucket || l.Algorithm == algorithm.GCRA {
		w = time.Duration(l.Interval()) * time.Microsecond * time.Duration(1+rng.IntN(3))
	}
	switch rng.IntN(8) {
	case 0, 1:
		return 0
	case 2:
		return time.Microsecond
	case 3:
		return time.Duration(rng.Int64N(int64(w)/10 + 1)).Truncate(time.Microsecond)
	case 4, 5:
		return time.Duration(rng.Int64N(int64(w) + 1)).Truncate(time.Microsecond)
	case 6:
		return w
	}
	return time.Duration(rng.Int64N(min(3*int64(w), math.MaxInt64/4) + 1)).Truncate(time.Microsecond)
}

// randomCost is mostly small, sometimes the whole capacity, more than it,
// or absurdly large.
func randomCost(rng *rand.Rand, l algorithm.Limit, read bool) int64 {
	if read {
		return 0
	}
	c := l.Capacity()
	switch rng.IntN(12) {
	case 0:
		return c
	case 1:
		return c + 1
	case 2:
		return math.MaxInt64 - rng.Int64N(2)
	case 3:
		return rng.Int64N(c) + 1
	}
	return 1 + rng.Int64N(min(c, 3))
}
