package algorithm

import (
	"math/rand/v2"
	"testing"
	"time"
)

// TestSlidingWindowAccuracy drives sliding_window with a realistic traffic
// pattern — a Poisson stream with bursts, at several loads around the
// limit — and compares it with an exact sliding log. It measures three
// things: how often a decision differs from what the exact log would decide
// given the calls the sliding window actually admitted; the most calls
// admitted within any window of the limit's length; and the total admitted
// against the total an exact sliding log admits on the same traffic. The
// figures it logs are the ones in docs/algorithms.md:
//
//	go test ./algorithm -run TestSlidingWindowAccuracy -v
func TestSlidingWindowAccuracy(t *testing.T) {
	const limit = 100
	window := time.Minute
	l := Limit{Requests: limit, Window: window}
	w := window.Microseconds()

	for _, load := range []float64{0.8, 1.0, 1.5, 3.0} {
		rng := rand.New(rand.NewPCG(7, uint64(load*10)))
		var s State
		var exactLog, ownLog []int64 // admission times within the past window
		exactTotal, ownTotal := 0, 0
		now := epoch
		calls, wrongAllow, wrongDeny := 0, 0, 0
		worst := 0
		meanGap := float64(w) / (limit * load)
		for range 200_000 {
			gap := int64(rng.ExpFloat64() * meanGap)
			if rng.IntN(50) == 0 { // now and then a burst of calls at once
				gap = 0
			}
			now += gap
			calls++
			exactLog = trim(exactLog, now-w)
			ownLog = trim(ownLog, now-w)

			if len(exactLog) < limit {
				exactLog = append(exactLog, now)
				exactTotal++
			}
			truth := len(ownLog) < limit // the exact decision on the same history
			r := Apply(l, s, now, 1)
			if r.Decision.Allowed {
				s = r.State
				ownLog = append(ownLog, now)
				ownTotal++
			}
			worst = max(worst, len(ownLog))
			switch {
			case r.Decision.Allowed && !truth:
				wrongAllow++
			case !r.Decision.Allowed && truth:
				wrongDeny++
			}
		}
		wrong := float64(wrongAllow+wrongDeny) / float64(calls)
		t.Logf("load %.1f×: %.3f%% of %d decisions differ from the exact log (%d admitted over the limit, %d denied under it); most admitted in any %s: %d of %d; admitted in all %d, exact log %d (%+.2f%%)",
			load, 100*wrong, calls, wrongAllow, wrongDeny, window, worst, limit, ownTotal, exactTotal, 100*(float64(ownTotal)/float64(exactTotal)-1))
		if over := float64(ownTotal)/float64(exactTotal) - 1; over < -0.01 || over > 0.05 {
			t.Errorf("load %.1f: admitted %+.2f%% against the exact sliding log", load, 100*over)
		}
		if worst > limit*3/2 {
			t.Errorf("load %.1f: %d admitted within one window of a limit of %d", load, worst, limit)
		}
	}
}

// trim drops the times at or before since from the front of log.
func trim(log []int64, since int64) []int64 {
	i := 0
	for i < len(log) && log[i] <= since {
		i++
	}
	return log[i:]
}
