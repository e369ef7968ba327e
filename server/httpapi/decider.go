package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/rules"
	"github.com/sluicehq/sluice/server/metrics"
)

// Defaults of Config.
const (
	// DefaultMaxBody bounds a request body when Config leaves MaxBody zero.
	DefaultMaxBody = 64 << 10
	// DefaultMaxBatch bounds the limits of one batch when Config leaves
	// MaxBatch zero.
	DefaultMaxBatch = 100
)

// ErrRulesNotConfigured is returned by CheckRules on a Decider without a
// Resolver.
var ErrRulesNotConfigured = errors.New("rules are not configured on this server")

// Config configures the decision API, over HTTP (New) and over gRPC
// (grpcapi.Register), and the Decider both share.
type Config struct {
	// Limiter decides. Required.
	Limiter *sluice.Limiter
	// Resolver resolves the stored rules for CheckRules; nil turns
	// /v1/rules/check off (501).
	Resolver *rules.Resolver
	// Metrics records every decision; nil records nothing.
	Metrics *metrics.Metrics
	// Shadow is the global shadow mode: every call is evaluated and
	// counted, but none is ever denied. A decision that would have denied
	// is answered allowed, with shadow true and its real reason.
	Shadow bool
	// MaxBody bounds a request body in bytes (413 beyond); 0 means
	// DefaultMaxBody.
	MaxBody int64
	// MaxBatch bounds the limits of one batch; 0 means DefaultMaxBatch.
	MaxBatch int
	// Logger receives store failures; nil discards.
	Logger *slog.Logger
}

// Decider is the protocol-independent core of the decision API: it
// validates requests, asks the limiter and records metrics. The HTTP
// handler and the gRPC service translate to and from it. Safe for
// concurrent use.
type Decider struct {
	lim      *sluice.Limiter
	res      *rules.Resolver
	m        *metrics.Metrics
	shadow   bool
	maxBatch int
	log      *slog.Logger
}

// NewDecider returns a Decider over cfg. It fails when cfg.Limiter is nil
// or a bound is negative.
func NewDecider(cfg Config) (*Decider, error) {
	if cfg.Limiter == nil {
		return nil, errors.New("httpapi: nil Limiter")
	}
	if cfg.MaxBody < 0 || cfg.MaxBatch < 0 {
		return nil, fmt.Errorf("httpapi: MaxBody (%d) and MaxBatch (%d) must not be negative", cfg.MaxBody, cfg.MaxBatch)
	}
	d := &Decider{lim: cfg.Limiter, res: cfg.Resolver, m: cfg.Metrics, shadow: cfg.Shadow, maxBatch: cfg.MaxBatch, log: cfg.Logger}
	if d.maxBatch == 0 {
		d.maxBatch = DefaultMaxBatch
	}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	return d, nil
}

// Result is one decision as a caller sees it.
type Result struct {
	// Name is the limit's name: the spec's in a batch, the rule's key type
	// in CheckRules.
	Name string
	// Decision is the limiter's decision.
	Decision sluice.Decision
	// Shadow reports that shadow mode let a denied call through: the
	// server is in shadow mode, or the rule is a shadow rule.
	Shadow bool
}

// Pass reports whether the caller may proceed: the call was allowed, or
// only shadow mode denied it.
func (r Result) Pass() bool { return r.Decision.Allowed || r.Shadow }

// result wraps a decision, applying the global shadow mode.
func (d *Decider) result(name string, dec sluice.Decision) Result {
	return Result{Name: name, Decision: dec, Shadow: d.shadow && !dec.Allowed}
}

// Limit decides one call. Errors: a *ValidationError for bad input, one
// wrapping sluice.ErrStoreUnavailable when the store failed and the
// limiter is fail-closed, or the context's error.
func (d *Decider) Limit(ctx context.Context, protocol string, s LimitSpec) (Result, Call, error) {
	c, err := s.Compile()
	if err != nil {
		return Result{}, Call{}, err
	}
	start := time.Now()
	dec, err := d.lim.AllowN(ctx, c.Key, c.Limit, c.Cost)
	elapsed := time.Since(start)
	if err != nil {
		return Result{}, c, d.storeError(protocol, c.Key, elapsed, err)
	}
	d.m.Observe(protocol, c.Action, "", dec, storeTime(dec, elapsed))
	return d.result(c.Name, dec), c, nil
}

// BatchResult is the outcome of Batch.
type BatchResult struct {
	// Combined stands for all: allowed only if every limit allowed.
	Combined Result
	// Each is every limit's own result, in request order.
	Each []Result
	// Calls are the validated limits, in request order.
	Calls []Call
}

// Batch decides several calls all-or-nothing (sluice.Limiter.AllowAll).
// Errors as for Limit; a ValidationError's fields are prefixed
// "limits[i].".
func (d *Decider) Batch(ctx context.Context, protocol string, specs []LimitSpec) (BatchResult, error) {
	var v ValidationError
	switch {
	case len(specs) == 0:
		v.add("limits", "required: at least one limit")
	case len(specs) > d.maxBatch:
		v.add("limits", "has %d limits; at most %d are accepted", len(specs), d.maxBatch)
	}
	if err := v.err(); err != nil {
		return BatchResult{}, err
	}
	calls := make([]Call, len(specs))
	reqs := make([]sluice.Request, len(specs))
	seen := make(map[string]int, len(specs))
	for i, s := range specs {
		c, err := s.Compile()
		var ve *ValidationError
		if errors.As(err, &ve) {
			v.Errors = append(v.Errors, ve.prefixed(fmt.Sprintf("limits[%d].", i))...)
			continue
		}
		if j, dup := seen[c.Key]; dup {
			v.add(fmt.Sprintf("limits[%d].key", i), "names the same counter as limits[%d]; a batch counts each key once", j)
		}
		seen[c.Key] = i
		calls[i], reqs[i] = c, sluice.Request{Key: c.Key, Limit: c.Limit, Cost: c.Cost}
	}
	if err := v.err(); err != nil {
		return BatchResult{}, err
	}
	start := time.Now()
	comb, each, err := d.lim.AllowAll(ctx, reqs...)
	elapsed := time.Since(start)
	if err != nil {
		return BatchResult{}, d.storeError(protocol, reqs[0].Key, elapsed, err)
	}
	out := BatchResult{Combined: d.result("", comb), Each: make([]Result, len(each)), Calls: calls}
	for i, e := range each {
		lat := time.Duration(0)
		if i == 0 {
			lat = storeTime(comb, elapsed)
		}
		d.m.Observe(protocol, calls[i].Action, "", e, lat)
		out.Each[i] = d.result(calls[i].Name, e)
	}
	return out, nil
}

// Peek reads a counter without consuming (the spec's cost is ignored).
// Errors as for Limit.
func (d *Decider) Peek(ctx context.Context, protocol string, s LimitSpec) (Result, Call, error) {
	s.Cost = nil
	c, err := s.Compile()
	if err != nil {
		return Result{}, Call{}, err
	}
	start := time.Now()
	dec, err := d.lim.Peek(ctx, c.Key, c.Limit)
	if err != nil {
		return Result{}, c, d.storeError(protocol, c.Key, time.Since(start), err)
	}
	d.m.StoreLatency(protocol, time.Since(start))
	return Result{Name: c.Name, Decision: dec}, c, nil
}

// Reset forgets a counter's state (seed 002's reset_logs). Errors as for
// Limit.
func (d *Decider) Reset(ctx context.Context, protocol string, s ResetSpec) error {
	key, err := s.CompileKey()
	if err != nil {
		return err
	}
	start := time.Now()
	if err := d.lim.Reset(ctx, key); err != nil {
		return d.storeError(protocol, key, time.Since(start), err)
	}
	d.m.StoreLatency(protocol, time.Since(start))
	return nil
}

// storeError records and logs a limiter error and returns it wrapped.
func (d *Decider) storeError(protocol, key string, elapsed time.Duration, err error) error {
	if errors.Is(err, sluice.ErrStoreUnavailable) {
		d.m.StoreError(protocol, err)
		d.m.StoreLatency(protocol, elapsed)
		d.log.Warn("rate-limit store unavailable; answering with an error (fail-closed)", "protocol", protocol, "err", err)
	}
	return fmt.Errorf("httpapi: deciding %q: %w", truncate(key, 64), err)
}

// storeTime is the store latency to record for a decision: none when the
// block cache answered without a store call.
func storeTime(d sluice.Decision, elapsed time.Duration) time.Duration {
	if d.Reason == sluice.ReasonCacheBlock {
		return 0
	}
	return elapsed
}

// truncate shortens s for a log or error message.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
