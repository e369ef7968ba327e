package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/sluicehq/sluice/rules"
	"github.com/sluicehq/sluice/rules/repotest"
	"github.com/sluicehq/sluice/rules/sqlite"
)

// BenchmarkResolver10k resolves requests through a Resolver whose rules
// are 10,000 rows of a real SQLite file, with the cache warm: the work of
// every request that the stored rules decide. Target: at most 2µs and 4
// allocations per request.
//
//	go test ./rules/sqlite -run '^$' -bench Resolver10k -benchmem
func BenchmarkResolver10k(b *testing.B) {
	ctx := context.Background()
	repo, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "rules.db"), sqlite.Options{Migrate: true})
	if err != nil {
		b.Fatal(err)
	}
	defer repo.Close()
	for _, r := range repotest.Rules10k() {
		if _, err := repo.Create(ctx, r, "bench"); err != nil {
			b.Fatal(err)
		}
	}
	res, err := rules.NewResolver(repo, rules.ResolverConfig{TTL: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	defer res.Close()
	if err := res.Refresh(ctx); err != nil {
		b.Fatal(err)
	}
	if ix, _ := res.Snapshot(); ix.Len() != 10000 {
		b.Fatalf("the resolver holds %d rules, want 10000", ix.Len())
	}
	reqs := repotest.Requests10k()
	out := make([]rules.Match, 0, 8)
	matches := 0
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		out = res.Resolve(reqs[i%len(reqs)], out[:0])
		matches += len(out)
	}
	b.ReportMetric(float64(matches)/float64(b.N), "matches/op")
}
