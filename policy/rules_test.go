package policy_test

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/policy"
	"github.com/sluicehq/sluice/rules"
	"github.com/sluicehq/sluice/rules/sqlite"
)

func TestByRules(t *testing.T) {
	ctx := t.Context()
	repo, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "rules.db"), sqlite.Options{Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	defer repo.Close()
	for _, r := range []rules.Rule{
		{KeyType: rules.KeyUserID, KeyValue: "alice", Limit: 3, WindowSeconds: 60, Algorithm: "fixed_window", Enabled: true},
		{KeyType: rules.KeyUserID, KeyValue: rules.Wildcard, Limit: 1, WindowSeconds: 60, Algorithm: "fixed_window", Enabled: true},
		{KeyType: rules.KeyPlan, KeyValue: "pro", Limit: 1000, WindowSeconds: 3600, Algorithm: "fixed_window", Enabled: true, Shadow: true},
	} {
		if _, err := repo.Create(ctx, r, "test"); err != nil {
			t.Fatal(err)
		}
	}
	res, err := rules.NewResolver(repo, rules.ResolverConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer res.Close()
	if err := res.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	clk := newClock(epoch)
	rec := &recorder{}
	set := newSet(t, newLimiter(t, clk), policy.Options{Observer: rec},
		&policy.Policy{Name: "per-customer", By: policy.ByRules, Rules: res})
	mw := policy.Middleware(set)(&handler{})
	alice := withUser("alice", map[string]any{policy.DataPlan: "pro"})
	if got := statuses(mw, 4, "192.0.2.1:1", alice); !slices.Equal(got, []int{200, 200, 200, 429}) {
		t.Errorf("alice (3/min): %v", got)
	}
	w := do(mw, "192.0.2.1:1", withUser("bob", nil))
	if w.Code != 200 || w.Header().Get("RateLimit") != `"per-customer/user_id";r=0;t=60` {
		t.Errorf("bob (default 1/min): %d %q", w.Code, w.Header().Get("RateLimit"))
	}
	// No user: no user_id rule applies, and nothing else does: skipped.
	if got := statuses(mw, 3, "192.0.2.1:1"); !slices.Equal(got, []int{200, 200, 200}) {
		t.Errorf("anonymous: %v", got)
	}
	// A rules policy's own quota applies on top, per caller.
	capped := newSet(t, newLimiter(t, clk), policy.Options{},
		&policy.Policy{Name: "capped", By: policy.ByRules, Rules: res, Quota: sluice.MustParseLimit("2/day quota")})
	cmw := policy.Middleware(capped)(&handler{})
	if got := statuses(cmw, 3, "192.0.2.9:1", withUser("alice", nil)); !slices.Equal(got, []int{200, 200, 429}) {
		t.Errorf("rules + quota: %v", got)
	}
	if got := statuses(cmw, 3, "192.0.2.9:1"); !slices.Equal(got, []int{200, 200, 429}) {
		t.Errorf("anonymous, quota per address: %v", got)
	}
	shadow := 0
	for _, e := range rec.all() {
		if e.Shadow {
			shadow++
		}
	}
	if shadow != 3 {
		t.Errorf("%d shadow events, want 3 (one per allowed pro call)", shadow)
	}
}
