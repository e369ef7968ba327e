package policy_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"testing"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/policy"
)

func TestByIP(t *testing.T) {
	clk := newClock(epoch)
	h := &handler{}
	set := newSet(t, newLimiter(t, clk), policy.Options{},
		&policy.Policy{Name: "per-ip", By: policy.ByIP, Limit: sluice.MustParseLimit("2/1m")})
	mw := policy.Middleware(set)(h)
	if got, want := statuses(mw, 3, "192.0.2.1:1234"), []int{200, 200, 429}; !slices.Equal(got, want) {
		t.Errorf("first client: %v, want %v", got, want)
	}
	if got := do(mw, "192.0.2.2:1234").Code; got != 200 {
		t.Errorf("second client: %d, want 200 (own counter)", got)
	}
	// An IPv4-mapped IPv6 peer is the same client as its IPv4 address.
	if got := do(mw, "[::ffff:192.0.2.1]:80").Code; got != 429 {
		t.Errorf("mapped address: %d, want 429 (same counter as 192.0.2.1)", got)
	}
	if h.calls.Load() != 3 {
		t.Errorf("handler ran %d times, want 3", h.calls.Load())
	}
}

func TestIPv6Grouping(t *testing.T) {
	for _, tc := range []struct {
		prefix      int
		other       string
		sameCounter bool
	}{
		{0, "[2001:db8:1:2:ffff::9]:1", true}, // default /64: same network
		{0, "[2001:db8:1:3::1]:1", false},     // another /64
		{48, "[2001:db8:1:3::1]:1", true},     // same /48
		{128, "[2001:db8:1:2::2]:1", false},   // every address its own
		{56, "[2001:db8:1:ff::1]:1", true},    // same /56
		{56, "[2001:db8:1:100::1]:1", false},  // another /56
	} {
		t.Run(fmt.Sprintf("%d_%s", tc.prefix, tc.other), func(t *testing.T) {
			clk := newClock(epoch)
			set := newSet(t, newLimiter(t, clk), policy.Options{IPv6Prefix: tc.prefix},
				&policy.Policy{Name: "per-ip", By: policy.ByIP, Limit: sluice.MustParseLimit("1/1m")})
			mw := policy.Middleware(set)(&handler{})
			if got := do(mw, "[2001:db8:1:2::1]:1").Code; got != 200 {
				t.Fatalf("first: %d", got)
			}
			want := 200
			if tc.sameCounter {
				want = 429
			}
			if got := do(mw, tc.other).Code; got != want {
				t.Errorf("%s after 2001:db8:1:2::1 with prefix %d: %d, want %d", tc.other, tc.prefix, got, want)
			}
		})
	}
}

func TestByUser(t *testing.T) {
	clk := newClock(epoch)
	h := &handler{}
	set := newSet(t, newLimiter(t, clk), policy.Options{},
		&policy.Policy{Name: "per-user", By: policy.ByUser, Limit: sluice.MustParseLimit("1/1m")})
	mw := policy.Middleware(set)(h)

	w := do(mw, "192.0.2.1:1")
	if w.Code != http.StatusUnauthorized || w.Header().Get("Content-Type") != policy.ProblemContentType {
		t.Fatalf("no user: %d %q, want 401 problem+json", w.Code, w.Header().Get("Content-Type"))
	}
	var p policy.Problem
	if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil || p.Type != policy.ProblemUnauthenticated || p.Policy != "per-user" {
		t.Errorf("401 body %s (%v)", w.Body, err)
	}
	if got, want := statuses(mw, 2, "192.0.2.1:1", withUser("alice", nil)), []int{200, 429}; !slices.Equal(got, want) {
		t.Errorf("alice: %v, want %v", got, want)
	}
	// Same address, another user: own counter.
	if got := do(mw, "192.0.2.1:1", withUser("bob", nil)).Code; got != 200 {
		t.Errorf("bob: %d, want 200", got)
	}
	// A user's name holding the key separator cannot reach another's counter.
	if got := do(mw, "192.0.2.1:1", withUser("alice:x", nil)).Code; got != 200 {
		t.Errorf("alice:x: %d, want 200", got)
	}
}

func TestByAll(t *testing.T) {
	clk := newClock(epoch)
	set := newSet(t, newLimiter(t, clk), policy.Options{},
		&policy.Policy{Name: "route", By: policy.ByAll, Limit: sluice.MustParseLimit("2/1m")})
	mw := policy.Middleware(set)(&handler{})
	got := []int{do(mw, "192.0.2.1:1").Code, do(mw, "192.0.2.2:1").Code, do(mw, "192.0.2.3:1").Code}
	if want := []int{200, 200, 429}; !slices.Equal(got, want) {
		t.Errorf("all: %v, want %v (one counter for every caller)", got, want)
	}
}

func TestByFunction(t *testing.T) {
	clk := newClock(epoch)
	rec := &recorder{}
	fn := func(r *http.Request) (*policy.Details, error) {
		switch r.Header.Get("X-Customer") {
		case "":
			return nil, nil // health checks and the like: skipped
		case "big":
			return &policy.Details{Key: "big", RequestsAllowed: 3}, nil
		case "broken":
			return nil, fmt.Errorf("customer database unreachable")
		}
		return &policy.Details{Key: r.Header.Get("X-Customer")}, nil
	}
	h := &handler{}
	set := newSet(t, newLimiter(t, clk), policy.Options{Observer: rec},
		&policy.Policy{Name: "per-customer", By: policy.ByFunction, Func: fn, Limit: sluice.MustParseLimit("1/1m")})
	mw := policy.Middleware(set)(h)

	if got := statuses(mw, 3, "192.0.2.1:1"); !slices.Equal(got, []int{200, 200, 200}) {
		t.Errorf("skipped calls: %v, want all 200", got)
	}
	if got := statuses(mw, 2, "192.0.2.1:1", withHeader("X-Customer", "small")); !slices.Equal(got, []int{200, 429}) {
		t.Errorf("small: %v, want [200 429]", got)
	}
	if got := statuses(mw, 4, "192.0.2.1:1", withHeader("X-Customer", "big")); !slices.Equal(got, []int{200, 200, 200, 429}) {
		t.Errorf("big (requestsAllowed 3): %v", got)
	}
	if got := do(mw, "192.0.2.1:1", withHeader("X-Customer", "broken")).Code; got != 200 {
		t.Errorf("failing function, fail-open: %d, want 200", got)
	}
	ev := rec.all()
	if ev[0].Decision.Reason != sluice.ReasonSkipped || !ev[0].Decision.Allowed || ev[0].By != policy.ByFunction {
		t.Errorf("skipped event = %+v", ev[0])
	}

	closed := newSet(t, newLimiter(t, clk), policy.Options{},
		&policy.Policy{Name: "per-customer", By: policy.ByFunction, Func: fn, Limit: sluice.MustParseLimit("1/1m"), ThrowOnFailure: true})
	if got := do(policy.Middleware(closed)(h), "192.0.2.1:1", withHeader("X-Customer", "broken")).Code; got != 503 {
		t.Errorf("failing function, throwOnFailure: %d, want 503", got)
	}
}

func TestPoliciesInOrderAllOrNothing(t *testing.T) {
	clk := newClock(epoch)
	lim := newLimiter(t, clk)
	set := newSet(t, lim, policy.Options{},
		&policy.Policy{Name: "per-ip", By: policy.ByIP, Limit: sluice.MustParseLimit("10/1m")},
		&policy.Policy{Name: "per-user", By: policy.ByUser, Limit: sluice.MustParseLimit("2/1m")})
	mw := policy.Middleware(set)(&handler{})
	if got := statuses(mw, 4, "192.0.2.1:1", withUser("alice", nil)); !slices.Equal(got, []int{200, 200, 429, 429}) {
		t.Fatalf("got %v", got)
	}
	// The two refused calls took nothing from per-ip: 8 remain.
	d, err := lim.Peek(t.Context(), sluice.Key("per-ip", "192.0.2.1"), sluice.MustParseLimit("10/1m"))
	if err != nil || d.Remaining != 8 {
		t.Errorf("per-ip remaining %d (%v), want 8: refused calls must not count", d.Remaining, err)
	}
	// The ip policy runs first: without a user, the user policy answers 401
	// and nothing is counted.
	if got := do(mw, "192.0.2.1:1").Code; got != 401 {
		t.Errorf("no user: %d", got)
	}
	if d, _ := lim.Peek(t.Context(), sluice.Key("per-ip", "192.0.2.1"), sluice.MustParseLimit("10/1m")); d.Remaining != 8 {
		t.Errorf("per-ip remaining after 401: %d, want 8", d.Remaining)
	}
}

func TestNewSetRejects(t *testing.T) {
	lim := newLimiter(t, newClock(epoch))
	l := sluice.MustParseLimit("1/s")
	for name, ps := range map[string][]*policy.Policy{
		"no name":         {{By: policy.ByIP, Limit: l}},
		"bad name":        {{Name: "a b", By: policy.ByIP, Limit: l}},
		"no by":           {{Name: "a", Limit: l}},
		"no limit":        {{Name: "a", By: policy.ByIP}},
		"duplicate":       {{Name: "a", By: policy.ByIP, Limit: l}, {Name: "a", By: policy.ByUser, Limit: l}},
		"func missing":    {{Name: "a", By: policy.ByFunction, Limit: l}},
		"rules missing":   {{Name: "a", By: policy.ByRules}},
		"rules with func": {{Name: "a", By: policy.ByRules, Func: func(*http.Request) (*policy.Details, error) { return nil, nil }}},
		"limit+counters":  {{Name: "a", By: policy.ByIP, Limit: l, Counters: []policy.Counter{{Name: "c", Limit: l}}}},
		"quota algo":      {{Name: "a", By: policy.ByIP, Quota: l}},
		"country header":  {{Name: "a", By: policy.ByIP, Limit: l, Deny: policy.Deny{Countries: []string{"XX"}}}},
		"negative cost":   {{Name: "a", By: policy.ByIP, Limit: l, Cost: -1}},
		"nil":             {nil},
	} {
		if _, err := policy.NewSet(lim, ps...); err == nil {
			t.Errorf("%s: NewSet accepted it", name)
		}
	}
}
