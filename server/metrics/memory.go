package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice/store/memory"
)

// memoryCollector exports a memory store's Stats, read at each scrape.
type memoryCollector struct {
	store                                      *memory.Store
	keys, leaseKeys, maxKeys, evicted, expired *prometheus.Desc
}

// NewMemoryStoreCollector returns a collector of st's counts:
// sluice_memory_store_keys, sluice_memory_store_lease_keys and
// sluice_memory_store_max_keys (gauges), and
// sluice_memory_store_evictions_total and sluice_memory_store_expired_total
// (counters). Evictions are keys dropped before they expired to make room:
// each may have let a caller through early, and a store that counts many
// needs a higher max_keys.
func NewMemoryStoreCollector(st *memory.Store) prometheus.Collector {
	return &memoryCollector{
		store:     st,
		keys:      prometheus.NewDesc("sluice_memory_store_keys", "Keys (key and algorithm) the memory store holds.", nil, nil),
		leaseKeys: prometheus.NewDesc("sluice_memory_store_lease_keys", "Keys holding concurrency leases in the memory store.", nil, nil),
		maxKeys:   prometheus.NewDesc("sluice_memory_store_max_keys", "The most keys the memory store holds before it evicts.", nil, nil),
		evicted:   prometheus.NewDesc("sluice_memory_store_evictions_total", "Keys dropped before they expired to make room; each may have let a caller through early.", nil, nil),
		expired:   prometheus.NewDesc("sluice_memory_store_expired_total", "Expired keys deleted.", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *memoryCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.keys, c.leaseKeys, c.maxKeys, c.evicted, c.expired} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *memoryCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.store.Stats()
	ch <- prometheus.MustNewConstMetric(c.keys, prometheus.GaugeValue, float64(st.Keys))
	ch <- prometheus.MustNewConstMetric(c.leaseKeys, prometheus.GaugeValue, float64(st.LeaseKeys))
	ch <- prometheus.MustNewConstMetric(c.maxKeys, prometheus.GaugeValue, float64(st.MaxKeys))
	ch <- prometheus.MustNewConstMetric(c.evicted, prometheus.CounterValue, float64(st.Evictions))
	ch <- prometheus.MustNewConstMetric(c.expired, prometheus.CounterValue, float64(st.Expired))
}
