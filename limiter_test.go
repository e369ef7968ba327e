package sluice_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/algorithm"
	"github.com/sluicehq/sluice/store"
	"github.com/sluicehq/sluice/store/memory"
	"github.com/sluicehq/sluice/store/storetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// newLimiter returns a Limiter over a fresh memory store on a controlled
// clock, and the store wrapped so that calls reaching it are counted.
func newLimiter(t *testing.T, cfg sluice.Config) (*sluice.Limiter, *countingStore, *storetest.Clock) {
	t.Helper()
	clock := storetest.NewClock(storetest.Epoch)
	mem := memory.New(memory.Config{Now: clock.Now})
	t.Cleanup(func() { mem.Close() })
	counted := &countingStore{Store: mem}
	cfg.Now = clock.Now
	lim := sluice.New(counted, cfg)
	t.Cleanup(func() { lim.Close() })
	return lim, counted, clock
}

// countingStore counts the calls that reach the store it wraps.
type countingStore struct {
	*memory.Store
	takes atomic.Int64
}

func (c *countingStore) Take(ctx context.Context, key string, l algorithm.Limit, cost int64) (algorithm.Decision, error) {
	c.takes.Add(1)
	return c.Store.Take(ctx, key, l, cost)
}

// failingStore fails every call with err, as a store whose backend is down.
type failingStore struct{ err error }

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
func (f failingStore) Acquire(context.Context, string, string, int64, time.Duration) (algorithm.Decision, error) {
	return algorithm.Decision{}, f.err
}
func (f failingStore) Release(context.Context, string, string) error { return f.err }

func TestAllowUntilTheLimit(t *testing.T) {
	lim, _, clock := newLimiter(t, sluice.Config{})
	ctx := context.Background()
	limit := sluice.MustParseLimit("3/1m fixed_window")
	for i := range 3 {
		d, err := lim.Allow(ctx, "k", limit)
		if err != nil || !d.Allowed || d.Remaining != int64(2-i) {
			t.Fatalf("call %d: %+v, %v", i, d, err)
		}
	}
	d, err := lim.Allow(ctx, "k", limit)
	if err != nil || d.Allowed || d.RetryAfter != time.Minute || d.Reason != sluice.ReasonRateLimited {
		t.Fatalf("4th call: %+v, %v; want denied, retry after 1m", d, err)
	}
	clock.Advance(time.Minute)
	if d, _ := lim.Allow(ctx, "k", limit); !d.Allowed {
		t.Fatalf("after the window: %+v", d)
	}
}

func TestInvalidInput(t *testing.T) {
	lim, _, _ := newLimiter(t, sluice.Config{})
	ctx := context.Background()
	good := sluice.MustParseLimit("1/s")
	cases := []struct {
		name  string
		key   string
		limit sluice.Limit
		cost  int64
		want  error
	}{
		{"empty key", "", good, 1, sluice.ErrInvalidKey},
		{"long key", strings.Repeat("k", sluice.MaxKeyLength+1), good, 1, sluice.ErrInvalidKey},
		{"negative cost", "k", good, -1, sluice.ErrInvalidCost},
		{"zero limit", "k", sluice.Limit{}, 1, sluice.ErrInvalidLimit},
		{"bad algorithm", "k", sluice.Limit{Requests: 1, Window: time.Second, Algorithm: 99}, 1, sluice.ErrInvalidLimit},
	}
	for _, c := range cases {
		if _, err := lim.AllowN(ctx, c.key, c.limit, c.cost); !errors.Is(err, c.want) {
			t.Errorf("%s: err %v, want %v", c.name, err, c.want)
		}
	}
	if _, err := lim.Refund(ctx, "k", good, -5); !errors.Is(err, sluice.ErrInvalidCost) {
		t.Errorf("negative refund: %v", err)
	}
	if err := lim.Reset(ctx, ""); !errors.Is(err, sluice.ErrInvalidKey) {
		t.Errorf("reset of an empty key: %v", err)
	}
	if _, _, err := lim.AllowAll(ctx); err == nil {
		t.Error("AllowAll of nothing: no error")
	}
	if _, d, err := lim.Acquire(ctx, "k", 0, time.Second); err == nil {
		t.Errorf("Acquire with max 0: %+v", d)
	}
}

func TestCostLargerThanTheLimit(t *testing.T) {
	lim, _, _ := newLimiter(t, sluice.Config{})
	d, err := lim.AllowN(context.Background(), "k", sluice.MustParseLimit("10/s token_bucket"), 1<<62)
	if err != nil || d.Allowed || d.Reason != sluice.ReasonCostExceedsLimit || d.Remaining != 10 {
		t.Fatalf("huge cost: %+v, %v; want denied, cost_exceeds_limit, nothing consumed", d, err)
	}
}

func TestBlockCache(t *testing.T) {
	lim, counted, clock := newLimiter(t, sluice.Config{})
	ctx := context.Background()
	limit := sluice.MustParseLimit("2/10s fixed_window")
	lim.AllowN(ctx, "abuser", limit, 2)
	if d, _ := lim.Allow(ctx, "abuser", limit); d.Reason != sluice.ReasonRateLimited {
		t.Fatalf("over the limit: %+v", d)
	}
	before := counted.takes.Load()
	clock.Advance(4 * time.Second)
	d, err := lim.Allow(ctx, "abuser", limit)
	if err != nil || d.Allowed || d.Reason != sluice.ReasonCacheBlock || d.RetryAfter != 6*time.Second || d.Reset != 6*time.Second {
		t.Fatalf("known blocked key: %+v, %v; want cache_block with 6s to wait", d, err)
	}
	if got := counted.takes.Load() - before; got != 0 {
		t.Fatalf("a cache_block decision made %d store calls", got)
	}
	if d, _ := lim.Peek(ctx, "abuser", limit); d.Reason == sluice.ReasonCacheBlock || counted.takes.Load() == before {
		t.Fatalf("Peek answered from the cache: %+v", d)
	}

	raised := sluice.MustParseLimit("5/10s fixed_window")
	if d, _ := lim.Allow(ctx, "abuser", raised); !d.Allowed {
		t.Fatalf("under a raised limit the stale block held: %+v", d)
	}

	clock.Advance(6 * time.Second)
	if d, _ := lim.Allow(ctx, "abuser", limit); !d.Allowed {
		t.Fatalf("after the block ended: %+v", d)
	}

	lim.AllowN(ctx, "reset-me", limit, 2)
	lim.Allow(ctx, "reset-me", limit)
	if err := lim.Reset(ctx, "reset-me"); err != nil {
		t.Fatal(err)
	}
	if d, _ := lim.Allow(ctx, "reset-me", limit); !d.Allowed {
		t.Fatalf("after Reset the cache still blocked: %+v", d)
	}
}

func TestBlockCacheIsBounded(t *testing.T) {
	lim, _, _ := newLimiter(t, sluice.Config{BlockCacheSize: 64})
	ctx := context.Background()
	limit := sluice.MustParseLimit("1/1h fixed_window")
	const keys = 1000
	for i := range keys {
		k := fmt.Sprint("flood-", i)
		lim.Allow(ctx, k, limit)
		lim.Allow(ctx, k, limit) // denied: remembered
	}
	if d, _ := lim.Allow(ctx, fmt.Sprint("flood-", keys-1), limit); d.Reason != sluice.ReasonCacheBlock {
		t.Fatalf("the last key blocked is not in the cache: %+v", d)
	}
	hits := 0
	for i := range keys {
		if d, _ := lim.Allow(ctx, fmt.Sprint("flood-", i), limit); d.Reason == sluice.ReasonCacheBlock {
			hits++
		}
	}
	if hits > 64 {
		t.Fatalf("%d of %d blocked keys answered from a cache bounded to 64", hits, keys)
	}
}

func TestBlockCacheOff(t *testing.T) {
	lim, counted, _ := newLimiter(t, sluice.Config{BlockCacheSize: -1})
	ctx := context.Background()
	limit := sluice.MustParseLimit("1/1h")
	lim.Allow(ctx, "k", limit)
	lim.Allow(ctx, "k", limit)
	before := counted.takes.Load()
	if d, _ := lim.Allow(ctx, "k", limit); d.Reason != sluice.ReasonRateLimited || counted.takes.Load() != before+1 {
		t.Fatalf("with the cache off: %+v", d)
	}
}

// TestLocalMaxKeys: the local fallback store holds Config.LocalMaxKeys
// keys; past them it evicts, and an evicted key counts afresh.
func TestLocalMaxKeys(t *testing.T) {
	ctx := context.Background()
	limit := sluice.MustParseLimit("1/1h")
	down := failingStore{errors.New("connection refused")}
	allowedAgain := func(maxKeys int) int {
		lim := sluice.New(down, sluice.Config{OnStoreError: sluice.FailLocal, LocalMaxKeys: maxKeys, BlockCacheSize: -1})
		defer lim.Close()
		n := 0
		for round := range 2 {
			for i := range 2000 {
				d, err := lim.Allow(ctx, fmt.Sprintf("user:%d", i), limit)
				if err != nil {
					t.Fatal(err)
				}
				if round == 1 && d.Allowed {
					n++
				}
			}
		}
		return n
	}
	if n := allowedAgain(0); n != 0 {
		t.Errorf("default local store: %d of 2000 keys allowed a second time", n)
	}
	if n := allowedAgain(256); n < 1000 {
		t.Errorf("local store of 256 keys: %d of 2000 keys allowed a second time, want most", n)
	}
}

func TestFailureModes(t *testing.T) {
	ctx := context.Background()
	limit := sluice.MustParseLimit("1/1h")
	down := errors.New("connection refused")
	slow := fmt.Errorf("redis: %w", context.DeadlineExceeded)

	open := sluice.New(failingStore{down}, sluice.Config{})
	d, err := open.Allow(ctx, "k", limit)
	if err != nil || !d.Allowed || d.Reason != sluice.ReasonStoreError {
		t.Errorf("fail-open on a store error: %+v, %v", d, err)
	}
	d, err = sluice.New(failingStore{slow}, sluice.Config{}).Allow(ctx, "k", limit)
	if err != nil || !d.Allowed || d.Reason != sluice.ReasonTimeout {
		t.Errorf("fail-open on a timeout: %+v, %v", d, err)
	}

	closed := sluice.New(failingStore{down}, sluice.Config{OnStoreError: sluice.FailClosed})
	d, err = closed.Allow(ctx, "k", limit)
	if !errors.Is(err, sluice.ErrStoreUnavailable) || !errors.Is(err, down) || d.Allowed || d.Reason != sluice.ReasonStoreError {
		t.Errorf("fail-closed: %+v, %v", d, err)
	}
	if _, _, err := closed.AllowAll(ctx, sluice.Request{Key: "a", Limit: limit, Cost: 1}); !errors.Is(err, sluice.ErrStoreUnavailable) {
		t.Errorf("fail-closed AllowAll: %v", err)
	}
	if _, _, err := closed.Acquire(ctx, "k", 1, time.Second); !errors.Is(err, sluice.ErrStoreUnavailable) {
		t.Errorf("fail-closed Acquire: %v", err)
	}

	local := sluice.New(failingStore{down}, sluice.Config{OnStoreError: sluice.FailLocal})
	defer local.Close()
	first, err1 := local.Allow(ctx, "login:alice", limit)
	second, err2 := local.Allow(ctx, "login:alice", limit)
	if err1 != nil || err2 != nil || !first.Allowed || second.Allowed || second.Reason != sluice.ReasonLocalFallback {
		t.Errorf("local fallback: %+v %v, then %+v %v; want the limit enforced locally", first, err1, second, err2)
	}
	_, each, err := local.AllowAll(ctx, sluice.Request{Key: "a", Limit: limit, Cost: 1}, sluice.Request{Key: "b", Limit: limit, Cost: 1})
	if err != nil || each[0].Reason != sluice.ReasonLocalFallback || !each[1].Allowed {
		t.Errorf("local fallback AllowAll: %+v, %v", each, err)
	}

	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := open.Allow(canceled, "k", limit); !errors.Is(err, context.Canceled) {
		t.Errorf("a caller who gave up gets its context's error even fail-open: %v", err)
	}
}

func TestTimeoutBoundsEachCall(t *testing.T) {
	lim := sluice.New(hangingStore{}, sluice.Config{Timeout: 20 * time.Millisecond})
	start := time.Now()
	d, err := lim.Allow(context.Background(), "k", sluice.MustParseLimit("1/s"))
	if err != nil || d.Reason != sluice.ReasonTimeout || !d.Allowed {
		t.Fatalf("hanging store: %+v, %v; want fail-open with reason timeout", d, err)
	}
	if waited := time.Since(start); waited > 5*time.Second {
		t.Fatalf("the call waited %s for a hanging store", waited)
	}
}

// hangingStore never answers before its context ends.
type hangingStore struct{ failingStore }

func (hangingStore) Take(ctx context.Context, _ string, _ algorithm.Limit, _ int64) (algorithm.Decision, error) {
	<-ctx.Done()
	return algorithm.Decision{}, ctx.Err()
}

func TestAllowAllIsAllOrNothing(t *testing.T) {
	lim, _, _ := newLimiter(t, sluice.Config{})
	ctx := context.Background()
	perUser := sluice.Request{Key: "user:alice", Limit: sluice.MustParseLimit("10/1m"), Cost: 1}
	perRoute := sluice.Request{Key: "route:/api/chat", Limit: sluice.MustParseLimit("2/1m"), Cost: 1}
	for i := range 2 {
		d, each, err := lim.AllowAll(ctx, perUser, perRoute)
		if err != nil || !d.Allowed || len(each) != 2 {
			t.Fatalf("call %d: %+v %v", i, d, err)
		}
		if d != each[1] {
			t.Fatalf("combined decision %+v is not the tighter limit's %+v", d, each[1])
		}
	}
	d, each, err := lim.AllowAll(ctx, perUser, perRoute)
	if err != nil || d.Allowed || each[1].Allowed || !each[0].Allowed {
		t.Fatalf("third call: %+v %+v %v", d, each, err)
	}
	if got, _ := lim.Peek(ctx, perUser.Key, perUser.Limit); got.Remaining != 8 {
		t.Fatalf("the per-user limit lost %d to a denied call", 8-got.Remaining)
	}
	// The route is now known blocked: the next check skips the store.
	d, each, _ = lim.AllowAll(ctx, perUser, perRoute)
	if d.Reason != sluice.ReasonCacheBlock || each[0].Reason != sluice.ReasonSkipped {
		t.Fatalf("blocked route: %+v %+v", d, each)
	}
}

func TestRefundNeverAboveTheLimit(t *testing.T) {
	lim, _, _ := newLimiter(t, sluice.Config{})
	ctx := context.Background()
	limit := sluice.MustParseLimit("1000/1m token_bucket")
	lim.AllowN(ctx, "llm:alice", limit, 800) // reserve 800 tokens
	d, err := lim.Refund(ctx, "llm:alice", limit, 500)
	if err != nil || d.Remaining != 700 {
		t.Fatalf("refund of 500: %+v %v; want 700 remaining", d, err)
	}
	if d, _ = lim.Refund(ctx, "llm:alice", limit, 5000); d.Remaining != 1000 {
		t.Fatalf("refund beyond the limit: %d remaining, want 1000", d.Remaining)
	}
}

func TestLeases(t *testing.T) {
	lim, _, clock := newLimiter(t, sluice.Config{})
	ctx := context.Background()
	a, d, err := lim.Acquire(ctx, "exports", 2, time.Minute)
	if err != nil || !d.Allowed || a == nil {
		t.Fatalf("first lease: %+v %v", d, err)
	}
	b, _, _ := lim.Acquire(ctx, "exports", 2, time.Minute)
	c, d, err := lim.Acquire(ctx, "exports", 2, time.Minute)
	if err != nil || d.Allowed || c != nil {
		t.Fatalf("third lease of 2: %+v %v", d, err)
	}
	if err := a.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.Release(ctx); err != nil {
		t.Fatalf("second release: %v", err)
	}
	if c, d, _ = lim.Acquire(ctx, "exports", 2, time.Minute); c == nil {
		t.Fatalf("lease after a release: %+v", d)
	}
	_ = b // b is never released: it expires.
	clock.Advance(time.Minute)
	if _, d, _ = lim.Acquire(ctx, "exports", 2, time.Minute); !d.Allowed || d.Remaining != 1 {
		t.Fatalf("after expiry: %+v", d)
	}

	mem := memory.New(memory.Config{})
	defer mem.Close()
	noLeases := sluice.New(struct{ store.Store }{mem}, sluice.Config{})
	if _, _, err := noLeases.Acquire(ctx, "k", 1, time.Second); !errors.Is(err, sluice.ErrLeasesUnsupported) {
		t.Fatalf("store without leases: %v", err)
	}
}

func TestConcurrentCallersAdmitExactlyTheLimit(t *testing.T) {
	lim := sluice.New(nil, sluice.Config{})
	defer lim.Close()
	limit := sluice.MustParseLimit("250/1h")
	var admitted atomic.Int64
	done := make(chan struct{})
	for range 25 {
		go func() {
			defer func() { done <- struct{}{} }()
			for range 40 {
				if d, err := lim.Allow(context.Background(), "hot", limit); err == nil && d.Allowed {
					admitted.Add(1)
				}
			}
		}()
	}
	for range 25 {
		<-done
	}
	if admitted.Load() != 250 {
		t.Fatalf("25 goroutines × 40 calls admitted %d of a limit of 250", admitted.Load())
	}
}

func TestKeyNeverCollides(t *testing.T) {
	pairs := [][2][]string{
		{{"a:b", "c"}, {"a", "b:c"}},
		{{"a\\", ":b"}, {"a\\:", "b"}},
		{{"", "a"}, {"a", ""}},
		{{"a"}, {"a", ""}},
	}
	for _, p := range pairs {
		if sluice.Key(p[0]...) == sluice.Key(p[1]...) {
			t.Errorf("Key(%q) == Key(%q)", p[0], p[1])
		}
	}
	if got := sluice.Key("login", "alice@example.com"); got != "login:alice@example.com" {
		t.Errorf("readable key: %q", got)
	}
}
