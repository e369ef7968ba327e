package redis

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/sluicehq/sluice/algorithm"
	"github.com/sluicehq/sluice/internal/servicetest"
	"github.com/sluicehq/sluice/store"
)

// TestScriptFlush flushes Redis's script cache again and again during
// concurrent decisions (as a restart or failover would lose it): no error
// surfaces and the limit still admits exactly its allowance.
func TestScriptFlush(t *testing.T) {
	for _, deployment := range []struct {
		name   string
		client func(testing.TB) rueidis.Client
	}{{"standalone", standaloneClient}, {"cluster", clusterClient}} {
		t.Run(deployment.name, func(t *testing.T) {
			client := deployment.client(t)
			s := newTestStore(t, client, Config{})
			ctx := context.Background()
			limit := algorithm.MustParseLimit("500/1h")
			pair := []algorithm.Limit{algorithm.MustParseLimit("1000/1h gcra"), algorithm.MustParseLimit("300/1h fixed_window")}
			stop := make(chan struct{})
			var flushes atomic.Int64
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					case <-time.After(2 * time.Millisecond):
					}
					for _, node := range client.Nodes() {
						if err := node.Do(ctx, node.B().ScriptFlush().Build()).Error(); err != nil {
							t.Error(err)
							return
						}
					}
					flushes.Add(1)
				}
			}()
			var admitted, admittedAll atomic.Int64
			var callers sync.WaitGroup
			for range 8 {
				callers.Add(1)
				go func() {
					defer callers.Done()
					out := make([]algorithm.Decision, 2)
					for range 100 {
						d, err := s.Take(ctx, "flush", limit, 1)
						if err != nil {
							t.Error(err)
							return
						}
						if d.Allowed {
							admitted.Add(1)
						}
						ok, err := s.TakeAll(ctx, []store.Request{{Key: "a", Limit: pair[0], Cost: 1}, {Key: "b", Limit: pair[1], Cost: 1}}, out)
						if err != nil {
							t.Error(err)
							return
						}
						if ok {
							admittedAll.Add(1)
						}
					}
				}()
			}
			callers.Wait()
			close(stop)
			wg.Wait()
			t.Logf("%d script flushes during 1600 decisions", flushes.Load())
			if admitted.Load() != 500 || admittedAll.Load() != 300 {
				t.Errorf("admitted %d of 800 against 500/1h and %d of 800 against 300/1h, want exactly 500 and 300", admitted.Load(), admittedAll.Load())
			}
			if flushes.Load() < 2 {
				t.Errorf("only %d flushes happened: the test did not test", flushes.Load())
			}
		})
	}
}

// TestPingLoadsScript: Ping runs the decision script, so it loads it into a
// Redis that lost it.
func TestPingLoadsScript(t *testing.T) {
	client := standaloneClient(t)
	s := newTestStore(t, client, Config{})
	ctx := context.Background()
	if err := client.Do(ctx, client.B().ScriptFlush().Build()).Error(); err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	exists, err := client.Do(ctx, client.B().ScriptExists().Sha1(s.scripts.take1[algorithm.SlidingWindow].sha).Build()).AsIntSlice()
	if err != nil || len(exists) != 1 || exists[0] != 1 {
		t.Fatalf("after Ping the decision script is not loaded: %v, %v", exists, err)
	}
	keys, err := servicetest.RedisPrefixKeys(client, s.prefix[:len(s.prefix)-2])
	if err != nil || len(keys) != 0 {
		t.Fatalf("Ping wrote keys %v (%v): it must only read", keys, err)
	}
}

// TestTTL: with Redis's own clock, every key the store writes expires when
// its state stops mattering (Result.ExpireAt), rounded up to the
// millisecond; refunding a key to empty deletes it.
func TestTTL(t *testing.T) {
	client := standaloneClient(t)
	s := newTestStore(t, client, Config{})
	ctx := context.Background()
	limits := map[string]time.Duration{ // limit: the longest TTL after one call
		"5/10s fixed_window":       10 * time.Second,
		"5/10s":                    20 * time.Second, // the current window, then as the previous one
		"5/10s token_bucket":       2 * time.Second,  // one token refills in 10s/5
		"5/10s gcra":               2 * time.Second,
		"5/10s counter":            10 * time.Second,
		"5/1d quota":               24 * time.Hour,
		"5/1d quota tz=Asia/Tokyo": 25 * time.Hour,
	}
	for text, longest := range limits {
		l := algorithm.MustParseLimit(text)
		if _, err := s.Take(ctx, "ttl", l, 1); err != nil {
			t.Fatal(err)
		}
		k := s.key("ttl", suffix(l.Algorithm))
		ttl, err := client.Do(ctx, client.B().Pttl().Key(k).Build()).AsInt64()
		if err != nil {
			t.Fatal(err)
		}
		if ttl <= 0 || time.Duration(ttl)*time.Millisecond > longest {
			t.Errorf("%s: PTTL %dms, want in (0, %s]", text, ttl, longest)
		}
		if _, err := s.Refund(ctx, "ttl", l, 1); err != nil {
			t.Fatal(err)
		}
		n, err := client.Do(ctx, client.B().Exists().Key(k).Build()).AsInt64()
		if err != nil || n != 0 {
			t.Errorf("%s: the key refunded to empty still exists (%d, %v)", text, n, err)
		}
	}
	if _, err := s.Acquire(ctx, "ttl", "job-1", 3, 90*time.Second); err != nil {
		t.Fatal(err)
	}
	k := s.key("ttl", "}:"+leaseSuffix)
	if ttl, err := client.Do(ctx, client.B().Pttl().Key(k).Build()).AsInt64(); err != nil || ttl <= 0 || ttl > 90_000 {
		t.Errorf("lease key PTTL %dms (%v), want in (0, 90000]", ttl, err)
	}
	if err := s.Release(ctx, "ttl", "job-1"); err != nil {
		t.Fatal(err)
	}
	if n, err := client.Do(ctx, client.B().Exists().Key(k).Build()).AsInt64(); err != nil || n != 0 {
		t.Errorf("lease key with no lease left still exists (%d, %v)", n, err)
	}
}

// TestClockSkew: a quota whose periods, computed on this host's clock, do
// not hold Redis's time fails with ErrClockSkew instead of deciding wrong.
func TestClockSkew(t *testing.T) {
	client := standaloneClient(t)
	s := newTestStore(t, client, Config{})
	l := algorithm.MustParseLimit("5/1d quota")
	var a argBuf
	a = a.str("") // Redis TIME
	a = a.int(0)
	a = a.str("0")
	a = a.limit(l, time.Now().Add(-72*time.Hour).UnixMicro()) // this host 3 days behind
	a = a.int(1)
	calls := []call{{script: s.scripts.take1[algorithm.Quota], keys: []string{s.key("skew", suffix(l.Algorithm))}, args: a.strings(nil)}}
	s.run.run(context.Background(), calls)
	if err := fail(context.Background(), "take", calls[0].err); !errors.Is(err, ErrClockSkew) {
		t.Fatalf("quota with periods 3 days off: %v, want ErrClockSkew", err)
	}
}
