package sluice

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"
)

// blockCache is the ephemeral block cache: keys known to be blocked until a
// given instant are denied without asking the store (reason cache_block),
// which spares the store when an abuser keeps calling. An entry remembers
// the limit it was made under and blocks only calls under that same limit,
// so raising a limit unblocks at once. It is bounded in size; a full shard
// drops expired entries first and otherwise the oldest-ending one.
//
// Entries are made only from a denied call of cost 1 with nothing
// remaining: then RetryAfter is exactly when any call could pass again.
// Reset and Refund through the same Limiter forget the key; a reset made
// elsewhere (another process) is seen when the entry ends, at most
// RetryAfter later.
type blockCache struct {
	seed     maphash.Seed
	perShard int
	size     atomic.Int64 // entries in all shards: lookups skip locking when 0
	shards   [blockShards]blockShard
}

const blockShards = 32

type blockShard struct {
	mu sync.Mutex
	m  map[string]blockEntry
	_  [40]byte // keep shards on separate cache lines
}

type blockEntry struct {
	limit Limit
	until int64 // the Limiter's clock, in nanoseconds: blocked before this instant
	reset int64 // the Limiter's clock: when the allowance is whole again
}

func newBlockCache(size int) *blockCache {
	c := &blockCache{seed: maphash.MakeSeed(), perShard: max(1, size/blockShards)}
	for i := range c.shards {
		c.shards[i].m = make(map[string]blockEntry)
	}
	return c
}

func (c *blockCache) shard(key string) *blockShard {
	return &c.shards[maphash.String(c.seed, key)%blockShards]
}

// lookup returns a cache_block decision if key is known to be blocked under
// limit now. It reads the clock only when the cache holds something.
func (c *blockCache) lookup(key string, limit Limit, clock func() int64) (Decision, bool) {
	if c == nil || c.size.Load() == 0 {
		return Decision{}, false
	}
	n := clock()
	sh := c.shard(key)
	sh.mu.Lock()
	e, ok := sh.m[key]
	if ok && e.until <= n {
		delete(sh.m, key)
		c.size.Add(-1)
		ok = false
	}
	sh.mu.Unlock()
	if !ok || e.limit != limit {
		return Decision{}, false
	}
	return Decision{
		Limit:      limit.Capacity(),
		Reset:      time.Duration(max(0, e.reset-n)),
		RetryAfter: time.Duration(e.until - n),
		Reason:     ReasonCacheBlock,
	}, true
}

// remember records key as blocked if d, the decision of a call of cost 1,
// shows it is. It reads the clock only then.
func (c *blockCache) remember(key string, limit Limit, d Decision, clock func() int64) {
	if c == nil || d.Allowed || d.Reason != ReasonRateLimited || d.Remaining != 0 || d.RetryAfter <= 0 {
		return
	}
	n := clock()
	e := blockEntry{limit: limit, until: n + int64(d.RetryAfter), reset: n + int64(d.Reset)}
	sh := c.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if _, exists := sh.m[key]; !exists {
		if len(sh.m) >= c.perShard {
			removed := sh.evict(n)
			if removed == 0 {
				return
			}
			c.size.Add(-int64(removed))
		}
		c.size.Add(1)
	}
	sh.m[key] = e
}

// evict makes room for one entry: it drops every expired entry among a few
// it looks at, or else the one among them that ends first. It returns how
// many entries it removed.
func (sh *blockShard) evict(now int64) int {
	const sample = 8
	var victim string
	var victimUntil int64
	seen, removed := 0, 0
	for k, e := range sh.m { // map iteration starts at a random entry
		if e.until <= now {
			delete(sh.m, k)
			removed++
		} else if victim == "" || e.until < victimUntil {
			victim, victimUntil = k, e.until
		}
		if seen++; seen == sample {
			break
		}
	}
	if removed == 0 && victim != "" {
		delete(sh.m, victim)
		removed = 1
	}
	return removed
}

// forget removes key from the cache.
func (c *blockCache) forget(key string) {
	if c == nil || c.size.Load() == 0 {
		return
	}
	sh := c.shard(key)
	sh.mu.Lock()
	if _, ok := sh.m[key]; ok {
		delete(sh.m, key)
		c.size.Add(-1)
	}
	sh.mu.Unlock()
}
