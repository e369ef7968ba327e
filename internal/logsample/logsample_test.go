package logsample_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/logsample"
)

// clock is a fake clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newLogger(interval time.Duration) (*slog.Logger, *bytes.Buffer, *clock) {
	var buf bytes.Buffer
	clk := &clock{t: time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)}
	inner := slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug, ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}})
	return slog.New(logsample.New(inner, interval, clk.Now)), &buf, clk
}

func TestSamplesWarningsPerMessage(t *testing.T) {
	log, buf, clk := newLogger(time.Second)
	for range 1000 {
		log.Warn("store failed", "err", "connection refused")
	}
	log.Warn("another failure")
	log.Info("store failed") // below warn: always passes
	log.Info("store failed")
	clk.Add(time.Second)
	log.Error("store failed", "err", "timeout")
	log.Warn("store failed")

	want := strings.Repeat(`level=WARN msg="store failed" err="connection refused"
`, logsample.Burst) + `level=WARN msg="another failure"
level=INFO msg="store failed"
level=INFO msg="store failed"
level=ERROR msg="store failed" err=timeout suppressed=990
level=WARN msg="store failed"
`
	if buf.String() != want {
		t.Errorf("log:\n%s\nwant:\n%s", buf, want)
	}
}

func TestDerivedHandlersShareTheSampling(t *testing.T) {
	log, buf, _ := newLogger(time.Minute)
	log.With("component", "a").Warn("store failed")
	log.WithGroup("g").Warn("store failed")
	log.Warn("store failed")
	for range logsample.Burst {
		log.Warn("store failed")
	}
	if n := strings.Count(buf.String(), "store failed"); n != logsample.Burst {
		t.Errorf("%d lines passed, want %d:\n%s", n, logsample.Burst, buf)
	}
}

func TestConcurrentUse(t *testing.T) {
	log, buf, clk := newLogger(time.Millisecond)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 500 {
				log.Warn("store failed")
				clk.Add(time.Microsecond)
			}
		})
	}
	wg.Wait()
	// 4ms of fake time passed: at most Burst lines in each of 5 intervals.
	if n := strings.Count(buf.String(), "store failed"); n < logsample.Burst || n > 5*logsample.Burst {
		t.Errorf("%d lines passed in 4ms of 1ms sampling:\n%s", n, buf)
	}
}

func TestSystemClock(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(logsample.New(slog.NewTextHandler(&buf, nil), time.Hour, nil))
	for range 2 * logsample.Burst {
		log.WarnContext(context.Background(), "store failed")
	}
	if n := strings.Count(buf.String(), "store failed"); n != logsample.Burst {
		t.Errorf("%d lines passed within the hour, want %d:\n%s", n, logsample.Burst, buf.String())
	}
}
