// Package policy applies named rate-limit policies to HTTP requests: as
// net/http middleware in any Go program, and in Sluice's gateway around its
// reverse proxy. The policies follow Zuplo's rate-limit policies (seed 004)
// and add deny lists, calendar quotas and limits from the rules database.
//
// A Policy says how the caller is identified (By: ip, user, function, all
// or rules), how much it may do (Limit, the named Counters of a complex
// policy, a calendar Quota), and what happens at the edges (HeaderMode,
// Mode, ThrowOnFailure, Deny). A Set is the ordered policies of one route
// with the sluice.Limiter that keeps their counters; the counter of a
// caller under a policy is sluice.Key(policy name, caller...), so two
// policies never share a counter, nor two callers.
//
//	lim := sluice.New(nil, sluice.Config{})
//	set, err := policy.NewSet(lim,
//		&policy.Policy{Name: "per-ip", By: policy.ByIP, Limit: sluice.MustParseLimit("100/1m")},
//		&policy.Policy{Name: "per-user", By: policy.ByUser, Limit: sluice.MustParseLimit("1000/1h")},
//	)
//	if err != nil { ... }
//	http.ListenAndServe(addr, policy.Middleware(set)(mux))
//
// # What a request goes through
//
// For each policy in order: the deny lists (403, reason denied), then the
// caller's identity (401 when a ByUser policy finds no User; a Func may
// skip the request). Then every strict limit of every policy is taken at
// once with Limiter.AllowAll, all-or-nothing: the request is counted only
// if all pass, else it is answered 429 by the limit that must wait longest.
// Answers the Set writes itself are application/problem+json (Problem).
// Responses carry the IETF RateLimit and RateLimit-Policy headers (see
// Headers); a 429 carries Retry-After unless its policy's HeaderMode is
// HeaderModeNone.
//
// The authenticated user is set by the authentication step before the
// policies run, with WithUser; ByUser, ByRules and CEL expressions read it
// with UserFrom.
//
// # Using a Set around a reverse proxy
//
// Middleware is Check and Call around a handler. A gateway does the same
// around its proxy:
//
//	call, r, ok := set.Check(w, r)
//	if !ok {
//		return // the answer is written
//	}
//	proxy := &httputil.ReverseProxy{
//		Rewrite: ...,
//		ModifyResponse: func(resp *http.Response) error {
//			call.Finish(resp.Header) // reads and removes Sluice-Increments, charges, adds headers
//			return nil
//		},
//		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
//			call.Finish(w.Header())
//			w.WriteHeader(http.StatusBadGateway)
//		},
//	}
//	proxy.ServeHTTP(w, r)
//
// Finish must be called exactly once per admitted request (later calls do
// nothing). It waits for an async decision, so an async policy's headers
// are still exact.
//
// # Modes
//
// A Strict policy is decided before the handler runs. An Async policy is
// decided in a goroutine owned by the Call while the handler runs; when it
// finds the caller over the limit, the request already running completes,
// and the caller's later requests are refused at once (reason cache_block,
// no store round trip) until the retry time. The overshoot is therefore
// bounded by the requests a caller has in flight during one store round
// trip. Strict and async policies of one Set are decided in two groups,
// all-or-nothing within each.
//
// # Complex policies
//
// A policy with Counters has several named counters (requests, compute,
// ...), each with its own limit. Before the handler each counter is
// checked and reserved the policy's Cost (default 1; 0 only checks that it
// has room). The handler sets each counter's real increment with
// SetIncrement(r.Context(), "compute", 5), or an upstream answers with the
// header `Sluice-Increments: compute=5`; an unknown counter or a bad number
// is logged and ignored, never an error answer. After the response the
// difference between increment and reservation is taken (Limiter.AllowN)
// or given back (Limiter.Refund); a counter with less room than the
// difference is emptied, so the next request is refused.
//
// # Failures
//
// When the store fails or is slow (give the Limiter a Timeout), a policy
// lets requests through with reason timeout or store_error (fail-open) or,
// with ThrowOnFailure, answers 503. The same holds when a Func fails.
//
// # Observing
//
// An Observer (Options.Observer) is told each policy's outcome for each
// request, with the policy's name, the kind of identity (By, fit for a
// metric label), the identity itself (for analytics, never a label) and
// the decision.
package policy
