package policy_test

import (
	"context"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/policy"
	"github.com/sluicehq/sluice/store"
	"github.com/sluicehq/sluice/store/memory"
)

func TestStrictVersusAsync(t *testing.T) {
	for _, tc := range []struct {
		mode  policy.Mode
		codes []int
		calls int64
	}{
		// Strict: the call over the limit never reaches the handler.
		{policy.Strict, []int{200, 429, 429}, 1},
		// Async: the call that goes over runs (the check ran beside it);
		// the next is refused at once.
		{policy.Async, []int{200, 200, 429}, 2},
	} {
		t.Run(tc.mode.String(), func(t *testing.T) {
			clk := newClock(epoch)
			h := &handler{}
			rec := &recorder{}
			set := newSet(t, newLimiter(t, clk), policy.Options{Now: clk.Now, Observer: rec},
				&policy.Policy{Name: "p", By: policy.ByIP, Limit: sluice.MustParseLimit("1/1m fixed_window"), Mode: tc.mode})
			mw := policy.Middleware(set)(h)
			if got := statuses(mw, 3, "192.0.2.1:1"); !slices.Equal(got, tc.codes) {
				t.Errorf("codes %v, want %v", got, tc.codes)
			}
			if h.calls.Load() != tc.calls {
				t.Errorf("handler ran %d times, want %d", h.calls.Load(), tc.calls)
			}
			if tc.mode == policy.Async {
				w := do(mw, "192.0.2.1:1")
				if w.Header().Get("Retry-After") != "60" || w.Header().Get("RateLimit") != `"p";r=0;t=60` {
					t.Errorf("blocked answer headers %v", w.Header())
				}
				ev := rec.all()
				if last := ev[len(ev)-1]; last.Decision.Reason != sluice.ReasonCacheBlock {
					t.Errorf("blocked event reason %v, want cache_block", last.Decision.Reason)
				}
				// After the window the caller passes again.
				clk.Advance(time.Minute)
				if got := do(mw, "192.0.2.1:1").Code; got != 200 {
					t.Errorf("after the window: %d", got)
				}
			}
		})
	}
}

// gatedStore holds every TakeAll until its gate opens.
type gatedStore struct {
	store.Store
	gate chan struct{}
}

func (g gatedStore) TakeAll(ctx context.Context, reqs []store.Request, out []sluice.Decision) (bool, error) {
	<-g.gate
	return g.Store.TakeAll(ctx, reqs, out)
}

func TestAsyncHandlerRunsBesideTheCheck(t *testing.T) {
	clk := newClock(epoch)
	mem := memory.New(memory.Config{Now: clk.Now, SweepInterval: -1})
	defer mem.Close()
	gs := gatedStore{Store: mem, gate: make(chan struct{})}
	lim := sluice.New(gs, sluice.Config{Now: clk.Now, BlockCacheSize: -1})
	defer lim.Close()
	set := newSet(t, lim, policy.Options{Now: clk.Now},
		&policy.Policy{Name: "p", By: policy.ByIP, Limit: sluice.MustParseLimit("5/1m fixed_window"), Mode: policy.Async})
	ran := make(chan struct{})
	mw := policy.Middleware(set)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(ran) // reached while the store is still held
		w.WriteHeader(200)
	}))
	done := make(chan string)
	go func() { done <- do(mw, "192.0.2.1:1").Header().Get("RateLimit") }()
	select {
	case <-ran:
	case <-time.After(5 * time.Second):
		t.Fatal("async: the handler did not run while the check was pending")
	}
	close(gs.gate)
	// The headers wait for the decision, so they are exact.
	if got := <-done; got != `"p";r=4;t=60` {
		t.Errorf("RateLimit %q", got)
	}
}
