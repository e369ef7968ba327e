// Command compute-units meters an API in two units at once, as seed 004's
// complex rate-limit policy does: every call takes one from "requests"
// (100 a minute), and each call's real work, known only once it is done,
// from "compute" (20 a minute). Handlers report the work with
// policy.SetIncrement; an upstream behind a reverse proxy reports it with
// the response header Sluice-Increments.
//
//	go run ./examples/compute-units
//	curl -i -H 'Authorization: Bearer key-alice' 'http://127.0.0.1:8080/v1/report?pages=5'
//	go run ./examples/compute-units -upstream http://127.0.0.1:9000   # also proxy /v1/upstream/
package main

import (
	"flag"
	"fmt"
	"log"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/policy"
)

// usage is the complex policy: two counters per user.
func usage() *policy.Policy {
	return &policy.Policy{
		Name: "usage",
		By:   policy.ByUser,
		Counters: []policy.Counter{
			{Name: "requests", Limit: sluice.MustParseLimit("100/1m")},
			{Name: "compute", Limit: sluice.MustParseLimit("20/1m")},
		},
	}
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	upstream := flag.String("upstream", "", "URL of an upstream to proxy /v1/upstream/ to (optional)")
	flag.Parse()
	lim := sluice.New(nil, sluice.Config{Timeout: 50 * time.Millisecond})
	defer lim.Close()
	h, err := newHandler(lim, *upstream)
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Addr: *addr, Handler: h, ReadHeaderTimeout: 5 * time.Second}
	log.Printf("listening on http://%s", *addr)
	log.Fatal(srv.ListenAndServe())
}

// newHandler returns the API; with an upstream URL it also proxies
// /v1/upstream/ there under the same policy.
func newHandler(lim *sluice.Limiter, upstream string) (http.Handler, error) {
	set, err := policy.NewSet(lim, usage())
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /v1/report", policy.Middleware(set)(http.HandlerFunc(report)))
	if upstream != "" {
		u, err := url.Parse(upstream)
		if err != nil {
			return nil, fmt.Errorf("upstream: %w", err)
		}
		mux.Handle("/v1/upstream/", proxy(set, u))
	}
	return authenticate(mux), nil
}

// report renders ?pages=N pages; each page costs one compute unit, charged
// after the work is done.
func report(w http.ResponseWriter, r *http.Request) {
	pages, err := strconv.Atoi(r.URL.Query().Get("pages"))
	if err != nil || pages < 0 || pages > 50 {
		http.Error(w, "pages must be 0 to 50", http.StatusBadRequest)
		return
	}
	if err := policy.SetIncrement(r.Context(), "compute", int64(pages)); err != nil {
		log.Print(err)
	}
	fmt.Fprintf(w, "rendered %d pages\n", pages)
}

// proxy forwards to upstream under set, the way Sluice's gateway does: Check
// before, Finish with the upstream's response header after. The upstream
// charges compute with a Sluice-Increments header, which never reaches the
// client.
func proxy(set *policy.Set, upstream *url.URL) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		call, r, ok := set.Check(w, r)
		if !ok {
			return
		}
		p := &httputil.ReverseProxy{
			Rewrite: func(pr *httputil.ProxyRequest) {
				pr.SetURL(upstream)
				pr.SetXForwarded()
			},
			ModifyResponse: func(resp *http.Response) error {
				call.Finish(resp.Header)
				return nil
			},
			ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
				call.Finish(w.Header())
				http.Error(w, "upstream unavailable", http.StatusBadGateway)
			},
		}
		p.ServeHTTP(w, r)
	})
}

// authenticate sets the user named by a bearer key "key-<name>"; a real
// program verifies the key.
func authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if name, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer key-"); ok && name != "" {
			r = r.WithContext(policy.WithUser(r.Context(), policy.User{Subject: name}))
		}
		next.ServeHTTP(w, r)
	})
}
