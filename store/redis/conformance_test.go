package redis

import (
	"testing"

	"github.com/sluicehq/sluice/store"
	"github.com/sluicehq/sluice/store/storetest"
)

// TestConformance runs the suite every store passes, against one Redis.
func TestConformance(t *testing.T) {
	client := standaloneClient(t)
	storetest.Run(t, func(t *testing.T, c *storetest.Clock) store.Store {
		return newTestStore(t, client, Config{Now: c.Now})
	})
}

// TestConformanceCluster runs the same suite against a Redis Cluster, where
// the keys of an all-or-nothing check fall in different slots.
func TestConformanceCluster(t *testing.T) {
	client := clusterClient(t)
	storetest.Run(t, func(t *testing.T, c *storetest.Clock) store.Store {
		return newTestStore(t, client, Config{Now: c.Now})
	})
}
