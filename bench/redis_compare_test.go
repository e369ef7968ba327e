package bench

// Benchmarks of Sluice's Redis store side by side, in one run against the
// same local Redis, with github.com/go-redis/redis_rate/v10 (GCRA) and
// github.com/ulule/limiter/v3 (its Redis store), plus the ceilings of the
// client library: a bare rueidis EVALSHA of a script doing the same Redis
// work as a decision (TIME, GET, SET PX, an array of 7 integers back), of a
// script returning 1, and a PING (one bare round trip). Each runs with 1 and
// with 64 concurrent callers. Figures and the command are in
// docs/BENCHMARKS.md, section "Redis store".
//
// Redis is at $SLUICE_REDIS_ADDR (default 127.0.0.1:6379); the benchmarks
// are skipped when it does not answer. Each contender writes under its own
// prefix and deletes its keys afterwards.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-redis/redis_rate/v10"
	goredis "github.com/redis/go-redis/v9"
	"github.com/redis/rueidis"
	ulule "github.com/ulule/limiter/v3"
	ulredis "github.com/ulule/limiter/v3/drivers/store/redis"

	"github.com/sluicehq/sluice/algorithm"
	"github.com/sluicehq/sluice/store"
	sluiceredis "github.com/sluicehq/sluice/store/redis"
)

// redisKeys is how many keys the calls go round (all exist when measured).
const redisKeys = 1000

// redisContender is one limiter (or ceiling) under test: start returns a
// function deciding one call on a key, and a function that stops it and
// deletes its keys.
type redisContender struct {
	name  string
	start func(b *testing.B, addr, prefix string) (decide func(ctx context.Context, key string) error, stop func())
}

func redisAddrForBench() string {
	if a := os.Getenv("SLUICE_REDIS_ADDR"); a != "" {
		return a
	}
	return "127.0.0.1:6379"
}

func benchPrefix() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return "sluicebench-" + hex.EncodeToString(b[:])
}

// openGCRA is a GCRA limit nothing reaches within a run: the benchmarks
// measure allowed decisions on existing keys.
var openGCRA = algorithm.Limit{Algorithm: algorithm.GCRA, Requests: 1_000_000, Window: time.Second, Burst: 1 << 40}

func sluiceContender(name string, l algorithm.Limit) redisContender {
	return redisContender{name, func(b *testing.B, addr, prefix string) (func(context.Context, string) error, func()) {
		s, err := sluiceredis.New(sluiceredis.Config{URL: "redis://" + addr, Prefix: prefix, Timeout: time.Second})
		if err != nil {
			b.Fatal(err)
		}
		return func(ctx context.Context, key string) error {
				d, err := s.Take(ctx, key, l, 1)
				if err == nil && !d.Allowed {
					err = fmt.Errorf("denied: %+v", d)
				}
				return err
			}, func() {
				cleanPrefix(b, addr, prefix)
				s.Close()
			}
	}}
}

// sluiceTakeAll checks two limits (per user and per route) all-or-nothing.
func sluiceTakeAll() redisContender {
	return redisContender{"sluice_takeall_2_limits", func(b *testing.B, addr, prefix string) (func(context.Context, string) error, func()) {
		s, err := sluiceredis.New(sluiceredis.Config{URL: "redis://" + addr, Prefix: prefix, Timeout: time.Second})
		if err != nil {
			b.Fatal(err)
		}
		route := algorithm.Limit{Requests: 1 << 40, Window: time.Second}
		return func(ctx context.Context, key string) error {
				var out [2]algorithm.Decision
				ok, err := s.TakeAll(ctx, []store.Request{{Key: key, Limit: openGCRA, Cost: 1}, {Key: "route:/v1/items", Limit: route, Cost: 1}}, out[:])
				if err == nil && !ok {
					err = fmt.Errorf("denied: %+v", out)
				}
				return err
			}, func() {
				cleanPrefix(b, addr, prefix)
				s.Close()
			}
	}}
}

func redisRateContender() redisContender {
	return redisContender{"redis_rate_gcra", func(b *testing.B, addr, prefix string) (func(context.Context, string) error, func()) {
		rdb := goredis.NewClient(&goredis.Options{Addr: addr})
		lim := redis_rate.NewLimiter(rdb)
		limit := redis_rate.Limit{Rate: 1_000_000, Burst: 1 << 40, Period: time.Second}
		return func(ctx context.Context, key string) error {
				res, err := lim.Allow(ctx, prefix+":"+key, limit)
				if err == nil && res.Allowed == 0 {
					err = fmt.Errorf("denied: %+v", res)
				}
				return err
			}, func() {
				// redis_rate prefixes its keys with "rate:".
				cleanPrefix(b, addr, "rate:"+prefix)
				rdb.Close()
			}
	}}
}

func ululeContender() redisContender {
	return redisContender{"ulule_limiter", func(b *testing.B, addr, prefix string) (func(context.Context, string) error, func()) {
		rdb := goredis.NewClient(&goredis.Options{Addr: addr})
		st, err := ulredis.NewStoreWithOptions(rdb, ulule.StoreOptions{Prefix: prefix, MaxRetry: 3})
		if err != nil {
			b.Fatal(err)
		}
		lim := ulule.New(st, ulule.Rate{Period: time.Second, Limit: 1 << 40})
		return func(ctx context.Context, key string) error {
				res, err := lim.Get(ctx, key)
				if err == nil && res.Reached {
					err = fmt.Errorf("denied: %+v", res)
				}
				return err
			}, func() {
				cleanPrefix(b, addr, prefix)
				rdb.Close()
			}
	}}
}

// comparableScript does the Redis work of a decision and no arithmetic.
const comparableScript = `
local t = redis.call('TIME')
local v = redis.call('GET', KEYS[1])
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return {1, 2, 3, 4, 5, 6, 7}`

func rawContender(name, src string) redisContender {
	return redisContender{name, func(b *testing.B, addr, prefix string) (func(context.Context, string) error, func()) {
		c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr}, ForceSingleClient: true, DisableCache: true})
		if err != nil {
			b.Fatal(err)
		}
		script := rueidis.NewLuaScript(src)
		args := []string{"1:1750000000000000", "60000"}
		return func(ctx context.Context, key string) error {
				return script.Exec(ctx, c, []string{prefix + ":{" + key + "}:raw"}, args).Error()
			}, func() {
				cleanPrefix(b, addr, prefix)
				c.Close()
			}
	}}
}

func pingContender() redisContender {
	return redisContender{"raw_ping", func(b *testing.B, addr, prefix string) (func(context.Context, string) error, func()) {
		c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr}, ForceSingleClient: true, DisableCache: true})
		if err != nil {
			b.Fatal(err)
		}
		return func(ctx context.Context, key string) error {
			return c.Do(ctx, c.B().Ping().Build()).Error()
		}, c.Close
	}}
}

func redisContenders() []redisContender {
	return []redisContender{
		sluiceContender("sluice_gcra", openGCRA),
		sluiceContender("sluice_sliding_window", algorithm.Limit{Requests: 1 << 40, Window: time.Second}),
		sluiceTakeAll(),
		redisRateContender(),
		ululeContender(),
		rawContender("raw_evalsha_comparable", comparableScript),
		rawContender("raw_evalsha_return1", "return 1"),
		pingContender(),
	}
}

// BenchmarkRedis runs every contender with 1 and with 64 concurrent callers
// and reports decisions/s, the p50 and p99 latency of one call in µs, and
// allocations per call.
func BenchmarkRedis(b *testing.B) {
	addr := redisAddrForBench()
	probe, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr}, ForceSingleClient: true, DisableCache: true})
	if err == nil {
		err = probe.Do(context.Background(), probe.B().Ping().Build()).Error()
		probe.Close()
	}
	if err != nil {
		b.Skipf("no Redis at %s: %v", addr, err)
	}
	keys := make([]string, redisKeys)
	for i := range keys {
		keys[i] = fmt.Sprintf("user:%d", i)
	}
	for _, callers := range []int{1, 64} {
		for _, c := range redisContenders() {
			b.Run(fmt.Sprintf("callers=%d/%s", callers, c.name), func(b *testing.B) {
				decide, stop := c.start(b, addr, benchPrefix())
				defer stop()
				ctx := context.Background()
				for _, k := range keys { // every key exists before measuring
					if err := decide(ctx, k); err != nil {
						b.Fatal(err)
					}
				}
				runCallers(b, callers, keys, decide)
			})
		}
	}
}

// runCallers makes b.N calls from callers goroutines and reports the
// metrics.
func runCallers(b *testing.B, callers int, keys []string, decide func(context.Context, string) error) {
	ctx := context.Background()
	lat := make([][]time.Duration, callers)
	for i := range lat {
		lat[i] = make([]time.Duration, 0, b.N/callers+2)
	}
	var next atomic.Int64
	var failed atomic.Pointer[error]
	var wg sync.WaitGroup
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for g := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(b.N) {
					return
				}
				t0 := time.Now()
				err := decide(ctx, keys[i%int64(len(keys))])
				lat[g] = append(lat[g], time.Since(t0))
				if err != nil {
					failed.CompareAndSwap(nil, &err)
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if err := failed.Load(); err != nil {
		b.Fatal(*err)
	}
	all := slices.Concat(lat...)
	slices.Sort(all)
	q := func(p float64) float64 {
		return float64(all[min(len(all)-1, int(p*float64(len(all))))]) / float64(time.Microsecond)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "decisions/s")
	b.ReportMetric(q(0.50), "p50-µs")
	b.ReportMetric(q(0.99), "p99-µs")
}

// cleanPrefix deletes the keys under prefix.
func cleanPrefix(b *testing.B, addr, prefix string) {
	c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr}, ForceSingleClient: true, DisableCache: true})
	if err != nil {
		b.Error(err)
		return
	}
	defer c.Close()
	ctx := context.Background()
	for cursor := uint64(0); ; {
		e, err := c.Do(ctx, c.B().Scan().Cursor(cursor).Match(prefix+":*").Count(1000).Build()).AsScanEntry()
		if err != nil {
			b.Error(err)
			return
		}
		if len(e.Elements) > 0 {
			if err := c.Do(ctx, c.B().Unlink().Key(e.Elements...).Build()).Error(); err != nil {
				b.Error(err)
				return
			}
		}
		if cursor = e.Cursor; cursor == 0 {
			return
		}
	}
}
