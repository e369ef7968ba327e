package rules_test

import (
	"testing"

	"github.com/sluicehq/sluice/rules"
	"github.com/sluicehq/sluice/rules/repotest"
)

// BenchmarkResolve10k resolves varied requests against 10,000 rules with
// a warm cache. Target: at most 2µs and 4 allocations per request. It also
// reports the process CPU time per request (cpu-ns/op), steadier than
// ns/op on a shared machine.
// Run: go test ./rules -run '^$' -bench BenchmarkResolve10k -benchmem
func BenchmarkResolve10k(b *testing.B) {
	ix := rules.NewIndex(repotest.Rules10k())
	if bad := ix.Skipped(); len(bad) > 0 || ix.Len() != 10000 {
		b.Fatalf("index has %d rules, skipped %v", ix.Len(), bad)
	}
	reqs := repotest.Requests10k()
	out := make([]rules.Match, 0, 8)
	matches := 0
	b.ReportAllocs()
	cpu0, cpuOK := cpuTime()
	for i := 0; b.Loop(); i++ {
		out = ix.Resolve(reqs[i%len(reqs)], out[:0])
		matches += len(out)
	}
	b.ReportMetric(float64(matches)/float64(b.N), "matches/op")
	if cpu1, ok := cpuTime(); ok && cpuOK {
		b.ReportMetric(float64(cpu1-cpu0)/float64(b.N), "cpu-ns/op")
	}
}

// BenchmarkResolveParallel is BenchmarkResolve10k from every core at once.
func BenchmarkResolveParallel(b *testing.B) {
	ix := rules.NewIndex(repotest.Rules10k())
	reqs := repotest.Requests10k()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		out := make([]rules.Match, 0, 8)
		i := 0
		for pb.Next() {
			out = ix.Resolve(reqs[i%len(reqs)], out[:0])
			i++
		}
	})
}

// BenchmarkNewIndex10k measures compiling 10,000 rules, the work of one
// resolver refresh after the database read.
func BenchmarkNewIndex10k(b *testing.B) {
	rs := repotest.Rules10k()
	b.ReportAllocs()
	for b.Loop() {
		rules.NewIndex(rs)
	}
}

// TestResolveAllocations keeps the allocation budget from regressing:
// at most one allocation per match whose counter key holds the caller's
// value, never more than 4 per request.
func TestResolveAllocations(t *testing.T) {
	ix := rules.NewIndex(repotest.Rules10k())
	reqs := repotest.Requests10k()
	out := make([]rules.Match, 0, 8)
	i := 0
	avg := testing.AllocsPerRun(2000, func() {
		out = ix.Resolve(reqs[i%len(reqs)], out[:0])
		i++
	})
	if avg > 4 {
		t.Errorf("Resolve allocates %.1f times per request, want at most 4", avg)
	}
}
