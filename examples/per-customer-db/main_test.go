package main

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/rules"
	"github.com/sluicehq/sluice/rules/rulesdb"
)

// countingRepo counts the loads of the rules, to show the cache at work.
type countingRepo struct {
	rules.Repository
	loads atomic.Int64
	down  bool
}

func (c *countingRepo) Enabled(ctx context.Context) ([]rules.Rule, error) {
	c.loads.Add(1)
	if c.down {
		return nil, errors.New("database unreachable")
	}
	return c.Repository.Enabled(ctx)
}

func open(t *testing.T) rules.Repository {
	t.Helper()
	repo, err := rulesdb.Open(t.Context(), filepath.Join(t.TempDir(), "customers.db"), rulesdb.Options{Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = repo.Close() })
	return repo
}

func serve(t *testing.T, repo rules.Repository) (http.Handler, *rules.Resolver) {
	t.Helper()
	lim := sluice.New(nil, sluice.Config{})
	h, res, err := newHandler(lim, repo, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = res.Close(); _ = lim.Close() })
	return h, res
}

func get(h http.Handler, key string) int {
	r := httptest.NewRequest(http.MethodGet, "/v1/orders", nil)
	r.Header.Set("Authorization", "Bearer "+key)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Code
}

// passes counts the calls of key that pass before the first 429, up to max.
func passes(h http.Handler, key string, max int) int {
	for i := range max {
		if get(h, key) != 200 {
			return i
		}
	}
	return max
}

func TestPerCustomerLimitsFromTheDatabase(t *testing.T) {
	repo := &countingRepo{Repository: open(t)}
	var acme rules.Rule
	for _, r := range demoRules {
		created, err := repo.Create(t.Context(), r, "test")
		if err != nil {
			t.Fatal(err)
		}
		if r.KeyValue == "acme" {
			acme = created
		}
	}
	h, res := serve(t, repo)
	if err := res.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := passes(h, "key-acme", 10); n != 5 {
		t.Errorf("acme passed %d calls, want 5 (its own row)", n)
	}
	if n := passes(h, "key-globex", 10); n != 2 {
		t.Errorf("globex passed %d calls, want 2 (the default row)", n)
	}
	// Served from the cache: the database was read at most twice (the
	// start and our Refresh), not once per request.
	if n := repo.loads.Load(); n > 2 {
		t.Errorf("%d loads of the rules for 17 requests", n)
	}

	// Raise acme's allowance; the change applies at the next refresh.
	limit := int64(8)
	if _, err := repo.Update(t.Context(), acme.ID, rules.Patch{Limit: &limit}, "test"); err != nil {
		t.Fatal(err)
	}
	if err := res.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := passes(h, "key-acme", 10); n != 3 {
		t.Errorf("acme passed %d more calls after the raise to 8, want 3", n)
	}
}

func TestFallbackWhileTheDatabaseIsDown(t *testing.T) {
	repo := &countingRepo{Repository: open(t), down: true}
	h, _ := serve(t, repo)
	if n := passes(h, "key-globex", 150); n != 100 {
		t.Errorf("globex passed %d calls with the database down, want the fallback's 100", n)
	}
}
