package rules_test

import (
	"fmt"
	"testing"

	"github.com/sluicehq/sluice/rules"
)

// benchRules returns 10,000 rules of every key type, as a busy deployment
// might hold: many exact users and API keys, IPv4 and IPv6 prefixes of
// many lengths, literal routes and patterns under many services, plan
// rules and wildcards.
func benchRules() []rules.Rule {
	var rs []rules.Rule
	n := 0
	add := func(kt rules.KeyType, v string, opts ...func(*rules.Rule)) {
		n++
		rs = append(rs, rule(n, kt, v, opts...))
	}
	for i := range 4000 {
		add(rules.KeyUserID, fmt.Sprintf("user-%d", i))
	}
	for i := range 2000 {
		add(rules.KeyAPIKey, fmt.Sprintf("key-%d", i))
	}
	for i := range 1000 {
		add(rules.KeyIP, fmt.Sprintf("10.%d.%d.%d", i/250, i%250, 7))
	}
	for i := range 600 {
		bits := 8 + i%23 // /8 to /30
		add(rules.KeyIP, fmt.Sprintf("%d.%d.%d.0/%d", 11+i%200, i%256, (i*7)%256, bits))
	}
	for i := range 400 {
		add(rules.KeyIP, fmt.Sprintf("2001:db8:%x::/%d", i, 48+i%17))
	}
	methods := []string{"", "GET", "POST"}
	for i := range 700 {
		add(rules.KeyRoute, fmt.Sprintf("/api/v1/svc%d/items", i), method(methods[i%3]))
		add(rules.KeyRoute, fmt.Sprintf("/api/v1/svc%d/items/{id}", i), method(methods[i%3]))
	}
	for i := range 100 {
		add(rules.KeyRoute, fmt.Sprintf("/api/v2/svc%d/**", i))
	}
	for i := range 50 {
		add(rules.KeyPlan, fmt.Sprintf("plan-%d", i))
		add(rules.KeyUserID, "*", plan(fmt.Sprintf("plan-%d", i)))
		add(rules.KeyIP, "*", plan(fmt.Sprintf("plan-%d", i)))
		add(rules.KeyAPIKey, "*", plan(fmt.Sprintf("plan-%d", i)))
		add(rules.KeyRoute, fmt.Sprintf("/api/v3/svc%d/{id}", i), plan(fmt.Sprintf("plan-%d", i)))
		add(rules.KeyGlobal, "*", plan(fmt.Sprintf("plan-%d", i)))
	}
	for len(rs) < 9995 {
		add(rules.KeyUserID, fmt.Sprintf("filler-%d", len(rs)))
	}
	add(rules.KeyUserID, "*")
	add(rules.KeyIP, "*")
	add(rules.KeyRoute, "*")
	add(rules.KeyPlan, "*")
	add(rules.KeyGlobal, "*")
	return rs
}

// benchRequests returns requests that each match five or six rules: a
// user (exact or a plan's wildcard), an API key, an IP (exact, a CIDR or a
// wildcard), a route (literal or pattern), the plan and the global rule.
func benchRequests() []rules.Attributes {
	var as []rules.Attributes
	for i := range 1024 {
		a := rules.Attributes{
			Method: []string{"GET", "POST"}[i%2],
			Plan:   fmt.Sprintf("plan-%d", i%60), // some plans without rules
		}
		if i%2 == 0 {
			a.UserID = fmt.Sprintf("user-%d", i*3) // exact
		} else {
			a.UserID = fmt.Sprintf("someone-%d", i) // plan or global wildcard
		}
		a.APIKey = fmt.Sprintf("key-%d", i*5)
		switch i % 4 {
		case 0:
			a.IP = fmt.Sprintf("10.%d.%d.7", (i/250)%4, i%250) // exact
		case 1:
			a.IP = fmt.Sprintf("%d.%d.%d.9", 11+i%200, i%256, (i*7)%256) // in a CIDR
		case 2:
			a.IP = fmt.Sprintf("2001:db8:%x::%x", i%400, i) // IPv6 CIDR
		default:
			a.IP = fmt.Sprintf("198.51.100.%d", i%256) // wildcard
		}
		switch i % 3 {
		case 0:
			a.Route = fmt.Sprintf("/api/v1/svc%d/items", i%700)
		case 1:
			a.Route = fmt.Sprintf("/api/v1/svc%d/items/%d", i%700, i)
		default:
			a.Route = fmt.Sprintf("/api/v3/svc%d/%d", i%50, i)
		}
		as = append(as, a)
	}
	return as
}

// BenchmarkResolve10k resolves varied requests against 10,000 rules with
// a warm cache. Target: at most 2µs and 4 allocations per request. It also
// reports the process CPU time per request (cpu-ns/op), steadier than
// ns/op on a shared machine.
// Run: go test ./rules -run '^$' -bench BenchmarkResolve10k -benchmem
func BenchmarkResolve10k(b *testing.B) {
	ix := rules.NewIndex(benchRules())
	if bad := ix.Skipped(); len(bad) > 0 || ix.Len() != 10000 {
		b.Fatalf("index has %d rules, skipped %v", ix.Len(), bad)
	}
	reqs := benchRequests()
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
	ix := rules.NewIndex(benchRules())
	reqs := benchRequests()
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
	rs := benchRules()
	b.ReportAllocs()
	for b.Loop() {
		rules.NewIndex(rs)
	}
}

// TestResolveAllocations keeps the allocation budget from regressing:
// at most one allocation per match whose counter key holds the caller's
// value, never more than 4 per request.
func TestResolveAllocations(t *testing.T) {
	ix := rules.NewIndex(benchRules())
	reqs := benchRequests()
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
