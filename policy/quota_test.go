package policy_test

import (
	"slices"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/policy"
)

func TestQuotaMonthRollover(t *testing.T) {
	// 23:30 on 31 January in Berlin; still January in UTC after midnight Berlin.
	clk := newClock(time.Date(2026, 1, 31, 22, 30, 0, 0, time.UTC))
	set := newSet(t, newLimiter(t, clk), policy.Options{},
		&policy.Policy{Name: "monthly", By: policy.ByUser, Quota: sluice.MustParseLimit("3/month tz=Europe/Berlin")},
		&policy.Policy{Name: "burst", By: policy.ByUser, Limit: sluice.MustParseLimit("100/1s"), Quota: sluice.MustParseLimit("1000/day quota")})
	mw := policy.Middleware(set)(&handler{})
	alice := withUser("alice", nil)
	if got := statuses(mw, 3, "192.0.2.1:1", alice); !slices.Equal(got, []int{200, 200, 200}) {
		t.Fatalf("within quota: %v", got)
	}
	w := do(mw, "192.0.2.1:1", alice)
	if w.Code != 429 || w.Header().Get("Retry-After") != "1800" {
		t.Fatalf("over quota: %d, Retry-After %q, want 429 and 1800 (midnight in Berlin)", w.Code, w.Header().Get("Retry-After"))
	}
	if got, want := w.Header().Get("RateLimit-Policy"), `"monthly/quota";q=3, "burst";q=100;w=1, "burst/quota";q=1000`; got != want {
		t.Errorf("RateLimit-Policy %q, want %q", got, want)
	}
	if got := do(mw, "192.0.2.1:1", withUser("bob", nil)).Code; got != 200 {
		t.Errorf("another user: %d", got)
	}
	clk.Advance(30*time.Minute - time.Second)
	if got := do(mw, "192.0.2.1:1", alice).Code; got != 429 {
		t.Errorf("one second before February in Berlin: %d, want 429", got)
	}
	clk.Advance(time.Second) // 2026-01-31 23:00 UTC = 2026-02-01 00:00 Berlin
	if got := statuses(mw, 4, "192.0.2.1:1", alice); !slices.Equal(got, []int{200, 200, 200, 429}) {
		t.Errorf("new month: %v, want [200 200 200 429]", got)
	}
}
