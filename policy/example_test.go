package policy_test

// The Go snippets of docs/policies.md are taken from these examples (a test
// checks that each appears here verbatim), so that they compile and run.

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/policy"
	"github.com/sluicehq/sluice/rules"
)

// try sends n requests from remote through h and prints the statuses.
func try(h http.Handler, n int, remote string, setup ...func(*http.Request)) {
	codes := make([]int, n)
	for i := range codes {
		codes[i] = do(h, remote, setup...).Code
	}
	fmt.Println(strings.Trim(fmt.Sprint(codes), "[]"))
}

var api = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") })

func Example() {
	lim := sluice.New(nil, sluice.Config{Timeout: 50 * time.Millisecond})
	defer lim.Close()
	set, err := policy.NewSet(lim,
		&policy.Policy{Name: "per-ip", By: policy.ByIP, Limit: sluice.MustParseLimit("100/1m")},
		&policy.Policy{Name: "per-user", By: policy.ByUser, Limit: sluice.MustParseLimit("2/1m")},
	)
	if err != nil {
		log.Fatal(err)
	}
	handler := policy.Middleware(set)(api)

	try(handler, 3, "192.0.2.1:1234", withUser("alice", nil))
	// Output: 200 200 429
}

func Example_byIP() {
	lim := sluice.New(nil, sluice.Config{})
	defer lim.Close()

	perIP := &policy.Policy{
		Name:  "per-ip",
		By:    policy.ByIP,
		Limit: sluice.MustParseLimit("2/1m"),
	}
	set, err := policy.NewSetWith(lim, policy.Options{
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
		IPv6Prefix:     64,
	}, perIP)
	if err != nil {
		log.Fatal(err)
	}

	h := policy.Middleware(set)(api)
	try(h, 3, "192.0.2.1:1")
	try(h, 1, "10.0.0.1:1", withHeader("X-Forwarded-For", "192.0.2.1"))
	// Output:
	// 200 200 429
	// 429
}

func Example_byUser() {
	lim := sluice.New(nil, sluice.Config{})
	defer lim.Close()

	perUser := &policy.Policy{
		Name:  "per-user",
		By:    policy.ByUser,
		Limit: sluice.MustParseLimit("1000/1h"),
	}
	// The authentication step, before the policies:
	authenticate := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if key := r.Header.Get("X-Api-Key"); key == "secret-of-alice" {
				u := policy.User{Subject: "alice", Data: map[string]any{"plan": "pro", "customerId": "acme"}}
				r = r.WithContext(policy.WithUser(r.Context(), u))
			}
			next.ServeHTTP(w, r)
		})
	}

	set, err := policy.NewSet(lim, perUser)
	if err != nil {
		log.Fatal(err)
	}
	h := authenticate(policy.Middleware(set)(api))
	try(h, 1, "192.0.2.1:1", withHeader("X-Api-Key", "secret-of-alice"))
	try(h, 1, "192.0.2.1:1")
	// Output:
	// 200
	// 401
}

func Example_byFunction() {
	lim := sluice.New(nil, sluice.Config{})
	defer lim.Close()

	perCustomer := &policy.Policy{
		Name:  "per-customer",
		By:    policy.ByFunction,
		Limit: sluice.MustParseLimit("100/1m"), // the default
		Func: func(r *http.Request) (*policy.Details, error) {
			if r.URL.Path == "/health" {
				return nil, nil // not counted: reason skipped
			}
			u, _ := policy.UserFrom(r.Context())
			if u.Data["plan"] == "pro" {
				return &policy.Details{Key: u.Subject, RequestsAllowed: 1000, TimeWindow: time.Minute}, nil
			}
			return &policy.Details{Key: u.Subject}, nil
		},
	}

	set, err := policy.NewSet(lim, perCustomer)
	if err != nil {
		log.Fatal(err)
	}
	try(policy.Middleware(set)(api), 1, "192.0.2.1:1", withUser("alice", map[string]any{"plan": "pro"}))
	// Output: 200
}

func Example_byFunctionCEL() {
	lim := sluice.New(nil, sluice.Config{})
	defer lim.Close()

	fn, err := policy.CompileCEL(`request.path == "/health" ? null : {
		"key": request.user.data.customerId,
		"requestsAllowed": request.user.data.plan == "pro" ? 1000 : 100,
		"timeWindowMinutes": 1}`)
	if err != nil {
		log.Fatal(err) // such as: invalid CEL expression: line 2, column 10: ...
	}
	perCustomer := &policy.Policy{Name: "per-customer", By: policy.ByFunction, Func: fn}

	set, err := policy.NewSet(lim, perCustomer)
	if err != nil {
		log.Fatal(err)
	}
	w := do(policy.Middleware(set)(api), "192.0.2.1:1", withUser("alice", map[string]any{"plan": "pro", "customerId": "acme"}))
	fmt.Println(w.Code, w.Header().Get("RateLimit-Policy"))
	// Output: 200 "per-customer";q=1000;w=60
}

func Example_byAll() {
	lim := sluice.New(nil, sluice.Config{})
	defer lim.Close()

	wholeRoute := &policy.Policy{
		Name:  "reports-backend",
		By:    policy.ByAll,
		Limit: sluice.MustParseLimit("50/1s token_bucket burst=100"),
	}

	set, err := policy.NewSet(lim, wholeRoute)
	if err != nil {
		log.Fatal(err)
	}
	try(policy.Middleware(set)(api), 1, "192.0.2.1:1")
	// Output: 200
}

func Example_byRules() {
	var resolver *rules.Resolver // rules.NewResolver(repo, rules.ResolverConfig{Fallback: ...})

	perRule := &policy.Policy{
		Name:  "per-rule",
		By:    policy.ByRules,
		Rules: resolver,
		// Optional: the defaults are user_id = the user's subject, ip, api_key
		// and plan from User.Data, route = the path, method.
		Attributes: func(r *http.Request, a *rules.Attributes) {
			u, _ := policy.UserFrom(r.Context())
			a.UserID, _ = u.Data[policy.DataCustomerID].(string)
		},
	}

	fmt.Println(perRule.By)
	// Output: rules
}

func Example_limits() {
	zuploStyle := sluice.Limit{Requests: 100, Window: 1 * time.Minute, Algorithm: sluice.SlidingWindow}
	text := sluice.MustParseLimit("100/1m")
	fmt.Println(zuploStyle == text)

	batch := &policy.Policy{
		Name:  "batch",
		By:    policy.ByUser,
		Limit: sluice.MustParseLimit("1000/1h fixed_window"),
		Cost:  20, // each request takes 20
	}
	peek := &policy.Policy{
		Name:     "peek",
		By:       policy.ByUser,
		Limit:    sluice.MustParseLimit("3/15m counter"),
		ReadOnly: true, // passes while there is room; takes nothing
	}
	fmt.Println(batch.Cost, peek.ReadOnly)
	// Output:
	// true
	// 20 true
}

func Example_headers() {
	lim := sluice.New(nil, sluice.Config{})
	defer lim.Close()

	quiet := &policy.Policy{
		Name:       "quiet",
		By:         policy.ByIP,
		Limit:      sluice.MustParseLimit("1/1m"),
		HeaderMode: policy.HeaderModeNone, // no Retry-After on 429
	}
	set, err := policy.NewSetWith(lim, policy.Options{
		Headers: policy.HeadersIETF | policy.HeadersLegacy | policy.HeadersX,
	}, quiet)
	if err != nil {
		log.Fatal(err)
	}

	h := policy.Middleware(set)(api)
	do(h, "192.0.2.1:1")
	w := do(h, "192.0.2.1:1")
	fmt.Println(w.Code, w.Header().Get("Retry-After") == "", w.Header().Get("RateLimit-Policy"), w.Header().Get("X-RateLimit-Limit"))
	// Output: 429 true "quiet";q=1;w=60 1
}

func Example_modes() {
	lim := sluice.New(nil, sluice.Config{Timeout: 50 * time.Millisecond})
	defer lim.Close()

	fast := &policy.Policy{
		Name:           "fast",
		By:             policy.ByUser,
		Limit:          sluice.MustParseLimit("100/1m"),
		Mode:           policy.Async, // the handler runs while the check is made
		ThrowOnFailure: false,        // the store down: let requests through
	}
	login := &policy.Policy{
		Name:           "login",
		By:             policy.ByIP,
		Limit:          sluice.MustParseLimit("5/15m"),
		Mode:           policy.Strict, // the default
		ThrowOnFailure: true,          // the store down: 503, never an open door
	}

	_, err := policy.NewSet(lim, fast, login)
	fmt.Println(err)
	// Output: <nil>
}

func Example_complex() {
	lim := sluice.New(nil, sluice.Config{})
	defer lim.Close()

	usage := &policy.Policy{
		Name: "usage",
		By:   policy.ByUser,
		Counters: []policy.Counter{
			{Name: "requests", Limit: sluice.MustParseLimit("100/1m")},
			{Name: "compute", Limit: sluice.MustParseLimit("500/1m")},
		},
	}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		units := int64(42) // the work this request turned out to cost
		if err := policy.SetIncrement(r.Context(), "compute", units); err != nil {
			log.Print(err)
		}
		_, _ = io.WriteString(w, "done")
	})

	set, err := policy.NewSet(lim, usage)
	if err != nil {
		log.Fatal(err)
	}
	h := policy.Middleware(set)(handler)
	do(h, "192.0.2.1:1", withUser("alice", nil))
	d, _ := lim.Peek(context.Background(), usage.CounterKey("compute", "alice"), sluice.MustParseLimit("500/1m"))
	fmt.Println(d.Remaining)
	// Output: 458
}

func Example_quota() {
	lim := sluice.New(nil, sluice.Config{})
	defer lim.Close()

	monthly := &policy.Policy{
		Name:  "monthly",
		By:    policy.ByUser,
		Limit: sluice.MustParseLimit("10/1s"),                       // a rate...
		Quota: sluice.MustParseLimit("5000/month tz=Europe/Berlin"), // ...and a monthly cap
	}

	set, err := policy.NewSet(lim, monthly)
	if err != nil {
		log.Fatal(err)
	}
	w := do(policy.Middleware(set)(api), "192.0.2.1:1", withUser("alice", nil))
	fmt.Println(w.Header().Get("RateLimit-Policy"))
	// Output: "monthly";q=10;w=1, "monthly/quota";q=5000
}

func Example_deny() {
	lim := sluice.New(nil, sluice.Config{})
	defer lim.Close()

	guarded := &policy.Policy{
		Name:  "guarded",
		By:    policy.ByUser,
		Limit: sluice.MustParseLimit("100/1m"),
		Deny: policy.Deny{
			IPs:           []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")},
			Identifiers:   []string{"mallory"},
			UserAgents:    []string{"BadBot"},
			Countries:     []string{"KP"},
			CountryHeader: "CF-IPCountry",
		},
	}
	observer := policy.ObserverFunc(func(ctx context.Context, e policy.Event) {
		// e.By is a fit metric label; e.Identity is for analytics only.
		fmt.Println(e.Policy, e.By, e.Decision.Reason, e.DenyList)
	})

	set, err := policy.NewSetWith(lim, policy.Options{Observer: observer}, guarded)
	if err != nil {
		log.Fatal(err)
	}
	w := do(policy.Middleware(set)(api), "198.51.100.9:1", withUser("alice", nil))
	fmt.Println(w.Code)
	// Output:
	// guarded user denied ip
	// 403
}

func Example_gateway() {
	lim := sluice.New(nil, sluice.Config{})
	defer lim.Close()
	set, err := policy.NewSet(lim, &policy.Policy{Name: "usage", By: policy.ByAll,
		Counters: []policy.Counter{{Name: "compute", Limit: sluice.MustParseLimit("100/1m")}}})
	if err != nil {
		log.Fatal(err)
	}
	upstreamServer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Sluice-Increments", "compute=30")
	}))
	defer upstreamServer.Close()
	upstream, _ := url.Parse(upstreamServer.URL)

	gateway := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		call, r, ok := set.Check(w, r)
		if !ok {
			return // 401, 403, 429 or 503 is written
		}
		proxy := &httputil.ReverseProxy{
			Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(upstream) },
			ModifyResponse: func(resp *http.Response) error {
				call.Finish(resp.Header) // charges Sluice-Increments, adds the headers
				return nil
			},
			ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
				call.Finish(w.Header())
				w.WriteHeader(http.StatusBadGateway)
			},
		}
		proxy.ServeHTTP(w, r)
	})

	w := do(gateway, "192.0.2.1:1")
	fmt.Println(w.Code, w.Header().Get("RateLimit-Policy"), w.Header().Get("Sluice-Increments") == "")
	// Output: 200 "usage/compute";q=100;w=60 true
}
