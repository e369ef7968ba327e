package repotest

import (
	"fmt"

	"github.com/sluicehq/sluice/rules"
)

// Rules10k returns 10,000 valid rules of every key type, as a busy
// deployment might hold: many exact users and API keys, IPv4 and IPv6
// prefixes of many lengths, literal routes and patterns under many
// services, plan rules and wildcards. The resolution benchmarks use them.
func Rules10k() []rules.Rule {
	var rs []rules.Rule
	n := 0
	add := func(kt rules.KeyType, v string, opts ...func(*rules.Rule)) {
		n++
		rs = append(rs, benchRule(n, kt, v, opts...))
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
		add(rules.KeyRoute, fmt.Sprintf("/api/v1/svc%d/items", i), withMethod(methods[i%3]))
		add(rules.KeyRoute, fmt.Sprintf("/api/v1/svc%d/items/{id}", i), withMethod(methods[i%3]))
	}
	for i := range 100 {
		add(rules.KeyRoute, fmt.Sprintf("/api/v2/svc%d/**", i))
	}
	for i := range 50 {
		add(rules.KeyPlan, fmt.Sprintf("plan-%d", i))
		add(rules.KeyUserID, "*", withPlan(fmt.Sprintf("plan-%d", i)))
		add(rules.KeyIP, "*", withPlan(fmt.Sprintf("plan-%d", i)))
		add(rules.KeyAPIKey, "*", withPlan(fmt.Sprintf("plan-%d", i)))
		add(rules.KeyRoute, fmt.Sprintf("/api/v3/svc%d/{id}", i), withPlan(fmt.Sprintf("plan-%d", i)))
		add(rules.KeyGlobal, "*", withPlan(fmt.Sprintf("plan-%d", i)))
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

// Requests10k returns 1,024 requests for Rules10k that each match five or
// six rules: a user (exact or a plan's wildcard), an API key, an IP (exact,
// a CIDR or a wildcard), a route (literal or pattern), the plan and the
// global rule.
func Requests10k() []rules.Attributes {
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

// benchRule returns an enabled rule with a deterministic id n and a limit
// of n per minute.
func benchRule(n int, kt rules.KeyType, value string, opts ...func(*rules.Rule)) rules.Rule {
	r := rules.Rule{
		ID: fmt.Sprintf("00000000-0000-4000-8000-%012d", n), KeyType: kt, KeyValue: value,
		Limit: int64(max(n, 1)), WindowSeconds: 60, Enabled: true,
	}
	for _, o := range opts {
		o(&r)
	}
	return r
}

func withPlan(p string) func(*rules.Rule)   { return func(r *rules.Rule) { r.Plan = p } }
func withMethod(m string) func(*rules.Rule) { return func(r *rules.Rule) { r.Method = m } }
