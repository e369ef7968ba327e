package httpapi_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// mustCounter returns the first series of the named metric whose label
// has the value.
func mustCounter(t *testing.T, e *env, name, label, value string) prometheus.Collector {
	t.Helper()
	mfs, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == label && lp.GetValue() == value {
					return constCounter(m)
				}
			}
		}
	}
	t.Fatalf("no series of %s with %s=%q", name, label, value)
	return nil
}

// constCounter wraps one gathered series as a collector testutil can read.
func constCounter(m *dto.Metric) prometheus.Collector {
	return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "x", Help: "x"}, func() float64 { return m.GetCounter().GetValue() })
}
