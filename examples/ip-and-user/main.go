// Command ip-and-user stacks two rate-limit policies on one route: a
// per-address limit that protects the API from any single network (even
// before authentication), and a per-user limit that is fair to each
// authenticated caller wherever they connect from. A request is counted
// only if both pass.
//
//	go run ./examples/ip-and-user
//	curl -i -H 'Authorization: Bearer key-alice' http://127.0.0.1:8080/v1/items
package main

import (
	"flag"
	"io"
	"log"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/policy"
)

// apiKeys maps API keys to their users. A real program looks them up in a
// database, or lets Sluice's gateway authenticate.
var apiKeys = map[string]string{"key-alice": "alice", "key-bob": "bob", "key-carol": "carol", "key-dave": "dave", "key-erin": "erin"}

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	flag.Parse()
	lim := sluice.New(nil, sluice.Config{Timeout: 50 * time.Millisecond})
	defer lim.Close()
	h, err := newHandler(lim)
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Addr: *addr, Handler: h, ReadHeaderTimeout: 5 * time.Second}
	log.Printf("listening on http://%s", *addr)
	log.Fatal(srv.ListenAndServe())
}

// newHandler returns the API: authentication, then the two policies, then
// the route.
func newHandler(lim *sluice.Limiter) (http.Handler, error) {
	set, err := policy.NewSetWith(lim, policy.Options{
		// The load balancer in front; its X-Forwarded-For is believed, a
		// client's is not.
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
	},
		&policy.Policy{Name: "per-ip", By: policy.ByIP, Limit: sluice.MustParseLimit("20/1m")},
		&policy.Policy{Name: "per-user", By: policy.ByUser, Limit: sluice.MustParseLimit("5/1m")},
	)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/items", func(w http.ResponseWriter, r *http.Request) {
		u, _ := policy.UserFrom(r.Context())
		_, _ = io.WriteString(w, "items for "+u.Subject+"\n")
	})
	return authenticate(policy.Middleware(set)(mux)), nil
}

// authenticate sets the user of a request with a known API key. Requests
// without one go on anonymous: the per-user policy answers them 401.
func authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if sub, known := apiKeys[key]; ok && known {
			r = r.WithContext(policy.WithUser(r.Context(), policy.User{Subject: sub}))
		}
		next.ServeHTTP(w, r)
	})
}
