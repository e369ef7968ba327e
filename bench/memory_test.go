package bench

// Benchmarks of the in-process memory store, side by side in one run with
// golang.org/x/time/rate (one rate.Limiter per key in a map behind a
// mutex, the common pattern) and github.com/sethvargo/go-limiter's
// memorystore. Figures and the command are in docs/BENCHMARKS.md.

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	limiter "github.com/sethvargo/go-limiter"
	"github.com/sethvargo/go-limiter/memorystore"
	"golang.org/x/time/rate"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/algorithm"
	"github.com/sluicehq/sluice/store/memory"
)

// allower decides one call of cost 1 on a key. Every limiter under test is
// wrapped in one, so that all pay the same interface call.
type allower interface {
	allow(key string) bool
}

// rates is a limit every contender can express: perSecond refilled each
// second, at most burst at once.
type rates struct{ perSecond, burst int64 }

var (
	// open never denies within a benchmark run: it measures the cost of
	// the bookkeeping, not of saying no.
	open = rates{perSecond: 1_000_000, burst: 1 << 40}
	// tight denies nearly every call on a hot key.
	tight = rates{perSecond: 10, burst: 10}
)

// contender is one limiter under test.
type contender struct {
	name string
	// start returns a fresh limiter of the given rates and a func that
	// stops it.
	start func(r rates) (allower, func())
}

// memoryMaxKeys lets the store hold a million keys without evicting any:
// Config.MaxKeys is a per-shard cap, and hashing fills shards unevenly.
const memoryMaxKeys = 4 << 20

func sluiceStore(alg algorithm.Algorithm) contender {
	return contender{"sluice_" + alg.String(), func(r rates) (allower, func()) {
		s := memory.New(memory.Config{MaxKeys: memoryMaxKeys})
		return storeAllower{s, limitFor(alg, r)}, func() { s.Close() }
	}}
}

func limitFor(alg algorithm.Algorithm, r rates) algorithm.Limit {
	if alg == algorithm.GCRA || alg == algorithm.TokenBucket {
		return algorithm.Limit{Requests: r.perSecond, Window: time.Second, Algorithm: alg, Burst: r.burst}
	}
	return algorithm.Limit{Requests: r.burst, Window: time.Second, Algorithm: alg}
}

type storeAllower struct {
	s *memory.Store
	l algorithm.Limit
}

func (a storeAllower) allow(key string) bool {
	d, _ := a.s.Take(context.Background(), key, a.l, 1)
	return d.Allowed
}

// sluiceLimiter is the public API: sluice.Limiter over the memory store.
var sluiceLimiter = contender{"sluice_Limiter_gcra", func(r rates) (allower, func()) {
	s := memory.New(memory.Config{MaxKeys: memoryMaxKeys})
	return limiterAllower{sluice.New(s, sluice.Config{}), limitFor(algorithm.GCRA, r)}, func() { s.Close() }
}}

type limiterAllower struct {
	l     *sluice.Limiter
	limit sluice.Limit
}

func (a limiterAllower) allow(key string) bool {
	d, _ := a.l.Allow(context.Background(), key, a.limit)
	return d.Allowed
}

var xTimeRate = contender{"x_time_rate", func(r rates) (allower, func()) {
	return &rateMap{m: map[string]*rate.Limiter{}, r: rate.Limit(r.perSecond), burst: int(r.burst)}, func() {}
}}

// rateMap is how x/time/rate is commonly used for many keys.
type rateMap struct {
	mu    sync.Mutex
	m     map[string]*rate.Limiter
	r     rate.Limit
	burst int
}

func (m *rateMap) allow(key string) bool {
	m.mu.Lock()
	l, ok := m.m[key]
	if !ok {
		l = rate.NewLimiter(m.r, m.burst)
		m.m[key] = l
	}
	m.mu.Unlock()
	return l.Allow()
}

var goLimiter = contender{"go-limiter", func(r rates) (allower, func()) {
	s, err := memorystore.New(&memorystore.Config{Tokens: uint64(r.burst), Interval: time.Second})
	if err != nil {
		panic(err) // it never fails; a benchmark cannot go on without it
	}
	return goLimiterAllower{s}, func() { s.Close(context.Background()) }
}}

type goLimiterAllower struct{ s limiter.Store }

func (a goLimiterAllower) allow(key string) bool {
	_, _, _, ok, _ := a.s.Take(context.Background(), key)
	return ok
}

var contenders = []contender{
	sluiceStore(algorithm.GCRA),
	sluiceStore(algorithm.TokenBucket),
	sluiceStore(algorithm.SlidingWindow),
	sluiceStore(algorithm.FixedWindow),
	sluiceLimiter,
	xTimeRate,
	goLimiter,
}

// keyset returns n distinct keys in a shuffled order, so that consecutive
// calls touch unrelated memory, as calls from many users do.
func keyset(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = "user:" + strconv.Itoa(i)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	rng.Shuffle(n, func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
	return keys
}

// BenchmarkAllow measures one allowed call on a key that exists, with one
// hot key, a thousand keys and a million keys, from one goroutine and from
// GOMAXPROCS goroutines.
func BenchmarkAllow(b *testing.B) {
	for _, n := range []int{1, 1000, 1_000_000} {
		b.Run(fmt.Sprintf("keys=%d", n), func(b *testing.B) {
			keys := keyset(n)
			limiters := make([]allower, len(contenders))
			for i, c := range contenders {
				a, stop := c.start(open)
				defer stop()
				for _, k := range keys { // every key exists before timing
					a.allow(k)
				}
				limiters[i] = a
			}
			runtime.GC()
			for _, mode := range []string{"serial", "parallel"} {
				b.Run(mode, func(b *testing.B) {
					for i, c := range contenders {
						b.Run(c.name, func(b *testing.B) { run(b, limiters[i], keys, mode == "parallel") })
					}
				})
			}
		})
	}
}

// BenchmarkDenied measures calls on one hot key whose allowance is spent:
// ten calls a second pass, the rest are denied.
func BenchmarkDenied(b *testing.B) {
	keys := []string{"user:hot"}
	for _, mode := range []string{"serial", "parallel"} {
		b.Run(mode, func(b *testing.B) {
			for _, c := range contenders {
				b.Run(c.name, func(b *testing.B) {
					a, stop := c.start(tight)
					defer stop()
					for range tight.burst + 1 {
						a.allow(keys[0])
					}
					run(b, a, keys, mode == "parallel")
				})
			}
		})
	}
}

// run calls a on keys in turn, b.N times in all.
func run(b *testing.B, a allower, keys []string, parallel bool) {
	b.ReportAllocs()
	if !parallel {
		i := 0
		for b.Loop() {
			a.allow(keys[i])
			if i++; i == len(keys) {
				i = 0
			}
		}
		return
	}
	var next atomic.Uint64
	b.RunParallel(func(pb *testing.PB) {
		i := int(next.Add(1)*104729) % len(keys) // goroutines start apart
		for pb.Next() {
			a.allow(keys[i])
			if i++; i == len(keys) {
				i = 0
			}
		}
	})
}

// idleKeys is how many keys BenchmarkIdleKeyMemory creates.
const idleKeys = 1_000_000

// BenchmarkIdleKeyMemory measures the live heap each idle key costs once a
// million keys were each called once: B/key, from runtime.ReadMemStats
// after a garbage collection. Every contender keeps its own copy of the key
// (the key strings are made fresh and dropped by the caller).
func BenchmarkIdleKeyMemory(b *testing.B) {
	for _, c := range []contender{
		sluiceStore(algorithm.GCRA),
		sluiceStore(algorithm.TokenBucket),
		sluiceStore(algorithm.SlidingWindow),
		sluiceStore(algorithm.FixedWindow),
		xTimeRate,
		goLimiter,
	} {
		b.Run(c.name, func(b *testing.B) {
			var perKey float64
			for range b.N {
				b.StopTimer()
				before := liveHeap()
				b.StartTimer()
				a, stop := c.start(open)
				for i := range idleKeys {
					a.allow("user:" + strconv.Itoa(i))
				}
				b.StopTimer()
				perKey += float64(liveHeap()-before) / idleKeys
				runtime.KeepAlive(a)
				stop()
				b.StartTimer()
			}
			b.ReportMetric(perKey/float64(b.N), "B/key")
		})
	}
}

// liveHeap returns the bytes of live heap objects.
func liveHeap() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}
