package memory

import (
	"testing"
	"time"
)

func TestSystemClockFollowsWallClock(t *testing.T) {
	c := newClock(nil)
	for range 3 {
		got, want := c.micros(), time.Now().UnixMicro()
		if d := got - want; d < -50_000 || d > 50_000 {
			t.Fatalf("clock reads %d, wall clock %d: %dµs apart", got, want, d)
		}
		time.Sleep(10 * time.Millisecond)
		c.sync()
	}
	fake := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	if got := newClock(func() time.Time { return fake }).micros(); got != fake.UnixMicro() {
		t.Fatalf("a configured clock reads %d, want %d", got, fake.UnixMicro())
	}
}
