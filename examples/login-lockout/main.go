// Command login-lockout locks an account after three failed logins in a
// row, and clears the count on a successful login (seed 002's call_limit
// and reset_logs). The failures are a counter with no window: they stay
// until a success resets them, or until 15 minutes after the last one.
//
//	go run ./examples/login-lockout
//	curl -i -d email=alice@example.com -d password=wrong http://127.0.0.1:8080/login
package main

import (
	"crypto/subtle"
	"flag"
	"io"
	"log"
	"net/http"
	"strings"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/policy"
)

// passwords stands in for a user database (never store passwords in clear).
var passwords = map[string]string{"alice@example.com": "correct horse battery staple"}

// failures is the lockout limit: 3 failed logins, forgotten 15 minutes
// after the last one, or at once on a success.
var failures = sluice.MustParseLimit("3/15m counter")

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	flag.Parse()
	lim := sluice.New(nil, sluice.Config{Timeout: 50 * time.Millisecond, OnStoreError: sluice.FailLocal})
	defer lim.Close()
	h, err := newHandler(lim)
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Addr: *addr, Handler: h, ReadHeaderTimeout: 5 * time.Second}
	log.Printf("listening on http://%s", *addr)
	log.Fatal(srv.ListenAndServe())
}

// newHandler returns the login endpoint behind the lockout policy.
func newHandler(lim *sluice.Limiter) (http.Handler, error) {
	lockout := &policy.Policy{
		Name:  "login-failures",
		By:    policy.ByFunction,
		Limit: failures,
		// The policy only reads the count: a login is let through while
		// fewer than 3 failures are counted. The handler counts failures.
		ReadOnly: true,
		Func: func(r *http.Request) (*policy.Details, error) {
			email := account(r)
			if email == "" {
				return nil, nil // the handler answers 400
			}
			return &policy.Details{Key: email}, nil
		},
	}
	set, err := policy.NewSet(lim, lockout)
	if err != nil {
		return nil, err
	}
	login := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		email := account(r)
		if email == "" {
			http.Error(w, "email and password are required", http.StatusBadRequest)
			return
		}
		key := lockout.CounterKey("", email)
		want, known := passwords[email]
		if !known || subtle.ConstantTimeCompare([]byte(want), []byte(r.PostFormValue("password"))) != 1 {
			// Count the failure (call_limit).
			if _, err := lim.Allow(r.Context(), key, failures); err != nil {
				http.Error(w, "try again later", http.StatusServiceUnavailable)
				return
			}
			http.Error(w, "wrong email or password", http.StatusUnauthorized)
			return
		}
		// Success clears the failures (reset_logs).
		if err := lim.Reset(r.Context(), key); err != nil {
			log.Printf("reset %s: %v", email, err)
		}
		_, _ = io.WriteString(w, "welcome "+email+"\n")
	})
	mux := http.NewServeMux()
	mux.Handle("POST /login", policy.Middleware(set)(login))
	return mux, nil
}

// account returns the normalized email of a login form.
func account(r *http.Request) string {
	return strings.ToLower(strings.TrimSpace(r.PostFormValue("email")))
}
