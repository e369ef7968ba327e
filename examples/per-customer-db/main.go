// Command per-customer-db limits each customer by its own allowance, kept in
// a database (seed 000): a SQLite file of rules, read through Sluice's
// cached rules resolver so that no request waits on the database, with a
// fallback allowance while the database cannot be read. A customer's row
// changes take effect at the next refresh (every minute, or at once when
// the process is told to).
//
//	go run ./examples/per-customer-db -db customers.db
//	curl -i -H 'Authorization: Bearer key-acme' http://127.0.0.1:8080/v1/orders
//	sluice rules --db customers.db ...   # change a customer's allowance
package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"log"
	"net/http"
	"strings"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/policy"
	"github.com/sluicehq/sluice/rules"
	"github.com/sluicehq/sluice/rules/rulesdb"
)

// apiKeys maps API keys to their metadata: which customer they belong to.
var apiKeys = map[string]policy.User{
	"key-acme":   {Subject: "acme-ci-bot", Data: map[string]any{policy.DataCustomerID: "acme"}},
	"key-globex": {Subject: "globex-app", Data: map[string]any{policy.DataCustomerID: "globex"}},
}

// demoRules are the customer allowances main stores in a new database:
// acme has its own row, every other customer the default one.
var demoRules = []rules.Rule{
	{KeyType: rules.KeyUserID, KeyValue: "acme", Limit: 5, WindowSeconds: 60, Enabled: true, Description: "acme's contract"},
	{KeyType: rules.KeyUserID, KeyValue: rules.Wildcard, Limit: 2, WindowSeconds: 60, Enabled: true, Description: "default per customer"},
}

// fallback applies while the database was never read: 100 a minute per
// customer, rather than no limit or no service.
var fallback = []rules.Rule{{KeyType: rules.KeyUserID, KeyValue: rules.Wildcard, Limit: 100, WindowSeconds: 60}}

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	dsn := flag.String("db", "customers.db", "rules database (SQLite file or postgres:// URL)")
	flag.Parse()
	ctx := context.Background()
	repo, err := rulesdb.Open(ctx, *dsn, rulesdb.Options{Migrate: true})
	if err != nil {
		log.Fatal(err)
	}
	defer repo.Close()
	for _, r := range demoRules {
		if _, err := repo.Create(ctx, r, "example"); err != nil && !errors.Is(err, rules.ErrConflict) {
			log.Fatal(err)
		}
	}
	lim := sluice.New(nil, sluice.Config{Timeout: 50 * time.Millisecond})
	defer lim.Close()
	h, resolver, err := newHandler(lim, repo, time.Minute)
	if err != nil {
		log.Fatal(err)
	}
	defer resolver.Close()
	srv := &http.Server{Addr: *addr, Handler: h, ReadHeaderTimeout: 5 * time.Second}
	log.Printf("listening on http://%s", *addr)
	log.Fatal(srv.ListenAndServe())
}

// newHandler returns the API limited per customer by the rules in repo,
// reloaded every ttl, and the resolver, which the caller closes.
func newHandler(lim *sluice.Limiter, repo rules.Repository, ttl time.Duration) (http.Handler, *rules.Resolver, error) {
	resolver, err := rules.NewResolver(repo, rules.ResolverConfig{TTL: ttl, Fallback: fallback})
	if err != nil {
		return nil, nil, err
	}
	perCustomer := &policy.Policy{
		Name:  "per-customer",
		By:    policy.ByRules,
		Rules: resolver,
		// The rules' user_id is the customer the API key belongs to, so
		// all of a customer's keys share its allowance.
		Attributes: func(r *http.Request, a *rules.Attributes) {
			u, _ := policy.UserFrom(r.Context())
			a.UserID, _ = u.Data[policy.DataCustomerID].(string)
		},
	}
	set, err := policy.NewSet(lim, perCustomer)
	if err != nil {
		_ = resolver.Close()
		return nil, nil, err
	}
	api := http.NewServeMux()
	api.HandleFunc("GET /v1/orders", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"orders":[]}`+"\n")
	})
	return authenticate(policy.Middleware(set)(api)), resolver, nil
}

// authenticate answers 401 without a known API key and sets the key's user
// and metadata otherwise.
func authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		u, ok := apiKeys[key]
		if !ok {
			http.Error(w, "an API key is required", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r.WithContext(policy.WithUser(r.Context(), u)))
	})
}
