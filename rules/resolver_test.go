package rules_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/sluicehq/sluice/internal/servicetest"
	"github.com/sluicehq/sluice/rules"
	"github.com/sluicehq/sluice/rules/repotest"
	"github.com/sluicehq/sluice/rules/rulesdb"
	"github.com/sluicehq/sluice/rules/sqlite"
)

// openSQLite opens (creating) the SQLite rules file at path, polling for
// changes every poll; closed when the test ends.
func openSQLite(t testing.TB, path string, poll time.Duration) rules.Repository {
	t.Helper()
	repo, err := sqlite.Open(context.Background(), path, sqlite.Options{Migrate: true, PollInterval: poll})
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	t.Cleanup(func() { repo.Close() })
	return repo
}

// openDSN opens (migrating) the rules database at dsn; closed when the
// test ends.
func openDSN(t testing.TB, dsn string) rules.Repository {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	repo, err := rulesdb.Open(ctx, dsn, rulesdb.Options{Migrate: true})
	if err != nil {
		t.Fatalf("open rules database: %v", err)
	}
	t.Cleanup(func() { repo.Close() })
	return repo
}

// ttlOnly hides a repository's Watcher, as if it could not announce
// changes: the resolver then relies on its TTL and Invalidate.
type ttlOnly struct{ rules.Repository }

// clock is a settable clock for the cache age.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// metric returns the value of the unlabelled metric name in reg.
func metric(t testing.TB, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		m := mf.GetMetric()[0]
		switch {
		case m.GetCounter() != nil:
			return m.GetCounter().GetValue()
		case m.GetGauge() != nil:
			return m.GetGauge().GetValue()
		}
	}
	t.Fatalf("metric %s not registered", name)
	return 0
}

// newResolver starts a resolver, closed when the test ends.
func newResolver(t testing.TB, repo rules.Repository, cfg rules.ResolverConfig) *rules.Resolver {
	t.Helper()
	r, err := rules.NewResolver(repo, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// mustCreate stores a rule.
func mustCreate(t testing.TB, repo rules.Repository, r rules.Rule) rules.Rule {
	t.Helper()
	r.ID = ""
	got, err := repo.Create(context.Background(), r, "test")
	if err != nil {
		t.Fatalf("create %+v: %v", r, err)
	}
	return got
}

// limitFor returns the limit the resolver applies to user u, or 0.
func limitFor(r *rules.Resolver, u string) int64 {
	for _, m := range r.Resolve(rules.Attributes{UserID: u}, nil) {
		if m.KeyType == rules.KeyUserID {
			return m.Limit.Requests
		}
	}
	return 0
}

// eventually waits up to d for cond.
func eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestResolverServesSnapshotAndStops(t *testing.T) {
	repo := openSQLite(t, filepath.Join(t.TempDir(), "rules.db"), 0)
	mustCreate(t, repo, rule(0, rules.KeyUserID, "alice", func(r *rules.Rule) { r.Limit = 7 }))
	mustCreate(t, repo, rule(0, rules.KeyRoute, "/api/chat", shadow, func(r *rules.Rule) { r.Limit = 3 }))
	mustCreate(t, repo, rule(0, rules.KeyIP, "10.0.0.0/8", disabled))

	leaks := goleak.IgnoreCurrent()
	reg := prometheus.NewRegistry()
	clk := &clock{now: time.Unix(1_700_000_000, 0)}
	r, err := rules.NewResolver(repo, rules.ResolverConfig{Registerer: reg, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	ms := r.Resolve(rules.Attributes{UserID: "alice", Route: "/api/chat", IP: "10.1.1.1"}, nil)
	if len(ms) != 2 || ms[0].Limit.Requests != 7 || !ms[1].Shadow || ms[0].Fallback || ms[1].Fallback {
		t.Fatalf("Resolve = %+v, want alice's limit 7 and the shadow route rule", ms)
	}
	// A caller with no rule is answered from the snapshot too.
	if ms := r.Resolve(rules.Attributes{UserID: "bob"}, nil); len(ms) != 0 {
		t.Errorf("bob: %+v, want no match", ms)
	}
	if got := metric(t, reg, "sluice_rules_loaded"); got != 2 {
		t.Errorf("sluice_rules_loaded = %v, want 2", got)
	}
	clk.advance(90 * time.Second)
	if got := metric(t, reg, "sluice_rules_cache_age_seconds"); got != 90 {
		t.Errorf("cache age = %v, want 90", got)
	}
	if got := metric(t, reg, "sluice_rules_refresh_errors_total"); got != 0 {
		t.Errorf("refresh errors = %v, want 0", got)
	}
	if ix, at := r.Snapshot(); ix == nil || ix.Len() != 2 || !at.Equal(time.Unix(1_700_000_000, 0)) {
		t.Errorf("Snapshot = %v, %v", ix, at)
	}
	r.Invalidate()
	r.Invalidate() // coalesced, never blocks
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil { // idempotent
		t.Fatal(err)
	}
	goleak.VerifyNone(t, leaks)
	// After Close the last snapshot keeps serving.
	if limitFor(r, "alice") != 7 {
		t.Error("closed resolver stopped serving")
	}
}

func TestResolverTTLReachesOtherInstances(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rules.db")
	writer := openSQLite(t, path, 0)          // instance A: where the admin API writes
	reader := ttlOnly{openSQLite(t, path, 0)} // instance B: learns through its TTL
	r := newResolver(t, reader, rules.ResolverConfig{TTL: 100 * time.Millisecond})
	if err := r.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	created := mustCreate(t, writer, rule(0, rules.KeyUserID, "alice", func(r *rules.Rule) { r.Limit = 5 }))
	eventually(t, 3*time.Second, "the new rule reached the other instance", func() bool { return limitFor(r, "alice") == 5 })
	if err := writer.Delete(context.Background(), created.ID, "test"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 3*time.Second, "the deletion reached the other instance", func() bool { return limitFor(r, "alice") == 0 })
}

func TestResolverInvalidate(t *testing.T) {
	repo := ttlOnly{openSQLite(t, filepath.Join(t.TempDir(), "rules.db"), 0)}
	r := newResolver(t, repo, rules.ResolverConfig{TTL: time.Hour})
	if err := r.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, repo, rule(0, rules.KeyUserID, "alice", func(r *rules.Rule) { r.Limit = 9 }))
	r.Invalidate()
	eventually(t, 2*time.Second, "Invalidate reloaded the rules", func() bool { return limitFor(r, "alice") == 9 })
}

func TestResolverWatchSQLite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rules.db")
	writer := openSQLite(t, path, 0)
	reader := openSQLite(t, path, 20*time.Millisecond)
	r := newResolver(t, reader, rules.ResolverConfig{TTL: time.Hour, Debounce: 10 * time.Millisecond})
	if err := r.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, writer, rule(0, rules.KeyUserID, "alice", func(r *rules.Rule) { r.Limit = 4 }))
	eventually(t, 3*time.Second, "the change feed reloaded the rules", func() bool { return limitFor(r, "alice") == 4 })
}

func TestResolverWatchPostgres(t *testing.T) {
	dsn := repotest.PostgresURL(t)
	writer := openDSN(t, dsn)
	reader := openDSN(t, dsn)
	if _, ok := reader.(rules.Watcher); !ok {
		t.Fatal("the PostgreSQL repository does not announce changes (rules.Watcher)")
	}
	r := newResolver(t, reader, rules.ResolverConfig{TTL: time.Hour, Debounce: 10 * time.Millisecond})
	if err := r.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	created := mustCreate(t, writer, rule(0, rules.KeyUserID, "alice", func(r *rules.Rule) { r.Limit = 4 }))
	eventually(t, 5*time.Second, "LISTEN/NOTIFY reloaded the rules", func() bool { return limitFor(r, "alice") == 4 })
	limit := int64(6)
	if _, err := writer.Update(context.Background(), created.ID, rules.Patch{Limit: &limit}, "test"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "LISTEN/NOTIFY reloaded the update", func() bool { return limitFor(r, "alice") == 6 })
}

// TestResolverOutage stops the database under a resolver that has loaded
// rules: it keeps serving them, counts the failed refreshes, and picks up
// changes again once the database is back.
func TestResolverOutage(t *testing.T) {
	proxy, dsn := servicetest.ProxyURL(t, repotest.PostgresURL(t))
	repo := openDSN(t, dsn)
	created := mustCreate(t, repo, rule(0, rules.KeyUserID, "alice", func(r *rules.Rule) { r.Limit = 7 }))
	reg := prometheus.NewRegistry()
	r := newResolver(t, ttlOnly{repo}, rules.ResolverConfig{
		TTL: time.Hour, LoadTimeout: 2 * time.Second, Registerer: reg,
		Fallback: []rules.Rule{rule(0, rules.KeyUserID, "*", func(r *rules.Rule) { r.ID, r.Limit = "", 1 })},
	})
	if err := r.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}

	proxy.SetDown(true)
	if err := r.Refresh(context.Background()); err == nil {
		t.Fatal("Refresh succeeded with the database down")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := repo.Ping(ctx); err == nil {
		t.Fatal("the database still answers through the stopped proxy")
	}
	for range 100 {
		ms := r.Resolve(rules.Attributes{UserID: "alice"}, nil)
		if len(ms) != 1 || ms[0].Limit.Requests != 7 || ms[0].Fallback {
			t.Fatalf("during the outage Resolve = %+v, want the cached rule", ms)
		}
	}
	if got := metric(t, reg, "sluice_rules_refresh_errors_total"); got < 1 {
		t.Errorf("refresh errors = %v, want >= 1", got)
	}
	if got := metric(t, reg, "sluice_rules_fallback_total"); got != 0 {
		t.Errorf("fallback used %v times with rules cached", got)
	}

	proxy.SetDown(false)
	limit := int64(8)
	eventually(t, 10*time.Second, "the database came back", func() bool {
		_, err := repo.Update(context.Background(), created.ID, rules.Patch{Limit: &limit}, "test")
		return err == nil
	})
	eventually(t, 10*time.Second, "the resolver reloaded after the outage", func() bool {
		return r.Refresh(context.Background()) == nil && limitFor(r, "alice") == 8
	})
}

// TestResolverFallback starts a resolver while the database is down: it
// serves the fallback, flagged and counted, until the rules load.
func TestResolverFallback(t *testing.T) {
	proxy, dsn := servicetest.ProxyURL(t, repotest.PostgresURL(t))
	repo := openDSN(t, dsn)
	mustCreate(t, repo, rule(0, rules.KeyUserID, "alice", func(r *rules.Rule) { r.Limit = 7 }))
	proxy.SetDown(true)

	reg := prometheus.NewRegistry()
	r := newResolver(t, ttlOnly{repo}, rules.ResolverConfig{
		TTL: time.Hour, LoadTimeout: 2 * time.Second, Registerer: reg,
		Fallback: []rules.Rule{{KeyType: rules.KeyUserID, KeyValue: "*", Limit: 100, WindowSeconds: 60}},
	})
	if err := r.Refresh(context.Background()); err == nil {
		t.Fatal("Refresh succeeded with the database down")
	}
	ms := r.Resolve(rules.Attributes{UserID: "alice", IP: "10.0.0.1"}, nil)
	if len(ms) != 1 || !ms[0].Fallback || ms[0].Limit.Requests != 100 || ms[0].Limit.Window != time.Minute || ms[0].Key != "rule:user_id:alice" {
		t.Fatalf("Resolve = %+v, want the fallback 100/1m on alice's counter", ms)
	}
	r.Resolve(rules.Attributes{UserID: "bob"}, nil)
	if got := metric(t, reg, "sluice_rules_fallback_total"); got != 2 {
		t.Errorf("sluice_rules_fallback_total = %v, want 2", got)
	}
	if got := metric(t, reg, "sluice_rules_refresh_errors_total"); got < 1 {
		t.Errorf("refresh errors = %v, want >= 1", got)
	}
	if ix, _ := r.Snapshot(); ix != nil {
		t.Error("a snapshot exists though no load succeeded")
	}

	proxy.SetDown(false)
	eventually(t, 10*time.Second, "the rules loaded once the database came back", func() bool {
		return r.Refresh(context.Background()) == nil
	})
	ms = r.Resolve(rules.Attributes{UserID: "alice"}, nil)
	if len(ms) != 1 || ms[0].Fallback || ms[0].Limit.Requests != 7 {
		t.Errorf("after recovery Resolve = %+v, want alice's rule", ms)
	}
	if got := metric(t, reg, "sluice_rules_fallback_total"); got != 2 {
		t.Errorf("fallback counted after recovery: %v", got)
	}
}

// TestResolverNoFallback: with no fallback and no rules, nothing is
// limited, and the resolution still counts as a fallback.
func TestResolverNoFallback(t *testing.T) {
	proxy, dsn := servicetest.ProxyURL(t, repotest.PostgresURL(t))
	repo := openDSN(t, dsn)
	proxy.SetDown(true)
	reg := prometheus.NewRegistry()
	r := newResolver(t, ttlOnly{repo}, rules.ResolverConfig{TTL: time.Hour, LoadTimeout: time.Second, Registerer: reg})
	if ms := r.Resolve(rules.Attributes{UserID: "alice"}, nil); len(ms) != 0 {
		t.Errorf("Resolve = %+v, want nothing", ms)
	}
	if got := metric(t, reg, "sluice_rules_fallback_total"); got != 1 {
		t.Errorf("fallback_total = %v, want 1", got)
	}
}

func TestNewResolverRejectsBadConfig(t *testing.T) {
	repo := openSQLite(t, filepath.Join(t.TempDir(), "rules.db"), 0)
	bad := []rules.ResolverConfig{
		{TTL: -time.Second},
		{Debounce: -1},
		{Fallback: []rules.Rule{{KeyType: rules.KeyIP, KeyValue: "nope", Limit: 1, WindowSeconds: 1}}},
	}
	for _, cfg := range bad {
		if r, err := rules.NewResolver(repo, cfg); err == nil {
			r.Close()
			t.Errorf("NewResolver(%+v) succeeded", cfg)
		}
	}
	if _, err := rules.NewResolver(nil, rules.ResolverConfig{}); err == nil {
		t.Error("NewResolver(nil) succeeded")
	}
	reg := prometheus.NewRegistry()
	first := newResolver(t, repo, rules.ResolverConfig{Registerer: reg})
	if r, err := rules.NewResolver(repo, rules.ResolverConfig{Registerer: reg}); err == nil {
		r.Close()
		t.Error("registering the metrics twice succeeded")
	}
	// Once the first is closed, a new resolver can take the registry over.
	first.Close()
	newResolver(t, repo, rules.ResolverConfig{Registerer: reg})
}
