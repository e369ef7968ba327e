package rules_test

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/algorithm"
	"github.com/sluicehq/sluice/rules"
)

// rid returns a deterministic UUID for test rule n.
func rid(n int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", n) }

// rule returns an enabled rule with id n, limit n per minute.
func rule(n int, kt rules.KeyType, value string, opts ...func(*rules.Rule)) rules.Rule {
	r := rules.Rule{
		ID: rid(n), KeyType: kt, KeyValue: value,
		Limit: int64(max(n, 1)), WindowSeconds: 60, Enabled: true,
	}
	for _, o := range opts {
		o(&r)
	}
	return r
}

func plan(p string) func(*rules.Rule)   { return func(r *rules.Rule) { r.Plan = p } }
func method(m string) func(*rules.Rule) { return func(r *rules.Rule) { r.Method = m } }
func prio(p int) func(*rules.Rule)      { return func(r *rules.Rule) { r.Priority = p } }
func disabled(r *rules.Rule)            { r.Enabled = false }
func shadow(r *rules.Rule)              { r.Shadow = true }

// winners returns, per key type, the id number of the winning rule.
func winners(ms []rules.Match) map[rules.KeyType]int {
	out := map[rules.KeyType]int{}
	for _, m := range ms {
		var n int
		fmt.Sscanf(m.Rule.ID[len(m.Rule.ID)-12:], "%d", &n)
		out[m.KeyType] = n
	}
	return out
}

func TestResolvePrecedence(t *testing.T) {
	rs := []rules.Rule{
		// user_id: exact > plan-scoped "*" > "*"
		rule(1, rules.KeyUserID, "*"),
		rule(2, rules.KeyUserID, "*", plan("free")),
		rule(3, rules.KeyUserID, "alice"),
		rule(4, rules.KeyUserID, "bob", plan("pro")), // bob only on pro
		rule(5, rules.KeyUserID, "bob"),
		rule(6, rules.KeyUserID, "carol", disabled),
		// ip: exact > longest CIDR > plan "*" > "*"
		rule(10, rules.KeyIP, "*"),
		rule(11, rules.KeyIP, "10.0.0.0/8"),
		rule(12, rules.KeyIP, "10.1.0.0/16"),
		rule(13, rules.KeyIP, "10.1.2.0/24"),
		rule(14, rules.KeyIP, "10.1.2.3"),
		rule(15, rules.KeyIP, "2001:db8::/32"),
		rule(16, rules.KeyIP, "2001:db8:1::/48"),
		rule(17, rules.KeyIP, "*", plan("free")),
		rule(18, rules.KeyIP, "192.168.0.0/16", plan("pro")),
		rule(19, rules.KeyIP, "192.168.0.0/16", prio(5)),
		rule(20, rules.KeyIP, "172.16.0.0/12", disabled),
		// route: literal > longer pattern > shorter pattern > "*"; method-specific first
		rule(30, rules.KeyRoute, "*"),
		rule(31, rules.KeyRoute, "/api/**"),
		rule(32, rules.KeyRoute, "/api/chat"),
		rule(33, rules.KeyRoute, "/api/chat", method("POST")),
		rule(34, rules.KeyRoute, "/api/users/{id}"),
		rule(35, rules.KeyRoute, "/api/users/*/keys"),
		rule(36, rules.KeyRoute, "/api/users/me"),
		rule(37, rules.KeyRoute, "/api/{v}/items", prio(1)),
		rule(38, rules.KeyRoute, "/api/v2/{x}", prio(2)), // same specificity as 37: priority decides
		rule(39, rules.KeyRoute, "/login", shadow),
		// api_key
		rule(50, rules.KeyAPIKey, "key_123"),
		rule(51, rules.KeyAPIKey, "*", plan("pro")),
		// plan and global
		rule(60, rules.KeyPlan, "free"),
		rule(61, rules.KeyPlan, "*"),
		rule(70, rules.KeyGlobal, "*"),
		rule(71, rules.KeyGlobal, "*", plan("enterprise")),
	}
	ix := rules.NewIndex(rs)
	if bad := ix.Skipped(); len(bad) > 0 {
		t.Fatalf("skipped: %v", bad)
	}
	tests := []struct {
		name string
		a    rules.Attributes
		want map[rules.KeyType]int
	}{
		{"anonymous, nothing known", rules.Attributes{}, map[rules.KeyType]int{rules.KeyGlobal: 70}},
		{"exact user", rules.Attributes{UserID: "alice"}, map[rules.KeyType]int{rules.KeyUserID: 3, rules.KeyGlobal: 70}},
		{"plan-scoped wildcard", rules.Attributes{UserID: "zed", Plan: "free"},
			map[rules.KeyType]int{rules.KeyUserID: 2, rules.KeyIP: 0, rules.KeyPlan: 60, rules.KeyGlobal: 70}},
		{"wildcard", rules.Attributes{UserID: "zed", Plan: "basic"},
			map[rules.KeyType]int{rules.KeyUserID: 1, rules.KeyPlan: 61, rules.KeyGlobal: 70}},
		{"exact plan-scoped beats exact", rules.Attributes{UserID: "bob", Plan: "pro"},
			map[rules.KeyType]int{rules.KeyUserID: 4, rules.KeyAPIKey: 0, rules.KeyPlan: 61, rules.KeyGlobal: 70}},
		{"exact plan-scoped skipped on other plan", rules.Attributes{UserID: "bob"},
			map[rules.KeyType]int{rules.KeyUserID: 5, rules.KeyGlobal: 70}},
		{"disabled ignored", rules.Attributes{UserID: "carol"}, map[rules.KeyType]int{rules.KeyUserID: 1, rules.KeyGlobal: 70}},
		{"exact ip", rules.Attributes{IP: "10.1.2.3"}, map[rules.KeyType]int{rules.KeyIP: 14, rules.KeyGlobal: 70}},
		{"/24", rules.Attributes{IP: "10.1.2.4"}, map[rules.KeyType]int{rules.KeyIP: 13, rules.KeyGlobal: 70}},
		{"/16", rules.Attributes{IP: "10.1.3.4"}, map[rules.KeyType]int{rules.KeyIP: 12, rules.KeyGlobal: 70}},
		{"/8", rules.Attributes{IP: "10.2.3.4"}, map[rules.KeyType]int{rules.KeyIP: 11, rules.KeyGlobal: 70}},
		{"ip wildcard", rules.Attributes{IP: "8.8.8.8"}, map[rules.KeyType]int{rules.KeyIP: 10, rules.KeyGlobal: 70}},
		{"ip plan wildcard", rules.Attributes{IP: "8.8.8.8", Plan: "free", UserID: "x"},
			map[rules.KeyType]int{rules.KeyIP: 17, rules.KeyUserID: 2, rules.KeyPlan: 60, rules.KeyGlobal: 70}},
		{"CIDR beats plan wildcard", rules.Attributes{IP: "10.9.9.9", Plan: "free"},
			map[rules.KeyType]int{rules.KeyIP: 11, rules.KeyPlan: 60, rules.KeyGlobal: 70}},
		{"ipv4-mapped ipv6", rules.Attributes{IP: "::ffff:10.1.2.9"}, map[rules.KeyType]int{rules.KeyIP: 13, rules.KeyGlobal: 70}},
		{"ipv6 /48", rules.Attributes{IP: "2001:db8:1::42"}, map[rules.KeyType]int{rules.KeyIP: 16, rules.KeyGlobal: 70}},
		{"ipv6 /32", rules.Attributes{IP: "2001:db8:2::42"}, map[rules.KeyType]int{rules.KeyIP: 15, rules.KeyGlobal: 70}},
		{"ipv6 wildcard", rules.Attributes{IP: "2001:db9::1"}, map[rules.KeyType]int{rules.KeyIP: 10, rules.KeyGlobal: 70}},
		{"same CIDR: plan-scoped first", rules.Attributes{IP: "192.168.1.1", Plan: "pro"},
			map[rules.KeyType]int{rules.KeyIP: 18, rules.KeyAPIKey: 0, rules.KeyPlan: 61, rules.KeyGlobal: 70}},
		{"same CIDR: other plan", rules.Attributes{IP: "192.168.1.1"}, map[rules.KeyType]int{rules.KeyIP: 19, rules.KeyGlobal: 70}},
		{"disabled CIDR ignored", rules.Attributes{IP: "172.16.1.1"}, map[rules.KeyType]int{rules.KeyIP: 10, rules.KeyGlobal: 70}},
		{"not an ip", rules.Attributes{IP: "nope"}, map[rules.KeyType]int{rules.KeyGlobal: 70}},
		{"route literal, method-specific", rules.Attributes{Route: "/api/chat", Method: "POST"}, map[rules.KeyType]int{rules.KeyRoute: 33, rules.KeyGlobal: 70}},
		{"route literal, method lowercase", rules.Attributes{Route: "/api/chat/", Method: "post"}, map[rules.KeyType]int{rules.KeyRoute: 33, rules.KeyGlobal: 70}},
		{"route literal, any method", rules.Attributes{Route: "/api/chat", Method: "GET"}, map[rules.KeyType]int{rules.KeyRoute: 32, rules.KeyGlobal: 70}},
		{"literal beats parameter", rules.Attributes{Route: "/api/users/me"}, map[rules.KeyType]int{rules.KeyRoute: 36, rules.KeyGlobal: 70}},
		{"parameter", rules.Attributes{Route: "/api/users/42"}, map[rules.KeyType]int{rules.KeyRoute: 34, rules.KeyGlobal: 70}},
		{"longer pattern", rules.Attributes{Route: "/api/users/42/keys"}, map[rules.KeyType]int{rules.KeyRoute: 35, rules.KeyGlobal: 70}},
		{"suffix pattern", rules.Attributes{Route: "/api/other/thing"}, map[rules.KeyType]int{rules.KeyRoute: 31, rules.KeyGlobal: 70}},
		{"suffix pattern matches its prefix", rules.Attributes{Route: "/api"}, map[rules.KeyType]int{rules.KeyRoute: 31, rules.KeyGlobal: 70}},
		{"equal specificity: priority", rules.Attributes{Route: "/api/v2/items"}, map[rules.KeyType]int{rules.KeyRoute: 38, rules.KeyGlobal: 70}},
		{"equal specificity: only one matches", rules.Attributes{Route: "/api/v1/items"}, map[rules.KeyType]int{rules.KeyRoute: 37, rules.KeyGlobal: 70}},
		{"route wildcard", rules.Attributes{Route: "/elsewhere"}, map[rules.KeyType]int{rules.KeyRoute: 30, rules.KeyGlobal: 70}},
		{"api key exact", rules.Attributes{APIKey: "key_123", Plan: "pro"}, map[rules.KeyType]int{rules.KeyAPIKey: 50, rules.KeyIP: 0, rules.KeyPlan: 61, rules.KeyGlobal: 70}},
		{"api key plan wildcard", rules.Attributes{APIKey: "key_9", Plan: "pro"}, map[rules.KeyType]int{rules.KeyAPIKey: 51, rules.KeyPlan: 61, rules.KeyGlobal: 70}},
		{"api key without rule", rules.Attributes{APIKey: "key_9"}, map[rules.KeyType]int{rules.KeyGlobal: 70}},
		{"scoped global", rules.Attributes{Plan: "enterprise"}, map[rules.KeyType]int{rules.KeyPlan: 61, rules.KeyGlobal: 71}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := winners(ix.Resolve(tt.a, nil))
			for k, v := range tt.want {
				if v == 0 {
					delete(tt.want, k) // 0 marks "no match" for readability
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("Resolve(%+v) winners = %v, want %v", tt.a, got, tt.want)
			}
		})
	}
}

func TestResolveKeysAndFlags(t *testing.T) {
	ix := rules.NewIndex([]rules.Rule{
		rule(1, rules.KeyUserID, "*"),
		rule(2, rules.KeyUserID, "al:ice"),
		rule(3, rules.KeyIP, "10.0.0.0/8"),
		rule(4, rules.KeyIP, "2001:db8::1"),
		rule(5, rules.KeyRoute, "/api/chat/", method("POST"), shadow),
		rule(6, rules.KeyRoute, "/api/chat", method("POST"), plan("free")),
		rule(7, rules.KeyPlan, "*"),
		rule(8, rules.KeyGlobal, "*", func(r *rules.Rule) { r.Algorithm = "token_bucket"; r.Burst = 20 }),
		rule(9, rules.KeyAPIKey, "*"),
	})
	if bad := ix.Skipped(); len(bad) > 0 {
		t.Fatalf("skipped: %v", bad)
	}
	if ix.Len() != 9 {
		t.Fatalf("Len = %d, want 9", ix.Len())
	}
	keys := func(a rules.Attributes) []string {
		var out []string
		for _, m := range ix.Resolve(a, nil) {
			out = append(out, m.Key)
		}
		return out
	}
	check := func(a rules.Attributes, want ...string) {
		t.Helper()
		if got := keys(a); strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("keys(%+v) = %q, want %q", a, got, want)
		}
	}
	check(rules.Attributes{UserID: "bob", IP: "10.0.0.1", Route: "/api/chat", Method: "POST", APIKey: "k1"},
		`rule:user_id:bob`, `rule:api_key:k1`, `rule:ip:10.0.0.1`, `rule:route:/api/chat:POST`, `rule:global`)
	// Exact rule keys escape separators; each caller of a CIDR has its own counter.
	check(rules.Attributes{UserID: "al:ice", IP: "10.0.0.2"}, `rule:user_id:al\:ice`, `rule:ip:10.0.0.2`, `rule:global`)
	// IPv6 and mapped addresses are canonical in keys.
	check(rules.Attributes{IP: "2001:DB8:0::1"}, `rule:ip:2001\:db8\:\:1`, `rule:global`)
	check(rules.Attributes{IP: "::ffff:10.0.0.3"}, `rule:ip:10.0.0.3`, `rule:global`)
	// A plan-scoped twin of a route counts separately; plan counters hold the plan.
	check(rules.Attributes{Route: "/api/chat", Method: "POST", Plan: "free"}, `rule:route:/api/chat:POST:free`, `rule:plan:free`, `rule:global`)

	ms := ix.Resolve(rules.Attributes{Route: "/api/chat", Method: "POST"}, nil)
	if !ms[0].Shadow || ms[0].KeyType != rules.KeyRoute || ms[0].Fallback {
		t.Errorf("route match = %+v, want shadow, not fallback", ms[0])
	}
	if ms[1].Shadow {
		t.Errorf("global match is shadow")
	}
	want := algorithm.Limit{Requests: 8, Window: time.Minute, Algorithm: algorithm.TokenBucket, Burst: 20}
	if ms[1].Limit != want {
		t.Errorf("global limit = %+v, want %+v", ms[1].Limit, want)
	}
	// Resolve appends to out.
	buf := make([]rules.Match, 0, 8)
	buf = ix.Resolve(rules.Attributes{}, buf)
	buf = ix.Resolve(rules.Attributes{}, buf)
	if len(buf) != 2 {
		t.Errorf("appended %d matches, want 2", len(buf))
	}
}

// TestResolveQuotaTimeZone checks that a quota rule's time zone reaches the
// limit it resolves to, so that its days end at midnight in that zone.
func TestResolveQuotaTimeZone(t *testing.T) {
	ix := rules.NewIndex([]rules.Rule{
		rule(1, rules.KeyUserID, "*", quotaIn("Europe/Berlin")),
		rule(2, rules.KeyGlobal, "*", quotaIn("")),
	})
	if bad := ix.Skipped(); len(bad) > 0 {
		t.Fatalf("skipped: %v", bad)
	}
	limits := map[rules.KeyType]algorithm.Limit{}
	for _, m := range ix.Resolve(rules.Attributes{UserID: "alice"}, nil) {
		limits[m.KeyType] = m.Limit
	}
	berlin, utc := limits[rules.KeyUserID], limits[rules.KeyGlobal]
	if berlin.Algorithm != algorithm.Quota || berlin.Period != algorithm.Day || berlin.Location == nil || berlin.Location.String() != "Europe/Berlin" {
		t.Fatalf("user_id limit = %+v, want a daily quota in Europe/Berlin", berlin)
	}
	if utc.Algorithm != algorithm.Quota || utc.Location != nil {
		t.Fatalf("global limit = %+v, want a quota in UTC (no Location)", utc)
	}
	// 21:30 UTC on 2 April 2025 is 23:30 in Berlin (CEST, UTC+2): the
	// Berlin day began at 22:00 UTC the day before and ends in 30 minutes,
	// the UTC day in 2h30m.
	now := time.Date(2025, 4, 2, 21, 30, 0, 0, time.UTC)
	start, end := algorithm.PeriodBounds(berlin, now.UnixMicro())
	if want := time.Date(2025, 4, 1, 22, 0, 0, 0, time.UTC); start != want.UnixMicro() || end != want.Add(24*time.Hour).UnixMicro() {
		t.Errorf("Berlin day = %v to %v, want %v to %v", time.UnixMicro(start).UTC(), time.UnixMicro(end).UTC(), want, want.Add(24*time.Hour))
	}
	for _, c := range []struct {
		name  string
		limit algorithm.Limit
		reset time.Duration
	}{{"Europe/Berlin", berlin, 30 * time.Minute}, {"UTC", utc, 150 * time.Minute}} {
		if d := algorithm.Apply(c.limit, algorithm.State{}, now.UnixMicro(), 1).Decision; !d.Allowed || d.Reset != c.reset {
			t.Errorf("quota in %s at 21:30 UTC: %+v, want allowed with reset %v", c.name, d, c.reset)
		}
	}
}

func TestNewIndexSkipsInvalid(t *testing.T) {
	ix := rules.NewIndex([]rules.Rule{
		rule(1, rules.KeyIP, "not-an-ip"),
		rule(2, rules.KeyRoute, "no-slash"),
		rule(3, rules.KeyUserID, "ok"),
		rule(4, rules.KeyUserID, "bad-limit", func(r *rules.Rule) { r.Limit = 0 }),
	})
	if ix.Len() != 1 || len(ix.Skipped()) != 3 {
		t.Fatalf("Len = %d, skipped = %v; want 1 rule and 3 skipped", ix.Len(), ix.Skipped())
	}
	if got := ix.Resolve(rules.Attributes{UserID: "ok"}, nil); len(got) != 1 {
		t.Errorf("valid rule not served: %v", got)
	}
}

// TestIndexImmutable checks that the index does not alias the caller's rules.
func TestIndexImmutable(t *testing.T) {
	rs := []rules.Rule{rule(1, rules.KeyUserID, "alice")}
	ix := rules.NewIndex(rs)
	rs[0].KeyValue, rs[0].Limit = "mallory", 99
	ms := ix.Resolve(rules.Attributes{UserID: "alice"}, nil)
	if len(ms) != 1 || ms[0].Rule.KeyValue != "alice" || ms[0].Limit.Requests != 1 {
		t.Errorf("index changed with its input: %+v", ms)
	}
}

// TestResolveMatchesBruteForce checks the index against a direct reading
// of the precedence on random route and ip rules: every rule is tried on
// every request and the best match by the documented order must be the
// one the index returns.
func TestResolveMatchesBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	segs := []string{"api", "v1", "users", "chat", "*", "{id}", "x"}
	var rs []rules.Rule
	seen := map[string]bool{}
	for n := 1; len(rs) < 400; n++ {
		var r rules.Rule
		if rng.IntN(2) == 0 {
			parts := make([]string, 1+rng.IntN(4))
			for i := range parts {
				parts[i] = segs[rng.IntN(len(segs))]
			}
			p := "/" + strings.Join(parts, "/")
			switch rng.IntN(6) {
			case 0:
				p += "/**"
			case 1:
				p = "*"
			}
			r = rule(n, rules.KeyRoute, p, method([]string{"", "", "GET", "POST"}[rng.IntN(4)]))
		} else {
			v := fmt.Sprintf("10.%d.%d.%d/%d", rng.IntN(4), rng.IntN(4), rng.IntN(4), 8+rng.IntN(25))
			switch rng.IntN(8) {
			case 0:
				v = "*"
			case 1:
				v = fmt.Sprintf("10.%d.%d.%d", rng.IntN(4), rng.IntN(4), rng.IntN(4))
			case 2, 3:
				v = fmt.Sprintf("2001:db8:%x:%x::/%d", rng.IntN(4), rng.IntN(4), 28+rng.IntN(40))
			case 4:
				v = fmt.Sprintf("2001:db8:%x:%x::%x", rng.IntN(4), rng.IntN(4), rng.IntN(4))
			}
			r = rule(n, rules.KeyIP, v)
		}
		r.Priority = rng.IntN(3)
		r.Plan = []string{"", "", "free"}[rng.IntN(3)]
		r.Enabled = rng.IntN(10) > 0
		r = r.Canonical()
		if _, err := rules.ParsePattern(r.KeyValue); r.KeyType == rules.KeyRoute && err != nil {
			continue // such as a repeated {id}
		}
		k := string(r.KeyType) + " " + r.KeyValue + " " + r.Method + " " + r.Plan
		if seen[k] {
			continue // the repository would refuse the duplicate
		}
		seen[k] = true
		rs = append(rs, r)
	}
	ix := rules.NewIndex(rs)
	if bad := ix.Skipped(); len(bad) > 0 {
		t.Fatalf("skipped: %v", bad)
	}
	for range 3000 {
		parts := make([]string, rng.IntN(5))
		for i := range parts {
			parts[i] = []string{"api", "v1", "users", "chat", "x", "42"}[rng.IntN(6)]
		}
		a := rules.Attributes{
			Route:  "/" + strings.Join(parts, "/"),
			Method: []string{"GET", "POST", "PUT"}[rng.IntN(3)],
			IP:     fmt.Sprintf("10.%d.%d.%d", rng.IntN(4), rng.IntN(4), rng.IntN(4)),
			Plan:   []string{"", "free", "pro"}[rng.IntN(3)],
		}
		if rng.IntN(2) == 0 {
			a.IP = fmt.Sprintf("2001:db8:%x:%x::%x", rng.IntN(4), rng.IntN(4), rng.IntN(4))
		}
		want := map[rules.KeyType]string{}
		for _, kt := range []rules.KeyType{rules.KeyRoute, rules.KeyIP} {
			if best := bruteForce(rs, kt, a); best != nil {
				want[kt] = best.ID
			}
		}
		got := map[rules.KeyType]string{}
		for _, m := range ix.Resolve(a, nil) {
			got[m.KeyType] = m.Rule.ID
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("Resolve(%+v) = %v, brute force says %v", a, got, want)
		}
	}
}

// bruteForce returns the winning rule of key type kt for a by trying
// every rule: the documented precedence, written out directly.
func bruteForce(rs []rules.Rule, kt rules.KeyType, a rules.Attributes) *rules.Rule {
	type rank struct{ level, spec, scoped, methodic, prio int }
	var best *rules.Rule
	var bestRank rank
	for i := range rs {
		r := &rs[i]
		if r.KeyType != kt || !r.Enabled || (r.Plan != "" && r.Plan != a.Plan) || (r.Method != "" && r.Method != a.Method) {
			continue
		}
		var k rank
		switch {
		case r.KeyValue == "*" && r.Plan != "":
			k.level = 2
		case r.KeyValue == "*":
			k.level = 3
		case kt == rules.KeyRoute:
			p, _ := rules.ParsePattern(r.KeyValue)
			if !p.Match(a.Route) {
				continue
			}
			if strings.ContainsAny(r.KeyValue, "*{") {
				k.level = 1
			}
			k.spec = p.Specificity()
		default:
			pfx, err := netip.ParsePrefix(r.KeyValue)
			if err != nil {
				addr := netip.MustParseAddr(r.KeyValue)
				pfx = netip.PrefixFrom(addr, addr.BitLen())
			} else {
				k.level = 1
			}
			if !pfx.Contains(netip.MustParseAddr(a.IP)) {
				continue
			}
			k.spec = pfx.Bits()
		}
		if r.Plan != "" {
			k.scoped = 1
		}
		if r.Method != "" {
			k.methodic = 1
		}
		k.prio = r.Priority
		better := best == nil ||
			cmp.Or(cmp.Compare(bestRank.level, k.level), cmp.Compare(k.spec, bestRank.spec), cmp.Compare(k.scoped, bestRank.scoped),
				cmp.Compare(k.methodic, bestRank.methodic), cmp.Compare(k.prio, bestRank.prio), cmp.Compare(best.ID, r.ID)) > 0
		if better {
			best, bestRank = r, k
		}
	}
	return best
}
