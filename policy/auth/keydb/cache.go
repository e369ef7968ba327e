package keydb

import (
	"sync"
	"time"

	"github.com/sluicehq/sluice/policy/auth"
)

// cache remembers looked-up keys for a while. A nil *cache is off: its
// methods do nothing.
type cache struct {
	ttl time.Duration
	now func() time.Time

	mu      sync.Mutex
	entries map[auth.KeyHash]cached
}

type cached struct {
	c       auth.Consumer
	expires time.Time
}

func newCache(ttl time.Duration, now func() time.Time) *cache {
	return &cache{ttl: ttl, now: now, entries: map[auth.KeyHash]cached{}}
}

func (c *cache) get(h auth.KeyHash) (auth.Consumer, bool) {
	if c == nil {
		return auth.Consumer{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[h]
	if !ok {
		return auth.Consumer{}, false
	}
	if !c.now().Before(e.expires) {
		delete(c.entries, h)
		return auth.Consumer{}, false
	}
	return e.c, true
}

func (c *cache) put(h auth.KeyHash, v auth.Consumer) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= maxCached {
		clear(c.entries)
	}
	c.entries[h] = cached{c: v, expires: c.now().Add(c.ttl)}
}

func (c *cache) clear() {
	if c == nil {
		return
	}
	c.mu.Lock()
	clear(c.entries)
	c.mu.Unlock()
}
