package metrics_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/server/metrics"
)

func TestObserve(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := metrics.New(metrics.Config{Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	m.Observe(metrics.ProtocolHTTP, "login", "", sluice.Decision{Allowed: true, Limit: 10, Remaining: 5, Reason: sluice.ReasonAllowed}, time.Millisecond)
	m.Observe(metrics.ProtocolHTTP, "login", "", sluice.Decision{Allowed: true, Limit: 10, Remaining: 1, Reason: sluice.ReasonAllowed}, time.Millisecond)
	m.Observe(metrics.ProtocolHTTP, "login", "", sluice.Decision{Limit: 10, Reason: sluice.ReasonRateLimited}, time.Millisecond)
	m.Observe(metrics.ProtocolHTTP, "login", "", sluice.Decision{Limit: 10, Reason: sluice.ReasonCacheBlock}, 0)
	m.Observe(metrics.ProtocolGRPC, "", "r1", sluice.Decision{Allowed: true, Limit: 10, Reason: sluice.ReasonTimeout}, time.Second)
	m.StoreError(metrics.ProtocolEnvoy, fmt.Errorf("x: %w", sluice.ErrStoreUnavailable))

	want := `
# HELP sluice_decisions_total Rate-limit decisions by protocol, policy (or domain), rule and reason.
# TYPE sluice_decisions_total counter
sluice_decisions_total{policy="login",protocol="http",reason="allowed",rule="none"} 2
sluice_decisions_total{policy="login",protocol="http",reason="cache_block",rule="none"} 1
sluice_decisions_total{policy="login",protocol="http",reason="rate_limited",rule="none"} 1
sluice_decisions_total{policy="none",protocol="grpc",reason="timeout",rule="r1"} 1
# HELP sluice_near_limit_total Allowed decisions that left at most 10% of the limit remaining.
# TYPE sluice_near_limit_total counter
sluice_near_limit_total{policy="login",protocol="http",rule="none"} 1
# HELP sluice_store_errors_total Decisions whose store call failed, by kind (timeout, error), whatever the failure mode.
# TYPE sluice_store_errors_total counter
sluice_store_errors_total{kind="error",protocol="envoy"} 1
sluice_store_errors_total{kind="timeout",protocol="grpc"} 1
# HELP sluice_block_cache_hits_total Decisions denied from the block cache without a store round trip.
# TYPE sluice_block_cache_hits_total counter
sluice_block_cache_hits_total{protocol="http"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"sluice_decisions_total", "sluice_near_limit_total", "sluice_store_errors_total", "sluice_block_cache_hits_total"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(reg, "sluice_store_latency_seconds"); n != 2 {
		t.Errorf("%d latency series", n)
	}
}

func TestLabelCap(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := metrics.New(metrics.Config{Registerer: reg, MaxLabelValues: 3})
	if err != nil {
		t.Fatal(err)
	}
	d := sluice.Decision{Allowed: true, Limit: 10, Remaining: 9}
	for i := range 100 {
		m.Observe(metrics.ProtocolHTTP, fmt.Sprintf("p%d", i), "", d, 0)
	}
	m.Observe(metrics.ProtocolHTTP, "p0", "\xff\xfe", d, 0)                   // not UTF-8
	m.Observe(metrics.ProtocolHTTP, "p1", strings.Repeat("r", 500), d, 0)     // too long
	if n := testutil.CollectAndCount(reg, "sluice_decisions_total"); n != 6 { // p0, p1, p2 and other with rule none; p0 and p1 with rule other
		t.Errorf("%d series, want 6", n)
	}
}

func TestNilAndErrors(t *testing.T) {
	var m *metrics.Metrics
	m.Observe("http", "p", "r", sluice.Decision{}, time.Second) // no panic
	m.StoreError("http", errors.New("x"))
	m.StoreLatency("http", time.Second)
	if _, err := metrics.New(metrics.Config{}); err == nil {
		t.Error("New without a Registerer succeeded")
	}
	reg := prometheus.NewRegistry()
	if _, err := metrics.New(metrics.Config{Registerer: reg}); err != nil {
		t.Fatal(err)
	}
	if _, err := metrics.New(metrics.Config{Registerer: reg}); err == nil {
		t.Error("registering twice succeeded")
	}
}
