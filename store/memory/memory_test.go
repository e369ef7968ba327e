package memory_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sluicehq/sluice/algorithm"
	"github.com/sluicehq/sluice/store"
	"github.com/sluicehq/sluice/store/memory"
	"github.com/sluicehq/sluice/store/storetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, c *storetest.Clock) store.Store {
		s := memory.New(memory.Config{Now: c.Now})
		t.Cleanup(func() { s.Close() })
		return s
	})
}

// TestConformanceOneShard runs the suite with every key in one shard, so
// that different keys and algorithms share one table.
func TestConformanceOneShard(t *testing.T) {
	storetest.Run(t, func(t *testing.T, c *storetest.Clock) store.Store {
		s := memory.New(memory.Config{Now: c.Now, Shards: 1})
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func newStore(t *testing.T, c memory.Config) (*memory.Store, *storetest.Clock) {
	t.Helper()
	clock := storetest.NewClock(storetest.Epoch)
	if c.Now == nil {
		c.Now = clock.Now
	}
	s := memory.New(c)
	t.Cleanup(func() { s.Close() })
	return s, clock
}

var (
	ctx      = context.Background()
	limits   = []string{"100/1m fixed_window", "100/1m", "100/1m token_bucket", "100/1m gcra", "100/1m counter", "100/1d quota"}
	longGCRA = algorithm.MustParseLimit("10/1h gcra")
)

func take(t *testing.T, s *memory.Store, key string, l algorithm.Limit, cost int64) algorithm.Decision {
	t.Helper()
	d, err := s.Take(ctx, key, l, cost)
	if err != nil {
		t.Fatalf("Take(%q): %v", key, err)
	}
	return d
}

func TestTakeOnExistingKeyDoesNotAllocate(t *testing.T) {
	s, _ := newStore(t, memory.Config{})
	for _, text := range limits {
		l := algorithm.MustParseLimit(text)
		take(t, s, "existing", l, 1)
		allocs := testing.AllocsPerRun(1000, func() {
			if _, err := s.Take(ctx, "existing", l, 0); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Take(ctx, "existing", l, 1); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("%s: Take on an existing key allocates %.1f times, want 0", text, allocs)
		}
	}
}

func TestTakeAllDoesNotAllocate(t *testing.T) {
	s, _ := newStore(t, memory.Config{})
	var reqs []store.Request
	for i, text := range limits {
		reqs = append(reqs, store.Request{Key: "k" + strconv.Itoa(i), Limit: algorithm.MustParseLimit(text), Cost: 1})
	}
	reqs = append(reqs, reqs[0], reqs[1]) // 8 requests, two repeated
	out := make([]algorithm.Decision, len(reqs))
	if _, err := s.TakeAll(ctx, reqs, out); err != nil {
		t.Fatal(err)
	}
	if allocs := testing.AllocsPerRun(20, func() {
		if _, err := s.TakeAll(ctx, reqs, out); err != nil {
			t.Fatal(err)
		}
	}); allocs != 0 {
		t.Errorf("TakeAll of 8 requests on existing keys allocates %.1f times, want 0", allocs)
	}
}

func TestTakeAllAcrossManyShards(t *testing.T) {
	s, _ := newStore(t, memory.Config{Shards: 64})
	l := algorithm.MustParseLimit("3/1h fixed_window")
	var reqs []store.Request
	for i := range 40 {
		reqs = append(reqs, store.Request{Key: "k" + strconv.Itoa(i), Limit: l, Cost: 1})
	}
	out := make([]algorithm.Decision, len(reqs))
	for range 3 {
		if ok, err := s.TakeAll(ctx, reqs, out); !ok || err != nil {
			t.Fatalf("TakeAll of 40 keys: allowed %v, err %v", ok, err)
		}
	}
	take(t, s, "k0", l, 0)
	s.Reset(ctx, "k7")
	if ok, err := s.TakeAll(ctx, reqs, out); ok || err != nil {
		t.Fatalf("fourth TakeAll: allowed %v, err %v; want denied", ok, err)
	}
	for i, d := range out {
		if i == 7 {
			if !d.Allowed || d.Remaining != 3 || d.RetryAfter != 0 {
				t.Errorf("the reset key in a denied TakeAll: %+v, want a read with 3 remaining", d)
			}
		} else if d.Allowed || d.Reason != algorithm.ReasonRateLimited {
			t.Errorf("request %d: %+v, want denied", i, d)
		}
	}
	if d := take(t, s, "k7", l, 0); d.Remaining != 3 {
		t.Errorf("a denied TakeAll consumed: remaining %d, want 3", d.Remaining)
	}
}

func TestBadInputIsAnErrorNotAPanic(t *testing.T) {
	s, _ := newStore(t, memory.Config{})
	good := algorithm.MustParseLimit("1/1s")
	for _, l := range []algorithm.Limit{{}, {Requests: 1}, {Requests: 1, Window: time.Nanosecond}, {Requests: 1, Window: time.Second, Algorithm: 200}} {
		for _, a := range []algorithm.Algorithm{algorithm.TokenBucket, algorithm.GCRA, algorithm.FixedWindow, algorithm.SlidingWindow} {
			if l.Algorithm == 0 {
				l.Algorithm = a
			}
			if _, err := s.Take(ctx, "k", l, 1); !errors.Is(err, algorithm.ErrInvalidLimit) {
				t.Errorf("Take with limit %+v: err %v, want ErrInvalidLimit", l, err)
			}
			if _, err := s.Refund(ctx, "k", l, 1); !errors.Is(err, algorithm.ErrInvalidLimit) {
				t.Errorf("Refund with limit %+v: err %v, want ErrInvalidLimit", l, err)
			}
		}
	}
	if _, err := s.Take(ctx, "k", good, -1); err == nil {
		t.Error("Take with a negative cost: no error")
	}
	if _, err := s.TakeAll(ctx, []store.Request{{Key: "k", Limit: good, Cost: 1}}, nil); err == nil {
		t.Error("TakeAll with no room for decisions: no error")
	}
	if _, err := s.TakeAll(ctx, []store.Request{{Key: "k", Limit: good, Cost: -1}}, make([]algorithm.Decision, 1)); err == nil {
		t.Error("TakeAll with a negative cost: no error")
	}
	if ok, err := s.TakeAll(ctx, nil, nil); !ok || err != nil {
		t.Errorf("TakeAll of nothing: %v, %v; want allowed", ok, err)
	}
	for _, max := range []int64{0, -1} {
		if _, err := s.Acquire(ctx, "k", "id", max, time.Second); err == nil {
			t.Errorf("Acquire with max %d: no error", max)
		}
	}
	if _, err := s.Acquire(ctx, "k", "id", 1, 0); err == nil {
		t.Error("Acquire with ttl 0: no error")
	}
}

func TestClose(t *testing.T) {
	s := memory.New(memory.Config{})
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping of an open store: %v", err)
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.Ping(canceled); !errors.Is(err, context.Canceled) {
		t.Fatalf("Ping with a canceled context: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	l := algorithm.MustParseLimit("1/1s")
	if err := s.Ping(ctx); !errors.Is(err, memory.ErrClosed) {
		t.Errorf("Ping after Close: %v, want ErrClosed", err)
	}
	if _, err := s.Take(ctx, "k", l, 1); !errors.Is(err, memory.ErrClosed) {
		t.Errorf("Take after Close: %v, want ErrClosed", err)
	}
	if _, err := s.TakeAll(ctx, nil, nil); !errors.Is(err, memory.ErrClosed) {
		t.Errorf("TakeAll after Close: %v, want ErrClosed", err)
	}
	if err := s.Reset(ctx, "k"); !errors.Is(err, memory.ErrClosed) {
		t.Errorf("Reset after Close: %v, want ErrClosed", err)
	}
	if _, err := s.Acquire(ctx, "k", "a", 1, time.Second); !errors.Is(err, memory.ErrClosed) {
		t.Errorf("Acquire after Close: %v, want ErrClosed", err)
	}
}

func TestFloodOfUniqueKeysIsBoundedAndCounted(t *testing.T) {
	const maxKeys, flood = 1024, 50_000
	s, _ := newStore(t, memory.Config{MaxKeys: maxKeys, Shards: 16, SweepInterval: -1})
	for i := range flood {
		if d := take(t, s, "attacker:"+strconv.Itoa(i), longGCRA, 1); !d.Allowed {
			t.Fatalf("first call of a new key denied: %+v", d)
		}
	}
	st := s.Stats()
	if st.MaxKeys != maxKeys || st.Keys > maxKeys {
		t.Fatalf("after %d unique keys: %+v; want at most %d keys", flood, st, maxKeys)
	}
	if st.Evictions < flood-maxKeys {
		t.Fatalf("evictions %d, want at least %d: every unexpired key dropped is counted", st.Evictions, flood-maxKeys)
	}
	if st.Keys < maxKeys*3/4 {
		t.Errorf("only %d keys held of %d: eviction drops too much", st.Keys, maxKeys)
	}
}

func TestEvictionPrefersExpiredKeys(t *testing.T) {
	const maxKeys = 256
	s, clock := newStore(t, memory.Config{MaxKeys: maxKeys, Shards: 4, SweepInterval: -1})
	short := algorithm.MustParseLimit("10/1s fixed_window")
	for i := range maxKeys {
		take(t, s, "old:"+strconv.Itoa(i), short, 1)
	}
	before := s.Stats() // shards are filled unevenly: some evicted already
	clock.Advance(time.Hour)
	// Eviction samples 5 entries: while at most a quarter of a shard is
	// unexpired, it evicts one of those with a chance below 0.1%.
	for i := range maxKeys / 4 {
		take(t, s, "new:"+strconv.Itoa(i), longGCRA, 1)
	}
	st := s.Stats()
	st.Evictions -= before.Evictions
	if st.Evictions > 2 {
		t.Errorf("%d unexpired keys evicted while expired ones were there: %+v", st.Evictions, st)
	}
	for i := range maxKeys / 4 {
		if d := take(t, s, "new:"+strconv.Itoa(i), longGCRA, 0); d.Remaining != 9 && st.Evictions == 0 {
			t.Fatalf("new:%d lost its state: %+v", i, d)
		}
	}
}

func TestLazyExpiry(t *testing.T) {
	s, clock := newStore(t, memory.Config{SweepInterval: -1})
	for i, text := range limits {
		take(t, s, "k", algorithm.MustParseLimit(text), int64(i+1))
	}
	if st := s.Stats(); st.Keys != len(limits) {
		t.Fatalf("keys %d, want %d", st.Keys, len(limits))
	}
	clock.Advance(48 * time.Hour)
	for _, text := range limits {
		if d := take(t, s, "k", algorithm.MustParseLimit(text), 0); d.Remaining != 100 {
			t.Fatalf("%s after expiry: %+v", text, d)
		}
	}
	if st := s.Stats(); st.Keys != 0 || st.Expired != uint64(len(limits)) {
		t.Fatalf("after reading expired keys: %+v, want none left and %d expired", st, len(limits))
	}
}

func TestJanitorDeletesIdleKeys(t *testing.T) {
	s, clock := newStore(t, memory.Config{SweepInterval: time.Millisecond, Shards: 2})
	const n = 5000 // several sweep batches per shard
	for i := range n {
		take(t, s, "idle:"+strconv.Itoa(i), algorithm.MustParseLimit("5/1s"), 1)
	}
	if _, err := s.Acquire(ctx, "jobs", "a", 1, time.Second); err != nil {
		t.Fatal(err)
	}
	keep := algorithm.MustParseLimit("5/1h gcra")
	take(t, s, "busy", keep, 1)
	clock.Advance(3 * time.Second)
	deadline := time.Now().Add(5 * time.Second)
	for {
		st := s.Stats()
		if st.Keys == 1 && st.LeaseKeys == 0 {
			if st.Expired != n+1 || st.Evictions != 0 {
				t.Errorf("stats after sweeping: %+v, want %d expired", st, n+1)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the janitor left %+v, want only the busy key", st)
		}
		time.Sleep(time.Millisecond)
	}
	if d := take(t, s, "busy", keep, 0); d.Remaining != 4 {
		t.Fatalf("the janitor touched a live key: %+v", d)
	}
	// The store is usable after its tables shrank.
	for i := range n {
		take(t, s, "again:"+strconv.Itoa(i), keep, 1)
	}
	if st := s.Stats(); st.Keys != n+1 {
		t.Fatalf("keys %d, want %d", st.Keys, n+1)
	}
}

func TestResetDropsLeases(t *testing.T) {
	s, _ := newStore(t, memory.Config{})
	if d, _ := s.Acquire(ctx, "jobs", "a", 1, time.Minute); !d.Allowed {
		t.Fatal("first lease denied")
	}
	if d, _ := s.Acquire(ctx, "jobs", "b", 1, time.Minute); d.Allowed {
		t.Fatal("second lease over a max of 1 allowed")
	}
	if d, _ := s.Acquire(ctx, "jobs", "a", 1, time.Minute); !d.Allowed || d.Remaining != 0 || d.Reset != time.Minute {
		t.Fatalf("renewing a held lease: %+v", d)
	}
	s.Reset(ctx, "jobs")
	if d, _ := s.Acquire(ctx, "jobs", "b", 1, time.Minute); !d.Allowed {
		t.Fatal("lease after Reset denied")
	}
	s.Release(ctx, "jobs", "b")
	if st := s.Stats(); st.LeaseKeys != 0 {
		t.Fatalf("a key with no leases left is kept: %+v", st)
	}
}

func TestLeaseKeysCountTowardMaxKeys(t *testing.T) {
	s, _ := newStore(t, memory.Config{MaxKeys: 64, Shards: 1, SweepInterval: -1})
	for i := range 1000 {
		if d, err := s.Acquire(ctx, "pool:"+strconv.Itoa(i), "a", 1, time.Minute); err != nil || !d.Allowed {
			t.Fatalf("Acquire: %+v, %v", d, err)
		}
	}
	if st := s.Stats(); st.LeaseKeys != 64 || st.Evictions != 1000-64 {
		t.Fatalf("after 1000 lease keys: %+v, want 64 held and 936 evicted", st)
	}
	for i := range 1000 {
		take(t, s, "rate:"+strconv.Itoa(i), longGCRA, 1)
	}
	if st := s.Stats(); st.Keys+st.LeaseKeys > 64 {
		t.Fatalf("states and leases together exceed MaxKeys: %+v", st)
	}
}

func TestConcurrentExactnessAcrossKeys(t *testing.T) {
	const goroutines, calls, keys, limit = 8, 2000, 50, 100
	s, _ := newStore(t, memory.Config{Shards: 4})
	for _, text := range []string{"100/1h fixed_window", "100/1h", "100/1h token_bucket", "100/1h gcra", "100/1h counter", "100/month"} {
		l := algorithm.MustParseLimit(text)
		admitted := make([][keys]int, goroutines)
		var wg sync.WaitGroup
		for g := range goroutines {
			wg.Go(func() {
				for i := range calls {
					k := (i*7 + g) % keys
					d, err := s.Take(ctx, "c:"+strconv.Itoa(k), l, 1)
					if err != nil {
						t.Error(err)
						return
					}
					if d.Allowed {
						admitted[g][k]++
					}
				}
			})
		}
		wg.Wait()
		for k := range keys {
			sum := 0
			for g := range goroutines {
				sum += admitted[g][k]
			}
			if sum != limit {
				t.Fatalf("%s: key %d admitted %d, want exactly %d", text, k, sum, limit)
			}
		}
	}
}

func TestConfigDefaults(t *testing.T) {
	for _, c := range []struct {
		cfg  memory.Config
		want int
	}{
		{memory.Config{}, memory.DefaultMaxKeys},
		{memory.Config{MaxKeys: -5}, memory.DefaultMaxKeys},
		{memory.Config{MaxKeys: 1000, Shards: 3}, 1000}, // 4 shards of 250
		{memory.Config{MaxKeys: 1000, Shards: 16}, 992}, // 16 shards of 62
		{memory.Config{MaxKeys: 3, Shards: 64}, 2},      // 2 shards of 1
		{memory.Config{MaxKeys: 1, Shards: 1 << 30}, 1}, // 1 shard
		{memory.Config{MaxKeys: 1 << 20, Shards: 1 << 30}, 1 << 20},
	} {
		t.Run(fmt.Sprintf("%+v", c.cfg), func(t *testing.T) {
			c.cfg.SweepInterval = -1
			s := memory.New(c.cfg)
			defer s.Close()
			if got := s.Stats().MaxKeys; got != c.want {
				t.Errorf("MaxKeys %d, want %d", got, c.want)
			}
			for i := range 10 {
				take(t, s, strconv.Itoa(i), longGCRA, 1)
			}
			if got := s.Stats().Keys; got > c.want {
				t.Errorf("%d keys held, more than %d", got, c.want)
			}
		})
	}
}
