package redis

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/sluicehq/sluice/algorithm"
	"github.com/sluicehq/sluice/store"
)

// BenchmarkTake measures one decision per call against the test Redis
// (the side-by-side comparison with other limiters is in bench/).
func BenchmarkTake(b *testing.B) {
	client := standaloneClient(b)
	s := newTestStore(b, client, Config{Timeout: time.Second})
	ctx := context.Background()
	l := algorithm.Limit{Algorithm: algorithm.GCRA, Requests: 1_000_000, Window: time.Second, Burst: 1 << 40}
	keys := make([]string, 100)
	for i := range keys {
		keys[i] = fmt.Sprint("user:", i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if _, err := s.Take(ctx, keys[i%len(keys)], l, 1); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTakeAll measures an all-or-nothing check of two limits.
func BenchmarkTakeAll(b *testing.B) {
	client := standaloneClient(b)
	s := newTestStore(b, client, Config{Timeout: time.Second})
	ctx := context.Background()
	reqs := []store.Request{
		{Key: "user:1", Limit: algorithm.Limit{Algorithm: algorithm.GCRA, Requests: 1_000_000, Window: time.Second, Burst: 1 << 40}, Cost: 1},
		{Key: "route:/items", Limit: algorithm.Limit{Requests: 1 << 40, Window: time.Second}, Cost: 1},
	}
	out := make([]algorithm.Decision, 2)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := s.TakeAll(ctx, reqs, out); err != nil {
			b.Fatal(err)
		}
	}
}
