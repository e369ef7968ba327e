// Package logsample keeps a log readable when one failure repeats on every
// request: during a Redis outage a busy instance would otherwise write a
// warning per decision, tens of thousands a second. A Handler passes at
// most Burst warnings or errors of each message per interval, and the first
// it passes after leaving some out says how many.
package logsample

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// SuppressedKey is the attribute that counts the records of the same
// message left out since the last one passed.
const SuppressedKey = "suppressed"

// Burst is how many records of one message pass in each interval: enough
// for a few distinct events of the same kind (several rules left out of
// one load), few enough that a flood stays a trickle.
const Burst = 10

// maxMessages bounds the messages a Handler remembers; past it, it starts
// afresh (the messages are the program's own, so this is a safety net).
const maxMessages = 1024

// Handler samples the warnings and errors of the handler it wraps, per
// message; records below slog.LevelWarn always pass. Safe for concurrent
// use.
type Handler struct {
	inner    slog.Handler
	interval time.Duration
	now      func() time.Time
	state    *state // shared by the handlers WithAttrs and WithGroup derive
}

// state is what the handlers derived from one New share.
type state struct {
	mu   sync.Mutex
	seen map[string]*message
}

// message is the sampling state of one message.
type message struct {
	start      time.Time // when its current interval began
	passed     int       // records passed in it
	suppressed int       // records left out since the last one passed
}

// New returns a Handler passing, for each message, at most Burst warnings
// or errors per interval to inner. now is the clock; nil means time.Now.
func New(inner slog.Handler, interval time.Duration, now func() time.Time) *Handler {
	if now == nil {
		now = time.Now
	}
	return &Handler{inner: inner, interval: interval, now: now, state: &state{seen: map[string]*message{}}}
}

// Enabled implements slog.Handler.
func (h *Handler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.inner.Enabled(ctx, level)
}

// Handle implements slog.Handler.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level < slog.LevelWarn {
		return h.inner.Handle(ctx, r)
	}
	now := h.now()
	s := h.state
	s.mu.Lock()
	m := s.seen[r.Message]
	if m == nil {
		if len(s.seen) >= maxMessages {
			clear(s.seen)
		}
		m = &message{start: now}
		s.seen[r.Message] = m
	}
	if now.Sub(m.start) >= h.interval {
		m.start, m.passed = now, 0
	}
	if m.passed >= Burst {
		m.suppressed++
		s.mu.Unlock()
		return nil
	}
	m.passed++
	suppressed := m.suppressed
	m.suppressed = 0
	s.mu.Unlock()
	if suppressed > 0 {
		r = r.Clone()
		r.AddAttrs(slog.Int(SuppressedKey, suppressed))
	}
	return h.inner.Handle(ctx, r)
}

// WithAttrs implements slog.Handler; the result samples with h.
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	c := *h
	c.inner = h.inner.WithAttrs(attrs)
	return &c
}

// WithGroup implements slog.Handler; the result samples with h.
func (h *Handler) WithGroup(name string) slog.Handler {
	c := *h
	c.inner = h.inner.WithGroup(name)
	return &c
}
