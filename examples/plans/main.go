// Command plans gives free and paid customers different limits on the same
// API (10 requests per 10 seconds on the free plan, 60 on the paid one),
// refuses callers on deny lists outright, and keeps per-customer analytics
// of what was allowed, limited and denied.
//
//	go run ./examples/plans
//	curl -i -H 'Authorization: Bearer key-free' http://127.0.0.1:8080/v1/data
//	curl http://127.0.0.1:8080/analytics
package main

import (
	"context"
	"encoding/json"
	"flag"
	"io"
	"log"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/policy"
)

// customers maps API keys to customers and their plans.
var customers = map[string]policy.User{
	"key-free": {Subject: "cust_free", Data: map[string]any{policy.DataPlan: "free"}},
	"key-paid": {Subject: "cust_paid", Data: map[string]any{policy.DataPlan: "paid"}},
}

// plans is the allowance per 10 seconds of each plan.
var plans = map[string]int64{"free": 10, "paid": 60}

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	flag.Parse()
	lim := sluice.New(nil, sluice.Config{Timeout: 50 * time.Millisecond})
	defer lim.Close()
	h, err := newHandler(lim, &analytics{})
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Addr: *addr, Handler: h, ReadHeaderTimeout: 5 * time.Second}
	log.Printf("listening on http://%s", *addr)
	log.Fatal(srv.ListenAndServe())
}

// newHandler returns the API, whose outcomes a records.
func newHandler(lim *sluice.Limiter, a *analytics) (http.Handler, error) {
	perPlan := &policy.Policy{
		Name:  "per-plan",
		By:    policy.ByFunction,
		Limit: sluice.MustParseLimit("10/10s"), // the free plan's, the default
		Func: func(r *http.Request) (*policy.Details, error) {
			u, _ := policy.UserFrom(r.Context())
			plan, _ := u.Data[policy.DataPlan].(string)
			return &policy.Details{Key: u.Subject, RequestsAllowed: plans[plan]}, nil
		},
		Deny: policy.Deny{
			UserAgents:    []string{"BadBot", "scrapy"},
			Countries:     []string{"XX"},
			CountryHeader: "CF-IPCountry",
		},
	}
	set, err := policy.NewSetWith(lim, policy.Options{Observer: a}, perPlan)
	if err != nil {
		return nil, err
	}
	api := http.NewServeMux()
	api.HandleFunc("GET /v1/data", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"data":[1,2,3]}`+"\n")
	})
	mux := http.NewServeMux()
	mux.Handle("/v1/", authenticate(policy.Middleware(set)(api)))
	mux.Handle("GET /analytics", a)
	return mux, nil
}

// authenticate answers 401 to requests without a known API key and sets
// the customer of the others.
func authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		u, ok := customers[key]
		if !ok {
			http.Error(w, "an API key is required", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r.WithContext(policy.WithUser(r.Context(), u)))
	})
}

// analytics counts outcomes per customer and reason: a policy.Observer,
// and an http.Handler serving the counts as JSON.
type analytics struct {
	mu     sync.Mutex
	counts map[string]map[string]int // identity → reason → count
}

// Observe implements policy.Observer.
func (a *analytics) Observe(_ context.Context, e policy.Event) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.counts == nil {
		a.counts = map[string]map[string]int{}
	}
	id := e.Identity
	if id == "" {
		id = "(" + e.DenyList + ")"
	}
	if a.counts[id] == nil {
		a.counts[id] = map[string]int{}
	}
	a.counts[id][e.Decision.Reason.String()]++
}

// ServeHTTP writes the counts.
func (a *analytics) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	a.mu.Lock()
	body, err := json.Marshal(a.counts)
	a.mu.Unlock()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(body)
}
