// Package rules holds the stored rate-limit rules: which limit applies to
// whom. A Rule names a key type (user_id, ip, api_key, route, plan, global)
// and a value (exact, "*", a CIDR for ip, a path pattern for route), and
// the limit that applies. Rules live in a Repository (rules/sqlite,
// rules/postgres; rules/rulesdb opens either from a DSN), change at run time
// through the admin API, and are resolved per request by a cached Resolver.
//
// Rule.Validate checks a rule field by field (errors are *ValidationError,
// wrapping ErrInvalid), Rule.Canonical gives the form repositories store,
// Rule.AlgorithmLimit the algorithm.Limit a rule applies, and ParsePattern
// the route patterns route rules match.
package rules

import "time"

// KeyType is what a rule's key_value is matched against.
type KeyType string

// The key types.
const (
	KeyUserID KeyType = "user_id"
	KeyIP     KeyType = "ip"
	KeyAPIKey KeyType = "api_key"
	KeyRoute  KeyType = "route"
	KeyPlan   KeyType = "plan"
	KeyGlobal KeyType = "global"
)

// Rule is one stored rate-limit rule: Limit requests per WindowSeconds,
// counted by Algorithm, for callers whose KeyType attribute matches
// KeyValue. See Validate for what each field accepts, Canonical for the form
// repositories store, and AlgorithmLimit for the algorithm.Limit it applies.
type Rule struct {
	// ID is a UUID, assigned by the repository when a rule is created
	// without one.
	ID string `json:"id"`
	// KeyType is the caller attribute the rule matches.
	KeyType KeyType `json:"key_type"`
	// KeyValue is the value matched: exact text, "*" for any, an address or
	// CIDR prefix for ip, a path pattern (see Pattern) for route, "*" for
	// global.
	KeyValue string `json:"key_value"`
	// Method restricts a route rule to one HTTP method; empty means any.
	Method string `json:"method,omitempty"`
	// Plan restricts the rule to callers on that plan; empty means any.
	Plan string `json:"plan,omitempty"`
	// Limit is how many requests are allowed per window (per calendar
	// period for quota; the refill rate for token_bucket and gcra).
	Limit int64 `json:"limit"`
	// WindowSeconds is the window's length in seconds; for quota it names a
	// calendar period (QuotaDaySeconds, QuotaWeekSeconds, QuotaMonthSeconds)
	// in TimeZone.
	WindowSeconds int64 `json:"window_seconds"`
	// Algorithm names the algorithm; empty means sliding_window.
	// Repositories store the name, never the empty string.
	Algorithm string `json:"algorithm"`
	// Burst is the capacity of token_bucket and gcra (0 means Limit); 0 for
	// every other algorithm.
	Burst int64 `json:"burst,omitempty"`
	// TimeZone is the IANA time zone, such as Europe/Berlin, whose calendar
	// a quota's days, weeks and months follow; empty means UTC. Only quota
	// rules may set it. It is stored as given ("UTC" stays "UTC").
	TimeZone string `json:"timezone,omitempty"`
	// Enabled rules are in force; disabled ones are kept but ignored.
	Enabled bool `json:"enabled"`
	// Shadow rules are evaluated and recorded but never block.
	Shadow bool `json:"shadow"`
	// Priority orders rules that match the same caller: higher wins.
	Priority int `json:"priority"`
	// Description is free text for people, at most MaxDescriptionLen bytes.
	Description string `json:"description,omitempty"`
	// CreatedAt is when the rule was created (UTC, microseconds), set by
	// the repository.
	CreatedAt time.Time `json:"created_at"`
	// UpdatedAt is when the rule last changed (UTC, microseconds), set by
	// the repository.
	UpdatedAt time.Time `json:"updated_at"`
}
