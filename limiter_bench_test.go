package sluice_test

import (
	"context"
	"testing"

	"github.com/sluicehq/sluice"
)

// BenchmarkAllow measures one decision on an existing key through the
// Limiter and the memory store: go test -run '^$' -bench Allow -benchmem .
func BenchmarkAllow(b *testing.B) {
	for _, text := range []string{"1000000000/1s", "1000000/1s gcra", "1000000/1s token_bucket", "1000000000/1s fixed_window"} {
		b.Run(text, func(b *testing.B) {
			lim := sluice.New(nil, sluice.Config{})
			defer lim.Close()
			limit := sluice.MustParseLimit(text)
			ctx := context.Background()
			lim.Allow(ctx, "hot", limit)
			b.ReportAllocs()
			for b.Loop() {
				lim.Allow(ctx, "hot", limit)
			}
		})
	}
}
