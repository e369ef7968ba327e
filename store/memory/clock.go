package memory

import (
	"sync/atomic"
	"time"
)

// clockSync is how often the system clock's offset to the wall clock is
// measured again.
const clockSync = time.Second

// clock is a store's time source, in microseconds since the Unix epoch.
//
// With Config.Now it calls that. Otherwise it reads only the monotonic
// clock and adds the wall clock's offset to it, which the store's goroutine
// measures again every second: reading both clocks (time.Now) costs twice
// as much, and this is on every call's path. Between two measurements the
// store's time cannot jump; a step of the system clock shows after at most
// a second.
type clock struct {
	now    func() time.Time // Config.Now, or nil for the system clock
	start  time.Time        // holds a monotonic reading
	offset atomic.Int64     // wall clock minus monotonic, in microseconds
}

func newClock(now func() time.Time) *clock {
	c := &clock{now: now, start: time.Now()}
	c.sync()
	return c
}

// micros returns the time in microseconds since the Unix epoch.
func (c *clock) micros() int64 {
	if c.now != nil {
		return c.now().UnixMicro()
	}
	return c.offset.Load() + int64(time.Since(c.start)/time.Microsecond)
}

// sync measures the wall clock's offset to the monotonic clock.
func (c *clock) sync() {
	t := time.Now()
	c.offset.Store(t.UnixMicro() - int64(t.Sub(c.start)/time.Microsecond))
}
