package httpapi_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/algorithm"
	"github.com/sluicehq/sluice/rules"
	"github.com/sluicehq/sluice/server/httpapi"
	"github.com/sluicehq/sluice/server/metrics"
	"github.com/sluicehq/sluice/store"
	"github.com/sluicehq/sluice/store/memory"
)

// clock is a fake clock, safe for concurrent use.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2025, 4, 2, 17, 10, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// fakeRepo is a rules.Repository that only lists its rules.
type fakeRepo struct {
	rules.Repository // nil: every other method panics, and the resolver calls none
	rs               []rules.Rule
	err              error
}

func (r *fakeRepo) Enabled(context.Context) ([]rules.Rule, error) { return r.rs, r.err }

// newResolver returns a loaded Resolver over rs.
func newResolver(t testing.TB, rs []rules.Rule, fallback []rules.Rule, fail bool) *rules.Resolver {
	t.Helper()
	repo := &fakeRepo{rs: rs}
	if fail {
		repo.err = errors.New("database down")
	}
	res, err := rules.NewResolver(repo, rules.ResolverConfig{Fallback: fallback, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = res.Close() })
	if err := res.Refresh(context.Background()); err != nil && !fail {
		t.Fatal(err)
	}
	return res
}

// testRules are the rules the tests resolve against.
func testRules() []rules.Rule {
	return []rules.Rule{
		{ID: "0190b1c2-0000-7000-8000-000000000001", KeyType: rules.KeyUserID, KeyValue: "*", Limit: 3, WindowSeconds: 60, Algorithm: "fixed_window", Enabled: true},
		{ID: "0190b1c2-0000-7000-8000-000000000002", KeyType: rules.KeyRoute, KeyValue: "/api/chat", Limit: 100, WindowSeconds: 60, Algorithm: "fixed_window", Enabled: true},
		{ID: "0190b1c2-0000-7000-8000-000000000003", KeyType: rules.KeyIP, KeyValue: "10.0.0.0/8", Limit: 1, WindowSeconds: 60, Algorithm: "fixed_window", Enabled: true, Shadow: true},
	}
}

// env is a decision API over a memory store with a fake clock.
type env struct {
	clock   *clock
	limiter *sluice.Limiter
	reg     *prometheus.Registry
	handler *httpapi.Handler
	srv     *httptest.Server
}

type envOption func(*httpapi.Config)

func withShadow(c *httpapi.Config)             { c.Shadow = true }
func withResolver(r *rules.Resolver) envOption { return func(c *httpapi.Config) { c.Resolver = r } }
func withLimiter(l *sluice.Limiter) envOption  { return func(c *httpapi.Config) { c.Limiter = l } }
func withMaxBody(n int64) envOption            { return func(c *httpapi.Config) { c.MaxBody = n } }
func withMaxBatch(n int) envOption             { return func(c *httpapi.Config) { c.MaxBatch = n } }
func withRules(t testing.TB) envOption         { return withResolver(newResolver(t, testRules(), nil, false)) }

func newEnv(t testing.TB, opts ...envOption) *env {
	t.Helper()
	c := newClock()
	mem := memory.New(memory.Config{Now: c.Now, SweepInterval: -1})
	t.Cleanup(func() { _ = mem.Close() })
	lim := sluice.New(mem, sluice.Config{Now: c.Now})
	t.Cleanup(func() { _ = lim.Close() })
	reg := prometheus.NewRegistry()
	m, err := metrics.New(metrics.Config{Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	cfg := httpapi.Config{Limiter: lim, Metrics: m}
	for _, o := range opts {
		o(&cfg)
	}
	h, err := httpapi.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &env{clock: c, limiter: cfg.Limiter, reg: reg, handler: h, srv: srv}
}

// do sends a request with a JSON body (none when body is "") and returns
// the response and its body.
func (e *env) do(t testing.TB, method, path, body string, header ...string) (*http.Response, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// failingStore is a store whose every call fails.
type failingStore struct{ err error }

var _ store.Store = failingStore{}

func (f failingStore) Take(context.Context, string, algorithm.Limit, int64) (algorithm.Decision, error) {
	return algorithm.Decision{}, f.err
}

func (f failingStore) TakeAll(context.Context, []store.Request, []algorithm.Decision) (bool, error) {
	return false, f.err
}

func (f failingStore) Refund(context.Context, string, algorithm.Limit, int64) (algorithm.Decision, error) {
	return algorithm.Decision{}, f.err
}

func (f failingStore) Reset(context.Context, string) error { return f.err }

func (f failingStore) Close() error { return nil }
