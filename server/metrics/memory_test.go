package metrics_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/server/metrics"
	"github.com/sluicehq/sluice/store/memory"
)

// TestMemoryStoreCollector: the collector reports what the store holds and
// the keys it had to evict, read at scrape time.
func TestMemoryStoreCollector(t *testing.T) {
	st := memory.New(memory.Config{MaxKeys: 4, Shards: 1, SweepInterval: -1})
	defer st.Close()
	reg := prometheus.NewRegistry()
	reg.MustRegister(metrics.NewMemoryStoreCollector(st))
	limit := sluice.MustParseLimit("10/1m")
	for i := range 6 { // two more keys than the store holds
		if _, err := st.Take(context.Background(), fmt.Sprintf("k%d", i), limit, 1); err != nil {
			t.Fatal(err)
		}
	}
	want := `
# HELP sluice_memory_store_evictions_total Keys dropped before they expired to make room; each may have let a caller through early.
# TYPE sluice_memory_store_evictions_total counter
sluice_memory_store_evictions_total 2
# HELP sluice_memory_store_keys Keys (key and algorithm) the memory store holds.
# TYPE sluice_memory_store_keys gauge
sluice_memory_store_keys 4
# HELP sluice_memory_store_max_keys The most keys the memory store holds before it evicts.
# TYPE sluice_memory_store_max_keys gauge
sluice_memory_store_max_keys 4
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"sluice_memory_store_evictions_total", "sluice_memory_store_keys", "sluice_memory_store_max_keys"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(reg); n != 5 {
		t.Errorf("%d metrics, want 5", n)
	}
}
