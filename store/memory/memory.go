// Package memory is the in-process counter store: the embedded default of
// Sluice, for a single process.
//
// # Sharding
//
// The store is split into shards, each with its own mutex, so that calls on
// different keys rarely wait for each other. A key's shard is chosen by its
// hash (hash/maphash, with a seed drawn for each store, so that no one can
// predict which keys share a shard). Every call locks exactly the shards of
// the keys it names; TakeAll locks them in ascending order, so two calls
// never deadlock.
//
// Each shard is a small open-addressing hash table whose entries hold the
// key, its algorithm.State, the algorithm and an expiry, with no other
// pointer than the key's: about 94 bytes per key of up to 16 bytes, in all
// (see docs/BENCHMARKS.md). A key used under two algorithms holds two
// independent entries.
//
// # Expiry
//
// Every state carries the instant after which a fresh state decides the
// same (algorithm.Result.ExpireAt). An expired entry is treated as absent
// when it is next touched and deleted then, and a janitor goroutine sweeps
// the shards every Config.SweepInterval for keys nobody touches again.
// Close stops the janitor.
//
// # Time
//
// A call reads the clock before it locks its shard, as x/time/rate does, so
// that the lock is held only for the arithmetic. Two calls on one key may
// thus be decided in the other order than their clock readings, a few
// microseconds apart; the algorithms accept a time older than the state's
// (they treat it as a clock that stepped back) and never admit more for it,
// except that token_bucket and counter may count that much less of the
// elapsed time. The system clock is read as the monotonic clock plus the
// wall clock's offset, measured again every second.
//
// # Memory cap and eviction
//
// A flood of unique keys, such as an attacker rotating identities, must not
// exhaust memory. Each shard holds at most MaxKeys/Shards keys. A new key
// arriving at a full shard evicts one: the shard samples a few entries at
// random and drops an expired one if it finds any, else the one whose state
// expires soonest (the least valuable to keep). This costs O(1), happens
// under the one shard's lock, and never blocks the rest of the store.
// Evicting a state that had not expired forgets allowance that was used, so
// it may let a caller through early: such evictions are counted in
// Stats.Evictions, and a store that reports many needs a higher MaxKeys.
package memory

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"math/bits"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/sluicehq/sluice/algorithm"
	"github.com/sluicehq/sluice/store"
)

// The interfaces the Store implements.
var (
	_ store.Store  = (*Store)(nil)
	_ store.Leaser = (*Store)(nil)
	_ store.Pinger = (*Store)(nil)
)

// Defaults and bounds of Config.
const (
	// DefaultMaxKeys is the MaxKeys of a zero Config: about 100 MB of keys
	// of up to 16 bytes.
	DefaultMaxKeys = 1 << 20
	// DefaultShards is the Shards of a zero Config.
	DefaultShards = 256
	// MaxShards is the largest number of shards; larger values are lowered
	// to it.
	MaxShards = 1 << 16
	// DefaultSweepInterval is the SweepInterval of a zero Config.
	DefaultSweepInterval = 30 * time.Second
)

// ErrClosed is returned by every method of a Store after Close.
var ErrClosed = errors.New("memory: store is closed")

// Config configures a Store. The zero Config is ready to use; New
// normalizes every value out of range as described on each field, so New
// never fails.
type Config struct {
	// MaxKeys is the most keys the store holds, counting each (key,
	// algorithm) state and each key holding concurrency leases as one. A
	// new key beyond it evicts another (see the package documentation).
	// Zero or less means DefaultMaxKeys. Each shard holds MaxKeys/Shards
	// keys (at least one), so eviction may begin in one shard a little
	// before the store as a whole is full.
	MaxKeys int
	// Shards is the number of independently locked parts of the store.
	// Zero or less means DefaultShards; other values are rounded up to a
	// power of two, lowered to MaxShards, and lowered further so that no
	// shard holds less than one key.
	Shards int
	// Now is the clock; nil means the system clock, read cheaply (see
	// Time in the package documentation). Tests pass a fake clock.
	Now func() time.Time
	// SweepInterval is how often the janitor deletes expired keys that
	// nobody touched again. Zero means DefaultSweepInterval; a negative
	// value disables the janitor, leaving expiry to lazy deletion and
	// eviction.
	SweepInterval time.Duration
}

// normalize returns c with every value in range.
func (c Config) normalize() Config {
	if c.MaxKeys <= 0 {
		c.MaxKeys = DefaultMaxKeys
	}
	if c.Shards <= 0 {
		c.Shards = DefaultShards
	}
	c.Shards = min(c.Shards, MaxShards)
	c.Shards = 1 << bits.Len(uint(c.Shards-1)) // round up to a power of two
	for c.Shards > c.MaxKeys {
		c.Shards /= 2
	}
	if c.SweepInterval == 0 {
		c.SweepInterval = DefaultSweepInterval
	}
	return c
}

// Stats are counts that describe a Store, for metrics.
type Stats struct {
	// Keys is the number of (key, algorithm) states held.
	Keys int
	// LeaseKeys is the number of keys holding concurrency leases.
	LeaseKeys int
	// MaxKeys is the most keys the store holds (Config.MaxKeys after
	// normalization, rounded down to a multiple of the shard count).
	MaxKeys int
	// Evictions counts states and lease sets dropped to make room before
	// they expired. Each may have let a caller through early.
	Evictions uint64
	// Expired counts expired states and lease sets deleted, lazily, by
	// eviction or by the janitor.
	Expired uint64
}

// shardData is one shard: a lock and what it guards.
type shardData struct {
	mu        sync.Mutex
	states    table
	leases    map[string][]lease
	evictions uint64
	expired   uint64
}

// shard pads shardData to a multiple of 128 bytes, so that two shards'
// locks never share a cache line (nor a pair of adjacent lines, which some
// CPUs fetch together).
type shard struct {
	shardData
	_ [128 - unsafe.Sizeof(shardData{})%128]byte
}

// Store is the in-process store. Its methods are safe for concurrent use.
// Create one with New and stop it with Close.
type Store struct {
	shards    []shard
	shift     uint // a key's shard is its hash >> shift
	perShard  int  // keys each shard holds at most
	seed      maphash.Seed
	clock     *clock
	closed    atomic.Bool
	stop      chan struct{}
	closeOnce sync.Once
	done      sync.WaitGroup // the goroutine has returned
}

// New returns a store configured by c (see Config for the defaults) and
// starts its goroutine, which sweeps expired keys and keeps the clock in
// step with the wall clock; Close stops it.
func New(c Config) *Store {
	c = c.normalize()
	s := &Store{
		shards:   make([]shard, c.Shards),
		shift:    uint(64 - bits.TrailingZeros(uint(c.Shards))),
		perShard: c.MaxKeys / c.Shards,
		seed:     maphash.MakeSeed(),
		clock:    newClock(c.Now),
		stop:     make(chan struct{}),
	}
	if c.SweepInterval > 0 || c.Now == nil {
		s.done.Add(1)
		go s.run(c.SweepInterval)
	}
	return s
}

// Close stops the store's goroutine and makes every later call fail with ErrClosed.
// It is safe to call more than once and always returns nil.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		close(s.stop)
		s.done.Wait()
	})
	return nil
}

// Ping reports whether the store can decide: nil until Close, then
// ErrClosed.
func (s *Store) Ping(ctx context.Context) error {
	return s.check(ctx)
}

// check returns why a call cannot proceed, or nil. It does not allocate
// unless it fails.
func (s *Store) check(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memory: %w", err)
	}
	if s.closed.Load() {
		return ErrClosed
	}
	return nil
}

// checkCall is check plus the guards that keep a malformed limit or cost
// from reaching the arithmetic, which would divide by zero. Callers are
// expected to pass limits that passed Limit.Validate (see store.Store);
// these guards only make sure a mistake is an error and not a panic.
func (s *Store) checkCall(ctx context.Context, l algorithm.Limit, cost int64) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	return checkRequest(l, cost)
}

// checkRequest is the part of checkCall about the limit and the cost.
func checkRequest(l algorithm.Limit, cost int64) error {
	if l.Requests < 1 || (l.Window < time.Microsecond && l.Algorithm != algorithm.Quota) || !l.Algorithm.Valid() {
		return fmt.Errorf("memory: %w: %d per %s", algorithm.ErrInvalidLimit, l.Requests, l.Window)
	}
	if cost < 0 {
		return fmt.Errorf("memory: cost must not be negative, got %d", cost)
	}
	return nil
}

func (s *Store) hash(key string) uint64 { return maphash.String(s.seed, key) }

func (s *Store) shardOf(h uint64) *shard { return &s.shards[s.shardIndex(h)] }

func (s *Store) nowMicros() int64 { return s.clock.micros() }

// Take applies a call of the given cost to key under limit (see
// store.Store). On a key that exists it does not allocate.
func (s *Store) Take(ctx context.Context, key string, limit algorithm.Limit, cost int64) (algorithm.Decision, error) {
	if err := s.checkCall(ctx, limit, cost); err != nil {
		return algorithm.Decision{}, err
	}
	h, now := s.hash(key), s.nowMicros()
	sh := s.shardOf(h)
	sh.mu.Lock()
	i, st := sh.lookup(key, limit.Algorithm, uint32(h), now)
	var r algorithm.Result
	algorithm.ApplyTo(&r, &limit, st, now, cost)
	if r.Commit && i >= 0 && r.ExpireAt > now { // the common case, inlined
		e := &sh.states.entries[i]
		e.state, e.expireAt = r.State, r.ExpireAt
	} else {
		sh.store(s, i, key, limit.Algorithm, uint32(h), r, now)
	}
	sh.mu.Unlock()
	return r.Decision, nil
}

// Refund gives back amount of allowance to key under limit, never above
// the limit, and returns the key's decision as a read afterwards.
func (s *Store) Refund(ctx context.Context, key string, limit algorithm.Limit, amount int64) (algorithm.Decision, error) {
	if err := s.checkCall(ctx, limit, 0); err != nil {
		return algorithm.Decision{}, err
	}
	h, now := s.hash(key), s.nowMicros()
	sh := s.shardOf(h)
	sh.mu.Lock()
	i, st := sh.lookup(key, limit.Algorithm, uint32(h), now)
	r := algorithm.Refund(limit, st, now, amount)
	sh.store(s, i, key, limit.Algorithm, uint32(h), r, now)
	sh.mu.Unlock()
	return r.Decision, nil
}

// Reset forgets the state of key under every algorithm, and its
// concurrency leases.
func (s *Store) Reset(ctx context.Context, key string) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	h := s.hash(key)
	sh := s.shardOf(h)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	for a := algorithm.Algorithm(0); a.Valid(); a++ {
		if i := sh.states.find(key, a, uint32(h)); i >= 0 {
			sh.states.remove(i)
		}
	}
	delete(sh.leases, key)
	return nil
}

// lookup returns the position of key under alg (or -1) and its state at
// now: the zero State if the key is absent or expired.
func (sh *shard) lookup(key string, alg algorithm.Algorithm, h uint32, now int64) (int, algorithm.State) {
	i := sh.states.find(key, alg, h)
	if i < 0 || sh.states.entries[i].expireAt <= now {
		return i, algorithm.State{}
	}
	return i, sh.states.entries[i].state
}

// store writes the result r for key under alg, found at position i (or
// -1): the new state if r.Commit, and deletes an entry that has expired.
func (sh *shard) store(s *Store, i int, key string, alg algorithm.Algorithm, h uint32, r algorithm.Result, now int64) {
	switch {
	case r.Commit && r.ExpireAt > now:
		if i >= 0 {
			e := &sh.states.entries[i]
			e.state, e.expireAt = r.State, r.ExpireAt
			return
		}
		sh.makeRoom(s, now)
		sh.states.insert(strings.Clone(key), alg, h, r.State, r.ExpireAt)
	case i >= 0 && (r.Commit || sh.states.entries[i].expireAt <= now):
		// Committed but already expired (nothing to keep), or found expired.
		sh.states.remove(i)
		sh.expired++
	}
}

// makeRoom evicts one key if the shard is full.
func (sh *shard) makeRoom(s *Store, now int64) {
	if len(sh.states.entries)+len(sh.leases) < s.perShard {
		return
	}
	if len(sh.states.entries) == 0 {
		sh.evictLeases(now)
		return
	}
	i := sh.states.victim(now)
	if sh.states.entries[i].expireAt > now {
		sh.evictions++
	} else {
		sh.expired++
	}
	sh.states.remove(i)
}

// Stats returns the store's counts. It locks each shard in turn, so the
// counts are each shard's at a slightly different instant.
func (s *Store) Stats() Stats {
	st := Stats{MaxKeys: s.perShard * len(s.shards)}
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		st.Keys += len(sh.states.entries)
		st.LeaseKeys += len(sh.leases)
		st.Evictions += sh.evictions
		st.Expired += sh.expired
		sh.mu.Unlock()
	}
	return st
}

// run is the store's goroutine: it sweeps every sweepInterval (if
// positive) and keeps the system clock in step, until Close.
func (s *Store) run(sweepInterval time.Duration) {
	defer s.done.Done()
	var sweeps, syncs <-chan time.Time
	if sweepInterval > 0 {
		t := time.NewTicker(sweepInterval)
		defer t.Stop()
		sweeps = t.C
	}
	if s.clock.now == nil {
		t := time.NewTicker(clockSync)
		defer t.Stop()
		syncs = t.C
	}
	for {
		select {
		case <-s.stop:
			return
		case <-sweeps:
			s.sweep()
		case <-syncs:
			s.clock.sync()
		}
	}
}

// sweepBatch is how many entries the janitor examines per lock of a shard,
// so that a sweep never holds a shard for long.
const sweepBatch = 1024

// sweep deletes every expired state and lease of every shard.
func (s *Store) sweep() {
	for i := range s.shards {
		sh := &s.shards[i]
		// Scan from the end down: a removal moves the last entry, already
		// examined, into the hole. Between batches other calls may move
		// entries around; an entry missed now is caught by the next sweep.
		sh.mu.Lock()
		pos := len(sh.states.entries)
		sh.mu.Unlock()
		for pos > 0 {
			sh.mu.Lock()
			now := s.nowMicros()
			pos = min(pos, len(sh.states.entries))
			for end := max(0, pos-sweepBatch); pos > end; {
				pos--
				if sh.states.entries[pos].expireAt <= now {
					sh.states.remove(pos)
					sh.expired++
				}
			}
			sh.mu.Unlock()
		}
		sh.mu.Lock()
		sh.states.shrink()
		sh.sweepLeases(s.nowMicros())
		sh.mu.Unlock()
	}
}
