package memory

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/sluicehq/sluice/algorithm"
)

// lease is one concurrency lease held on a key.
type lease struct {
	id       string
	expireAt int64 // microseconds since the Unix epoch
}

// Acquire takes the lease id on key if fewer than maxLeases unexpired
// leases are held (see store.Leaser). Acquiring a lease already held renews
// it: it then expires ttl from now. maxLeases must be at least 1 and ttl at
// least a microsecond.
func (s *Store) Acquire(ctx context.Context, key, id string, maxLeases int64, ttl time.Duration) (algorithm.Decision, error) {
	if err := s.check(ctx); err != nil {
		return algorithm.Decision{}, err
	}
	if maxLeases < 1 || ttl < time.Microsecond {
		return algorithm.Decision{}, fmt.Errorf("memory: a lease needs max >= 1 and ttl >= 1µs, got max %d and ttl %s", maxLeases, ttl)
	}
	sh := s.shardOf(s.hash(key))
	sh.mu.Lock()
	defer sh.mu.Unlock()
	now := s.nowMicros()
	held, ok := sh.leases[key]
	held = live(held, now)
	d := algorithm.Decision{Limit: maxLeases, Reason: algorithm.ReasonRateLimited}
	switch i := holding(held, id); {
	case i >= 0:
		held[i].expireAt = now + ttl.Microseconds()
		d.Allowed, d.Reason = true, algorithm.ReasonAllowed
	case int64(len(held)) < maxLeases:
		held = append(held, lease{id: strings.Clone(id), expireAt: now + ttl.Microseconds()})
		d.Allowed, d.Reason = true, algorithm.ReasonAllowed
	default:
		oldest := held[0].expireAt
		for _, l := range held[1:] {
			oldest = min(oldest, l.expireAt)
		}
		d.RetryAfter = time.Duration(oldest-now) * time.Microsecond
	}
	d.Remaining = maxLeases - min(maxLeases, int64(len(held)))
	if len(held) > 0 {
		last := held[0].expireAt
		for _, l := range held[1:] {
			last = max(last, l.expireAt)
		}
		d.Reset = time.Duration(last-now) * time.Microsecond
	}
	switch {
	case len(held) == 0:
		if ok {
			delete(sh.leases, key)
			sh.expired++
		}
	case ok:
		sh.leases[key] = held
	default:
		sh.makeRoom(s, now)
		if sh.leases == nil {
			sh.leases = make(map[string][]lease)
		}
		sh.leases[strings.Clone(key)] = held
	}
	return d, nil
}

// Release gives the lease id on key back. Releasing a lease that expired or
// was never taken does nothing and is not an error.
func (s *Store) Release(ctx context.Context, key, id string) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	sh := s.shardOf(s.hash(key))
	sh.mu.Lock()
	defer sh.mu.Unlock()
	held, ok := sh.leases[key]
	if !ok {
		return nil
	}
	held = live(held, s.nowMicros())
	if i := holding(held, id); i >= 0 {
		last := len(held) - 1
		held[i] = held[last]
		held[last] = lease{}
		held = held[:last]
	}
	if len(held) == 0 {
		delete(sh.leases, key)
	} else {
		sh.leases[key] = held
	}
	return nil
}

// live drops the expired leases of held, in place.
func live(held []lease, now int64) []lease {
	n := 0
	for _, l := range held {
		if l.expireAt > now {
			held[n] = l
			n++
		}
	}
	clear(held[n:])
	return held[:n]
}

// holding returns the position of lease id in held, or -1.
func holding(held []lease, id string) int {
	for i := range held {
		if held[i].id == id {
			return i
		}
	}
	return -1
}

// sweepLeases deletes the expired leases of the shard, and keys left with
// none.
func (sh *shard) sweepLeases(now int64) {
	for key, held := range sh.leases {
		if held = live(held, now); len(held) == 0 {
			delete(sh.leases, key)
			sh.expired++
		} else {
			sh.leases[key] = held
		}
	}
}

// evictLeases drops the leases of one key to make room, preferring a key
// whose leases have all expired, else the one holding fewest. Map iteration
// starts at a random key, so the sample is random.
func (sh *shard) evictLeases(now int64) {
	const samples = 5
	victim, victimLive, n := "", 0, 0
	for key, held := range sh.leases {
		alive := 0
		for _, l := range held {
			if l.expireAt > now {
				alive++
			}
		}
		if n == 0 || alive < victimLive {
			victim, victimLive = key, alive
		}
		if n++; alive == 0 || n == samples {
			break
		}
	}
	if n == 0 {
		return
	}
	if victimLive > 0 {
		sh.evictions++
	} else {
		sh.expired++
	}
	delete(sh.leases, victim)
}
