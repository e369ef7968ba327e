package redis

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/algorithm"
	"github.com/sluicehq/sluice/internal/servicetest"
)

// load runs concurrent decisions until stopped and sorts their outcomes
// by phase.
type load struct {
	mu     sync.Mutex
	phase  string
	stats  map[string]*phaseStats
	stop   chan struct{}
	once   sync.Once
	done   sync.WaitGroup
	maxGor atomic.Int64
}

type phaseStats struct {
	ok, timeouts, others int
	latencies            []time.Duration
	lastErr              error
}

func startLoad(s *Store, goroutines int, phase string) *load {
	l := &load{phase: phase, stats: map[string]*phaseStats{}, stop: make(chan struct{})}
	limit := algorithm.Limit{Requests: algorithm.MaxRequests, Window: time.Hour}
	for g := range goroutines {
		l.done.Add(1)
		go func() {
			defer l.done.Done()
			for i := 0; ; i++ {
				select {
				case <-l.stop:
					return
				default:
				}
				start := time.Now()
				_, err := s.Take(context.Background(), fmt.Sprintf("load:%d:%d", g, i%10), limit, 1)
				l.record(time.Since(start), err)
				if err != nil {
					time.Sleep(time.Millisecond) // a caller that failed does something else for a while
				}
			}
		}()
	}
	return l
}

func (l *load) record(d time.Duration, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := l.stats[l.phase]
	if st == nil {
		st = &phaseStats{}
		l.stats[l.phase] = st
	}
	st.latencies = append(st.latencies, d)
	switch {
	case err == nil:
		st.ok++
	case errors.Is(err, context.DeadlineExceeded):
		st.timeouts++
		st.lastErr = err
	default:
		st.others++
		st.lastErr = err
	}
	if n := int64(runtime.NumGoroutine()); n > l.maxGor.Load() {
		l.maxGor.Store(n)
	}
}

// next starts a new phase and returns the stats of the one that ended.
func (l *load) next(phase string) *phaseStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := l.stats[l.phase]
	if st == nil {
		st = &phaseStats{}
	}
	l.phase = phase
	return st
}

// succeeded reports how many calls of the current phase succeeded.
func (l *load) succeeded() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if st := l.stats[l.phase]; st != nil {
		return st.ok
	}
	return 0
}

// healthy waits until the current phase has seen a few hundred successes.
func (l *load) healthy(t *testing.T) {
	t.Helper()
	waitFor(t, 10*time.Second, "decisions succeed before the fault", func() bool { return l.succeeded() >= 300 })
}

func (l *load) end() {
	l.once.Do(func() { close(l.stop) })
	l.done.Wait()
}

func (st *phaseStats) quantile(q float64) time.Duration {
	if len(st.latencies) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), st.latencies...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[min(len(s)-1, int(q*float64(len(s))))]
}

func (st *phaseStats) String() string {
	return fmt.Sprintf("%d ok, %d timeouts, %d other errors, p50 %s, p99 %s, max %s, last error: %v",
		st.ok, st.timeouts, st.others, st.quantile(0.5), st.quantile(0.99), st.quantile(1), st.lastErr)
}

// waitFor polls cond until it holds or the time is up.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

const failureTimeout = 100 * time.Millisecond

// failureSlack is how late past its deadline a call may return on a loaded
// CI machine under the race detector (scheduling, not waiting on Redis).
const failureSlack = 400 * time.Millisecond

// TestRedisKilled kills Redis (SIGKILL) during concurrent decisions: they
// fail fast while it is gone, and succeed again, with the scripts reloaded,
// once a new Redis listens on the same port.
func TestRedisKilled(t *testing.T) {
	srv := servicetest.StartRedis(t)
	s, err := New(Config{URL: "redis://" + srv.Addr(), Prefix: testPrefix(t), Timeout: failureTimeout})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	base := runtime.NumGoroutine()
	ld := startLoad(s, 8, "healthy")
	defer ld.end()

	ld.healthy(t)
	healthy := ld.next("killing") // calls in flight now may fail either way
	srv.Kill()
	time.Sleep(50 * time.Millisecond)
	ld.next("down")
	time.Sleep(700 * time.Millisecond)
	down := ld.next("restarting")
	srv.Start()
	waitFor(t, 5*time.Second, "decisions succeed after the restart", func() bool { return s.Ping(context.Background()) == nil })
	ld.next("recovered")
	ld.healthy(t)
	recovered := ld.next("done")
	ld.end()

	t.Logf("healthy: %s", healthy)
	t.Logf("down: %s", down)
	t.Logf("recovered: %s", recovered)
	if healthy.ok == 0 || healthy.timeouts+healthy.others > 0 {
		t.Errorf("before the kill: %s", healthy)
	}
	if down.ok > 0 || down.timeouts+down.others == 0 {
		t.Errorf("while Redis is gone, decisions must fail: %s", down)
	}
	if down.others == 0 {
		t.Errorf("a refused connection is a store error, not a timeout: %s", down)
	}
	if max := down.quantile(1); max > failureTimeout+failureSlack {
		t.Errorf("while Redis is gone a call took %s, want fast failure (deadline %s)", max, failureTimeout)
	}
	if recovered.ok == 0 || recovered.timeouts+recovered.others > 0 {
		t.Errorf("after the restart: %s", recovered)
	}
	if n := ld.maxGor.Load(); n > int64(base)+200 {
		t.Errorf("goroutines piled up: %d, started with %d", n, base)
	}
}

// TestRedisHangs pauses Redis (SIGSTOP) during concurrent decisions: each
// call gives up at its deadline with an error wrapping
// context.DeadlineExceeded, nothing piles up, and all is well once Redis
// resumes (SIGCONT).
func TestRedisHangs(t *testing.T) {
	srv := servicetest.StartRedis(t)
	s, err := New(Config{URL: "redis://" + srv.Addr(), Prefix: testPrefix(t), Timeout: failureTimeout})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	base := runtime.NumGoroutine()
	ld := startLoad(s, 16, "healthy")
	defer ld.end()

	ld.healthy(t)
	healthy := ld.next("stopping")
	srv.Signal(syscall.SIGSTOP)
	time.Sleep(failureTimeout)
	ld.next("hung")
	time.Sleep(1500 * time.Millisecond)
	hung := ld.next("resuming")
	hungGor := runtime.NumGoroutine()
	srv.Signal(syscall.SIGCONT)
	waitFor(t, 5*time.Second, "decisions succeed after SIGCONT", func() bool { return s.Ping(context.Background()) == nil })
	ld.next("recovered")
	ld.healthy(t)
	recovered := ld.next("done")
	ld.end()

	t.Logf("healthy: %s", healthy)
	t.Logf("hung: %s (goroutines at the end: %d, at most %d, before %d)", hung, hungGor, ld.maxGor.Load(), base)
	t.Logf("recovered: %s", recovered)
	if healthy.ok == 0 || healthy.timeouts+healthy.others > 0 {
		t.Errorf("before SIGSTOP: %s", healthy)
	}
	if hung.ok > 0 || hung.timeouts == 0 {
		t.Errorf("while Redis hangs, decisions must time out: %s", hung)
	}
	if max := hung.quantile(1); max > failureTimeout+failureSlack {
		t.Errorf("while Redis hangs a call took %s, deadline %s", max, failureTimeout)
	}
	if recovered.ok == 0 || recovered.timeouts+recovered.others > 0 {
		t.Errorf("after SIGCONT: %s", recovered)
	}
	// 16 callers making at most one call per 100ms for 1.5s: calls that
	// gave up wait for their reply in a goroutine of rueidis until the
	// connection is dropped, so a few hundred at most.
	if n := ld.maxGor.Load(); n > int64(base)+600 {
		t.Errorf("goroutines piled up while Redis hung: %d, started with %d", n, base)
	}
}

// TestNewWithoutRedis: a store on a standalone Redis that does not answer
// yet is created, fails fast, and works once Redis is there.
func TestNewWithoutRedis(t *testing.T) {
	srv := servicetest.StartRedis(t)
	srv.Kill()
	s, err := New(Config{URL: "redis://" + srv.Addr(), Prefix: testPrefix(t), Timeout: failureTimeout})
	if err != nil {
		t.Fatalf("New with Redis down: %v", err)
	}
	defer s.Close()
	start := time.Now()
	if err := s.Ping(context.Background()); err == nil {
		t.Fatal("Ping with Redis down succeeded")
	}
	if _, err := s.Take(context.Background(), "k", algorithm.MustParseLimit("1/s"), 1); err == nil {
		t.Fatal("Take with Redis down succeeded")
	}
	if d := time.Since(start); d > 2*(failureTimeout+failureSlack) {
		t.Errorf("two calls with Redis down took %s", d)
	}
	srv.Start()
	waitFor(t, 5*time.Second, "Ping once Redis is up", func() bool { return s.Ping(context.Background()) == nil })
	if d, err := s.Take(context.Background(), "k", algorithm.MustParseLimit("1/s"), 1); err != nil || !d.Allowed {
		t.Fatalf("Take once Redis is up: %+v, %v", d, err)
	}
}
