package config

import (
	"fmt"
	"time"

	"github.com/sluicehq/sluice"
)

// The values of Policy.RateLimitBy: how a policy identifies the caller
// whose counter a request takes from.
const (
	ByIP       = "ip"       // the client address (see Gateway.TrustedProxies, IPv6Prefix)
	ByUser     = "user"     // the authenticated user's subject
	ByFunction = "function" // the key an Identifier expression returns
	ByAll      = "all"      // one counter shared by every request to the route
	ByRules    = "rules"    // the rules database decides the limit per caller
)

// The values of Policy.HeaderMode.
const (
	HeaderRetryAfter = "retry-after"
	HeaderNone       = "none"
)

// The values of Policy.Mode.
const (
	ModeStrict = "strict"
	ModeAsync  = "async"
)

// Policy is a named way to limit HTTP traffic, applied to routes by name.
// The options the Zuplo rate-limit policies have keep Zuplo's names
// (rateLimitBy, requestsAllowed, timeWindowMinutes, headerMode, mode,
// throwOnFailure, identifier), so their configuration ports as is; options
// of Sluice's own are snake_case.
//
// The limit is written either as RequestsAllowed per TimeWindowMinutes (with
// Algorithm) or as Limit text, or as named Counters (a complex policy);
// Quota adds a calendar cap on top.
type Policy struct {
	// Name identifies the policy in routes, metrics and counter keys.
	// Required, unique: letters, digits, '.', '_', '-'.
	Name string `yaml:"name"`
	// RateLimitBy is how the caller is identified: ip, user, function,
	// all or rules. Required.
	RateLimitBy string `yaml:"rateLimitBy"`
	// RequestsAllowed per TimeWindowMinutes is the policy's limit.
	RequestsAllowed int64 `yaml:"requestsAllowed"`
	// TimeWindowMinutes is the window of RequestsAllowed and of Counters,
	// in minutes (fractions allowed: 0.5 is 30s).
	TimeWindowMinutes float64 `yaml:"timeWindowMinutes"`
	// Limit is the limit as text, such as "100/1m" or "10/s token_bucket
	// burst=20": an alternative to RequestsAllowed and TimeWindowMinutes.
	Limit string `yaml:"limit"`
	// Algorithm of RequestsAllowed and Counters: sliding_window (default),
	// fixed_window, token_bucket, gcra or counter.
	Algorithm string `yaml:"algorithm"`
	// Cost is how much one request takes from each counter. Default 1; 0
	// only reads.
	Cost *int64 `yaml:"cost"`
	// HeaderMode is retry-after (default: 429s carry Retry-After) or none.
	HeaderMode string `yaml:"headerMode"`
	// Mode is strict (default: the request waits for the decision) or
	// async (the request proceeds while the decision is made; a few calls
	// may pass over the limit).
	Mode string `yaml:"mode"`
	// ThrowOnFailure answers an error when the store fails (fail-closed);
	// default false lets requests through (fail-open).
	ThrowOnFailure bool `yaml:"throwOnFailure"`
	// Identifier is a CEL expression returning the caller's key, required
	// for rateLimitBy function, such as `request.headers["x-customer-id"]`.
	Identifier string `yaml:"identifier"`
	// Counters are the named counters of a complex policy, each with its
	// allowance per TimeWindowMinutes, such as {requests: 100, compute: 500}.
	Counters map[string]int64 `yaml:"counters"`
	// Quota is a calendar cap applied with the limit.
	Quota *Quota `yaml:"quota"`
	// Deny lists callers refused outright (403, reason denied).
	Deny Deny `yaml:"deny"`
}

// Quota is a usage cap per calendar period.
type Quota struct {
	// Requests is the allowance per period. Required.
	Requests int64 `yaml:"requests"`
	// Period is day, week or month. Required.
	Period string `yaml:"period"`
	// TZ is the IANA time zone periods begin in, such as Europe/Berlin.
	// Default UTC.
	TZ string `yaml:"tz"`
}

// Deny lists callers a policy refuses before counting.
type Deny struct {
	// IPs are addresses and CIDR prefixes.
	IPs []string `yaml:"ips"`
	// Identifiers are caller keys (the policy's identity of the caller).
	Identifiers []string `yaml:"identifiers"`
	// UserAgents are substrings of User-Agent, matched case-insensitively.
	UserAgents []string `yaml:"user_agents"`
	// Countries are ISO 3166-1 alpha-2 codes, read from CountryHeader.
	Countries []string `yaml:"countries"`
	// CountryHeader is the request header carrying the caller's country,
	// set by a CDN in front (such as CF-IPCountry). Required with Countries.
	CountryHeader string `yaml:"country_header"`
}

// Route sends requests matching Path (and Methods) to Upstream through
// Policies.
type Route struct {
	// Path is a route pattern: /api/chat, /users/{id}, /api/* (one or more
	// segments), /api/** (any suffix). Required.
	Path string `yaml:"path"`
	// Methods restricts the route to these HTTP methods. Default: any.
	Methods []string `yaml:"methods"`
	// Upstream is the http:// or https:// URL requests are proxied to.
	// Required.
	Upstream string `yaml:"upstream"`
	// Policies are applied in order, by name.
	Policies []string `yaml:"policies"`
	// Auth is how callers authenticate before the policies: none
	// (default), api_key, jwt or any (an API key or a JWT).
	Auth string `yaml:"auth"`
	// PreserveHost sends the caller's Host header upstream instead of the
	// upstream's host. Default false.
	PreserveHost bool `yaml:"preserve_host"`
}

// RateLimit returns the policy's limit: Limit text parsed, or
// RequestsAllowed per TimeWindowMinutes under Algorithm. ok is false when
// the policy has neither (a complex or rules policy).
func (p Policy) RateLimit() (l sluice.Limit, ok bool, err error) {
	switch {
	case p.Limit != "":
		l, err = sluice.ParseLimit(p.Limit)
		return l, true, err
	case p.RequestsAllowed != 0:
		l, err = p.counterLimit(p.RequestsAllowed)
		return l, true, err
	}
	return sluice.Limit{}, false, nil
}

// CounterLimit returns the limit of the named counter of a complex policy.
func (p Policy) CounterLimit(name string) (sluice.Limit, error) {
	n, ok := p.Counters[name]
	if !ok {
		return sluice.Limit{}, fmt.Errorf("policy %q has no counter %q", p.Name, name)
	}
	return p.counterLimit(n)
}

// counterLimit is requests per TimeWindowMinutes under Algorithm.
func (p Policy) counterLimit(requests int64) (sluice.Limit, error) {
	var a sluice.Algorithm
	if err := a.UnmarshalText([]byte(p.Algorithm)); err != nil {
		return sluice.Limit{}, err
	}
	w := time.Duration(p.TimeWindowMinutes * float64(time.Minute)).Round(time.Microsecond)
	l := sluice.Limit{Requests: requests, Window: w, Algorithm: a}
	return l, l.Validate()
}

// Increment returns the cost one request takes: Cost, default 1.
func (p Policy) Increment() int64 {
	if p.Cost == nil {
		return 1
	}
	return *p.Cost
}

// QuotaLimit returns the quota as a Limit; ok is false without a quota.
func (q *Quota) QuotaLimit() (l sluice.Limit, ok bool, err error) {
	if q == nil {
		return sluice.Limit{}, false, nil
	}
	text := fmt.Sprintf("%d/%s quota", q.Requests, q.Period)
	if q.TZ != "" {
		text += " tz=" + q.TZ
	}
	l, err = sluice.ParseLimit(text)
	return l, true, err
}
