// Package storetest is the conformance suite every store.Store must pass:
// one call, Run, checks exact decisions of every algorithm at exact instants
// on a controlled clock, reads, refunds, resets, expiry, all-or-nothing
// multi-limit checks, leases, and that a limit of L admits exactly L under
// concurrent callers.
package storetest

import (
	"sync"
	"time"
)

// Clock is a controllable clock for stores under test. Its zero value is not
// ready: use NewClock. It is safe for concurrent use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a Clock showing t.
func NewClock(t time.Time) *Clock { return &Clock{now: t} }

// Now returns the clock's time. Pass it as the store's clock.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}
