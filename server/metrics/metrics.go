// Package metrics holds the Prometheus collectors every protocol of the
// decision service shares (HTTP, gRPC, Envoy RLS): decisions by outcome,
// near-limit decisions, store latency, store errors and block-cache hits.
//
// Label values are bounded: a protocol is one of a few names, a policy or
// rule label is a configured name or rule id, at most MaxLabelValues
// distinct values per label (later ones become "other"), and never a
// caller's key. Create one Metrics per registry with New; a nil *Metrics
// records nothing, so servers may run without metrics.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice"
)

// The protocol label values.
const (
	ProtocolHTTP  = "http"
	ProtocolGRPC  = "grpc"
	ProtocolEnvoy = "envoy"
	// ProtocolGateway labels the decisions of the gateway's policies.
	ProtocolGateway = "gateway"
)

// Other is the label value that stands for every value past the cap, and
// for values that are empty-but-required, too long or not UTF-8.
const Other = "other"

// None is the label value of a decision with no policy or rule name.
const None = "none"

// DefaultMaxLabelValues caps the distinct values of the policy and of the
// rule label when Config leaves MaxLabelValues zero.
const DefaultMaxLabelValues = 200

// maxLabelLength is the longest label value kept; longer ones are Other.
const maxLabelLength = 128

// Store error kinds, the values of the kind label of sluice_store_errors_total.
const (
	KindTimeout = "timeout"
	KindError   = "error"
)

// Config configures Metrics.
type Config struct {
	// Registerer receives the collectors. Required: there is no global
	// default registry.
	Registerer prometheus.Registerer
	// MaxLabelValues caps the distinct values of the policy label and of
	// the rule label (each); 0 means DefaultMaxLabelValues.
	MaxLabelValues int
	// Buckets are the store latency histogram's buckets in seconds; nil
	// means 100µs to about 1.6s, doubling.
	Buckets []float64
}

// Metrics records decisions. Its methods are safe for concurrent use and
// do nothing on a nil *Metrics.
type Metrics struct {
	decisions    *prometheus.CounterVec
	nearLimit    *prometheus.CounterVec
	storeLatency *prometheus.HistogramVec
	storeErrors  *prometheus.CounterVec
	cacheHits    *prometheus.CounterVec
	policies     *labelSet
	rules        *labelSet
}

// New creates the collectors and registers them on cfg.Registerer:
//
//	sluice_decisions_total{protocol,policy,rule,reason}
//	sluice_near_limit_total{protocol,policy,rule}   allowed with remaining ≤ 10% of the limit
//	sluice_store_latency_seconds{protocol}          time of a decision's store round trip
//	sluice_store_errors_total{protocol,kind}        kind: timeout or error
//	sluice_block_cache_hits_total{protocol}         decisions answered by the block cache
//
// It fails when cfg.Registerer is nil or registration fails (a collector of
// the same name is already registered).
func New(cfg Config) (*Metrics, error) {
	if cfg.Registerer == nil {
		return nil, errors.New("metrics: New: nil Registerer")
	}
	if cfg.MaxLabelValues < 0 {
		return nil, fmt.Errorf("metrics: New: MaxLabelValues %d is negative", cfg.MaxLabelValues)
	}
	maxValues := cfg.MaxLabelValues
	if maxValues == 0 {
		maxValues = DefaultMaxLabelValues
	}
	buckets := cfg.Buckets
	if buckets == nil {
		buckets = prometheus.ExponentialBuckets(0.0001, 2, 15)
	}
	m := &Metrics{
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_decisions_total",
			Help: "Rate-limit decisions by protocol, policy (or domain), rule and reason.",
		}, []string{"protocol", "policy", "rule", "reason"}),
		nearLimit: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_near_limit_total",
			Help: "Allowed decisions that left at most 10% of the limit remaining.",
		}, []string{"protocol", "policy", "rule"}),
		storeLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "sluice_store_latency_seconds",
			Help:    "Time of one decision's round trip to the counter store, in seconds.",
			Buckets: buckets,
		}, []string{"protocol"}),
		storeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_store_errors_total",
			Help: "Decisions whose store call failed, by kind (timeout, error), whatever the failure mode.",
		}, []string{"protocol", "kind"}),
		cacheHits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_block_cache_hits_total",
			Help: "Decisions denied from the block cache without a store round trip.",
		}, []string{"protocol"}),
		policies: newLabelSet(maxValues),
		rules:    newLabelSet(maxValues),
	}
	for _, c := range []prometheus.Collector{m.decisions, m.nearLimit, m.storeLatency, m.storeErrors, m.cacheHits} {
		if err := cfg.Registerer.Register(c); err != nil {
			return nil, fmt.Errorf("metrics: registering collectors: %w", err)
		}
	}
	return m, nil
}

// Observe records one decision: its reason under the protocol, policy and
// rule labels, a near-limit count when it was allowed with at most 10% of
// its limit remaining, a block-cache hit for reason cache_block, a store
// error for reasons timeout, store_error and local_fallback, and
// storeLatency when positive (pass 0 for a decision that made no store
// call of its own, such as the second of a batch). policy and rule are
// configured names or rule ids, never caller keys; empty means "none".
func (m *Metrics) Observe(protocol, policy, rule string, d sluice.Decision, storeLatency time.Duration) {
	if m == nil {
		return
	}
	p, r := m.policies.label(policy), m.rules.label(rule)
	m.decisions.WithLabelValues(protocol, p, r, d.Reason.String()).Inc()
	if d.Reason == sluice.ReasonAllowed && Near(d) {
		m.nearLimit.WithLabelValues(protocol, p, r).Inc()
	}
	switch d.Reason {
	case sluice.ReasonCacheBlock:
		m.cacheHits.WithLabelValues(protocol).Inc()
	case sluice.ReasonTimeout:
		m.storeErrors.WithLabelValues(protocol, KindTimeout).Inc()
	case sluice.ReasonStoreError, sluice.ReasonLocalFallback:
		m.storeErrors.WithLabelValues(protocol, KindError).Inc()
	}
	if storeLatency > 0 {
		m.storeLatency.WithLabelValues(protocol).Observe(storeLatency.Seconds())
	}
}

// StoreLatency records the time of a store round trip that produced no
// Decision to Observe (a reset, or a fail-closed error).
func (m *Metrics) StoreLatency(protocol string, d time.Duration) {
	if m == nil || d <= 0 {
		return
	}
	m.storeLatency.WithLabelValues(protocol).Observe(d.Seconds())
}

// StoreError records a store failure that the limiter returned as an error
// (fail-closed), classified as timeout or error.
func (m *Metrics) StoreError(protocol string, err error) {
	if m == nil || err == nil {
		return
	}
	kind := KindError
	if errors.Is(err, context.DeadlineExceeded) {
		kind = KindTimeout
	}
	m.storeErrors.WithLabelValues(protocol, kind).Inc()
}

// Near reports whether a decision counts as near its limit: allowed with
// at most 10% of the limit remaining.
func Near(d sluice.Decision) bool {
	return d.Allowed && d.Limit > 0 && d.Remaining*10 <= d.Limit
}

// labelSet admits label values first come, first served, up to a cap.
type labelSet struct {
	mu   sync.RWMutex
	max  int
	seen map[string]struct{}
}

func newLabelSet(maxValues int) *labelSet {
	return &labelSet{max: maxValues, seen: make(map[string]struct{})}
}

// label returns v if it is, or can become, one of the admitted values,
// None for the empty string, and Other otherwise.
func (s *labelSet) label(v string) string {
	if v == "" {
		return None
	}
	if len(v) > maxLabelLength || !utf8.ValidString(v) {
		return Other
	}
	s.mu.RLock()
	_, ok := s.seen[v]
	full := len(s.seen) >= s.max
	s.mu.RUnlock()
	if ok {
		return v
	}
	if full {
		return Other
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.seen[v]; ok {
		return v
	}
	if len(s.seen) >= s.max {
		return Other
	}
	s.seen[v] = struct{}{}
	return v
}
