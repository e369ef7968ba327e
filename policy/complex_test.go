package policy_test

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/policy"
)

func complexPolicy() *policy.Policy {
	return &policy.Policy{Name: "usage", By: policy.ByUser, Counters: []policy.Counter{
		{Name: "requests", Limit: sluice.MustParseLimit("100/1m fixed_window")},
		{Name: "compute", Limit: sluice.MustParseLimit("10/1m fixed_window")},
	}}
}

func TestComplexIncrementsViaContext(t *testing.T) {
	clk := newClock(epoch)
	lim := newLimiter(t, clk)
	set := newSet(t, lim, policy.Options{}, complexPolicy())
	mw := policy.Middleware(set)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := policy.SetIncrement(r.Context(), "compute", 4); err != nil {
			t.Errorf("SetIncrement: %v", err)
		}
		w.WriteHeader(200)
	}))
	alice := withUser("alice", nil)
	// Headers are written before the increments are charged: reserved 1 each.
	w := do(mw, "192.0.2.1:1", alice)
	if got, want := w.Header().Get("RateLimit"), `"usage/requests";r=99;t=60, "usage/compute";r=9;t=60`; got != want {
		t.Errorf("RateLimit %q, want %q", got, want)
	}
	compute := func() int64 {
		d, _ := lim.Peek(t.Context(), sluice.Key("usage", "compute", "alice"), sluice.MustParseLimit("10/1m fixed_window"))
		return d.Remaining
	}
	if got := compute(); got != 6 {
		t.Errorf("compute remaining after one call of 4: %d, want 6", got)
	}
	// 6 left: a call of 4 passes (2 left), the next is checked with room
	// for 1 and passes, its charge of 4 empties the counter; then refused.
	if got := statuses(mw, 3, "192.0.2.1:1", alice); !slices.Equal(got, []int{200, 200, 429}) {
		t.Errorf("got %v, want [200 200 429]", got)
	}
	if got := compute(); got != 0 {
		t.Errorf("compute remaining %d, want 0", got)
	}
	d, _ := lim.Peek(t.Context(), sluice.Key("usage", "requests", "alice"), sluice.MustParseLimit("100/1m fixed_window"))
	if d.Remaining != 97 {
		t.Errorf("requests remaining %d, want 97", d.Remaining)
	}
}

func TestComplexIncrementsViaHeader(t *testing.T) {
	clk := newClock(epoch)
	lim := newLimiter(t, clk)
	var logs bytes.Buffer
	set := newSet(t, lim, policy.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))}, complexPolicy())
	var sent http.Header
	mw := policy.Middleware(set)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Sluice-Increments", r.Header.Get("X-Test-Increments"))
		w.WriteHeader(200)
		sent = w.Header().Clone()
	}))
	alice := withUser("alice", nil)
	peek := func(counter, limit string) int64 {
		d, _ := lim.Peek(t.Context(), sluice.Key("usage", counter, "alice"), sluice.MustParseLimit(limit))
		return d.Remaining
	}
	do(mw, "192.0.2.1:1", alice, withHeader("X-Test-Increments", "compute=3, requests=0"))
	if _, leaked := sent["Sluice-Increments"]; leaked {
		t.Error("Sluice-Increments reached the client")
	}
	if c, r := peek("compute", "10/1m fixed_window"), peek("requests", "100/1m fixed_window"); c != 7 || r != 100 {
		t.Errorf("compute %d requests %d, want 7 and 100 (requests=0 refunds the reservation)", c, r)
	}
	// Invalid members are logged and ignored; valid ones still apply.
	w := do(mw, "192.0.2.1:1", alice, withHeader("X-Test-Increments", "bogus=1, compute=-2, compute=x, requests, compute=2"))
	if w.Code != 200 {
		t.Errorf("bad increments made a %d", w.Code)
	}
	if c := peek("compute", "10/1m fixed_window"); c != 5 {
		t.Errorf("compute %d, want 5", c)
	}
	for _, want := range []string{`no policy of the route has a counter \"bogus\"`, `compute=-2`, `compute=x`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %s:\n%s", want, logs.String())
		}
	}
}

// The gateway's use: Check, the upstream, then Finish with the upstream's
// response header.
func TestCheckAndFinishForAGateway(t *testing.T) {
	clk := newClock(epoch)
	lim := newLimiter(t, clk)
	set := newSet(t, lim, policy.Options{}, complexPolicy())
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r = r.WithContext(policy.WithUser(r.Context(), policy.User{Subject: "alice"}))
	w := httptest.NewRecorder()
	call, r2, ok := set.Check(w, r)
	if !ok || r2 == nil {
		t.Fatal("Check refused")
	}
	upstream := http.Header{"Sluice-Increments": {"compute=10"}, "Content-Type": {"text/plain"}}
	call.Finish(upstream)
	call.Finish(upstream) // later calls do nothing
	if got, want := upstream.Get("RateLimit"), `"usage/requests";r=99;t=60, "usage/compute";r=0;t=60`; got != want {
		t.Errorf("RateLimit %q, want %q (after charging)", got, want)
	}
	if upstream.Get("Sluice-Increments") != "" {
		t.Error("Sluice-Increments kept")
	}
	if _, _, ok := set.Check(httptest.NewRecorder(), r); ok {
		t.Error("compute is exhausted; the next call must be refused")
	}
	var nilCall *policy.Call
	nilCall.Finish(nil) // safe
}

func TestSetIncrementErrors(t *testing.T) {
	if err := policy.SetIncrement(t.Context(), "compute", 1); err == nil {
		t.Error("SetIncrement outside a call succeeded")
	}
	clk := newClock(epoch)
	set := newSet(t, newLimiter(t, clk), policy.Options{}, complexPolicy())
	mw := policy.Middleware(set)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, tc := range []struct {
			counter string
			n       int64
		}{{"nope", 1}, {"compute", -1}, {"compute", 1 << 60}} {
			if err := policy.SetIncrement(r.Context(), tc.counter, tc.n); err == nil {
				t.Errorf("SetIncrement(%q, %d) succeeded", tc.counter, tc.n)
			}
		}
	}))
	if got := do(mw, "192.0.2.1:1", withUser("alice", nil)).Code; got != 200 {
		t.Errorf("got %d", got)
	}
}
