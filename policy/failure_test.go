package policy_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/policy"
	"github.com/sluicehq/sluice/store"
)

func TestStoreFailure(t *testing.T) {
	for _, mode := range []sluice.FailureMode{sluice.FailOpen, sluice.FailClosed} {
		for _, throw := range []bool{false, true} {
			name := mode.String() + map[bool]string{false: "/fail-open", true: "/throwOnFailure"}[throw]
			t.Run(name, func(t *testing.T) {
				lim := sluice.New(failingStore{err: errDown}, sluice.Config{OnStoreError: mode})
				defer lim.Close()
				h := &handler{}
				rec := &recorder{}
				set := newSet(t, lim, policy.Options{Observer: rec, Logger: slog.New(slog.DiscardHandler)},
					&policy.Policy{Name: "p", By: policy.ByIP, Limit: sluice.MustParseLimit("1/1m"), ThrowOnFailure: throw})
				mw := policy.Middleware(set)(h)
				got := statuses(mw, 3, "192.0.2.1:1")
				if !throw {
					if !slices.Equal(got, []int{200, 200, 200}) || h.calls.Load() != 3 {
						t.Errorf("fail-open: %v, handler %d", got, h.calls.Load())
					}
					if ev := rec.all(); len(ev) != 3 || ev[0].Decision.Reason != sluice.ReasonStoreError {
						t.Errorf("events %+v, want reason store_error", ev)
					}
					if w := do(mw, "192.0.2.1:1"); w.Header().Get("RateLimit") != "" {
						t.Errorf("fail-open wrote RateLimit %q with no decision behind it", w.Header().Get("RateLimit"))
					}
					return
				}
				if !slices.Equal(got, []int{503, 503, 503}) || h.calls.Load() != 0 {
					t.Errorf("fail-closed: %v, handler %d", got, h.calls.Load())
				}
				w := do(mw, "192.0.2.1:1")
				var p policy.Problem
				if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil || p.Type != policy.ProblemStoreUnavailable || p.Status != 503 ||
					w.Header().Get("Content-Type") != policy.ProblemContentType {
					t.Errorf("503 body %s (%v)", w.Body, err)
				}
			})
		}
	}
}

// hangingStore never answers TakeAll before the caller's deadline.
type hangingStore struct{ failingStore }

func (hangingStore) TakeAll(ctx context.Context, _ []store.Request, _ []sluice.Decision) (bool, error) {
	<-ctx.Done()
	return false, ctx.Err()
}

func TestSlowStoreFailsOpen(t *testing.T) {
	lim := sluice.New(hangingStore{}, sluice.Config{Timeout: 20 * time.Millisecond})
	defer lim.Close()
	rec := &recorder{}
	set := newSet(t, lim, policy.Options{Observer: rec},
		&policy.Policy{Name: "p", By: policy.ByIP, Limit: sluice.MustParseLimit("1/1m")})
	if got := do(policy.Middleware(set)(&handler{}), "192.0.2.1:1").Code; got != 200 {
		t.Errorf("slow store, fail-open: %d", got)
	}
	if ev := rec.all(); len(ev) != 1 || ev[0].Decision.Reason != sluice.ReasonTimeout {
		t.Errorf("events %+v, want one with reason timeout", ev)
	}
}

func TestStoreFailureAsync(t *testing.T) {
	lim := sluice.New(failingStore{err: errDown}, sluice.Config{})
	defer lim.Close()
	h := &handler{}
	set := newSet(t, lim, policy.Options{},
		&policy.Policy{Name: "p", By: policy.ByIP, Limit: sluice.MustParseLimit("1/1m"), Mode: policy.Async, ThrowOnFailure: true})
	// An async request already runs when the store fails: it completes.
	if got := statuses(policy.Middleware(set)(h), 2, "192.0.2.1:1"); !slices.Equal(got, []int{200, 200}) {
		t.Errorf("got %v", got)
	}
}
