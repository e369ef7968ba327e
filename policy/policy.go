package policy

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/rules"
)

// ErrInvalidPolicy is wrapped by every error about a malformed Policy or Set.
var ErrInvalidPolicy = errors.New("invalid policy")

// Policy is a named way to limit HTTP traffic: how the caller is identified
// (By), how much each caller may do (Limit, Counters, Quota), and what
// happens at the edges (HeaderMode, Mode, ThrowOnFailure, Deny). A Policy is
// read, never modified, once it is in a Set; one Policy may be shared by
// several Sets (routes), which then share its counters.
type Policy struct {
	// Name identifies the policy in counter keys, headers, problem bodies
	// and metrics: 1 to 64 letters, digits, '.', '_' or '-'. Required.
	Name string
	// By is how the caller is identified (rateLimitBy). Required.
	By By
	// Limit is the policy's limit, such as sluice.MustParseLimit("100/1m").
	// The zero Limit means none: then Counters, Quota, Rules or a Func
	// returning the limit must say how much is allowed.
	Limit sluice.Limit
	// Cost is how much one request takes from Limit and from each of
	// Counters; zero means 1. ReadOnly makes it 0.
	Cost int64
	// ReadOnly makes the policy only read its counters (cost 0): a request
	// passes while the counter has room for one more call and takes nothing.
	ReadOnly bool
	// Counters makes the policy a complex policy: several named counters,
	// such as requests and compute, each with its own limit. Each is checked
	// and reserved (Cost) before the handler and charged its increment after
	// the response; see SetIncrement.
	Counters []Counter
	// Quota, when not the zero Limit, is a usage cap per calendar period
	// (algorithm sluice.Quota, such as "5000/month tz=Europe/Berlin")
	// charged with the policy's other limits.
	Quota sluice.Limit
	// Func identifies the caller for By == ByFunction; see Func and
	// CompileCEL.
	Func Func
	// Rules resolves the limits of By == ByRules from the stored rules.
	// The policy's own Limit, Counters and Quota, if any, apply on top, per
	// caller: the user, else the API key, else the client address.
	Rules *rules.Resolver
	// Attributes, when set, adjusts the rules attributes of a request for
	// By == ByRules after the defaults (see RulesAttributes) are filled in.
	Attributes func(r *http.Request, a *rules.Attributes)
	// HeaderMode says whether a 429 carries Retry-After.
	HeaderMode HeaderMode
	// Mode is strict (the default) or async.
	Mode Mode
	// ThrowOnFailure answers 503 when the store fails or a Func errs;
	// false (the default) lets the request through (fail-open).
	ThrowOnFailure bool
	// Deny lists callers refused outright with 403.
	Deny Deny
}

// Counter is one named counter of a complex policy.
type Counter struct {
	// Name is the counter's name, as SetIncrement and the Sluice-Increments
	// header give it: 1 to 64 letters, digits, '.', '_' or '-'.
	Name string
	// Limit is the counter's limit.
	Limit sluice.Limit
}

// Details is what a Func returns for one request: the caller's key and,
// optionally, a limit of its own (Zuplo's CustomRateLimitDetails).
type Details struct {
	// Key identifies the caller; the counter is the policy's name plus Key.
	// An empty Key skips the request, as a nil *Details does.
	Key string
	// RequestsAllowed, when not zero, replaces the Requests of the policy's
	// Limit for this request.
	RequestsAllowed int64
	// TimeWindow, when not zero, replaces the Window of the policy's Limit
	// for this request.
	TimeWindow time.Duration
}

// Func identifies the caller of a request for a ByFunction policy. It
// returns nil, nil to skip the request (health checks, privileged
// callers): nothing is counted and the reason is skipped. An error is a
// failure, handled as ThrowOnFailure says. The authenticated user, if any,
// is UserFrom(r.Context()). A Func must be safe for concurrent use.
type Func func(r *http.Request) (*Details, error)

// cost is the cost of one request.
func (p *Policy) cost() int64 {
	switch {
	case p.ReadOnly:
		return 0
	case p.Cost == 0:
		return 1
	}
	return p.Cost
}

// validate checks the policy on its own.
func (p *Policy) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: policy %q: "+format, append([]any{ErrInvalidPolicy, p.Name}, args...)...)
	}
	if !validName(p.Name) {
		return bad("a policy name is 1 to 64 letters, digits, '.', '_' or '-'")
	}
	if !p.By.valid() {
		return bad("By must be ByIP, ByUser, ByFunction, ByAll or ByRules")
	}
	if !p.HeaderMode.valid() || !p.Mode.valid() {
		return bad("unknown HeaderMode or Mode")
	}
	if p.Cost < 0 {
		return bad("cost %d is negative (0 means 1; ReadOnly only reads)", p.Cost)
	}
	if (p.By == ByFunction) != (p.Func != nil) {
		return bad("Func is required with ByFunction and applies only to it")
	}
	if (p.By == ByRules) != (p.Rules != nil) {
		return bad("Rules is required with ByRules and applies only to it")
	}
	if p.Limit != (sluice.Limit{}) {
		if len(p.Counters) > 0 {
			return bad("Limit and Counters exclude each other: a complex policy's limits are its counters")
		}
		if err := p.Limit.Validate(); err != nil {
			return bad("limit: %w", err)
		}
	}
	seen := map[string]bool{}
	for _, c := range p.Counters {
		if !validName(c.Name) {
			return bad("counter %q: a counter name is 1 to 64 letters, digits, '.', '_' or '-'", c.Name)
		}
		if seen[c.Name] {
			return bad("counter %q is named twice", c.Name)
		}
		seen[c.Name] = true
		if err := c.Limit.Validate(); err != nil {
			return bad("counter %q: %w", c.Name, err)
		}
	}
	if p.Quota != (sluice.Limit{}) {
		if err := p.Quota.Validate(); err != nil {
			return bad("quota: %w", err)
		}
		if p.Quota.Algorithm != sluice.Quota {
			return bad("quota must use the quota algorithm, such as \"5000/month\", not %s", p.Quota.Algorithm)
		}
	}
	if p.Limit == (sluice.Limit{}) && len(p.Counters) == 0 && p.Quota == (sluice.Limit{}) && p.By != ByRules && p.By != ByFunction {
		return bad("has no limit: set Limit, Counters or Quota")
	}
	if err := p.Deny.validate(); err != nil {
		return bad("deny: %w", err)
	}
	return nil
}

// validName reports whether s is a name of a policy or counter.
func validName(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// QuotaCounter is the counter name CounterKey takes for a policy's Quota.
// No counter of a complex policy can have it.
const QuotaCounter = "#quota"

// CounterKey returns the key of a caller's counter under the policy, for
// code that reads, charges or resets it directly with the Limiter (a
// successful login resetting failed attempts): counter "" is the policy's
// Limit, a counter name one of its Counters, QuotaCounter its Quota.
// identity is the caller as the policy identifies it (see Deny.Identifiers)
// and is ignored for ByAll. The keys are sluice.Key(name, identity),
// sluice.Key(name, counter, identity) and sluice.Key(name, "#quota",
// identity) (without identity for ByAll); a rules policy's counters are
// sluice.Key(name, match.Key).
func (p *Policy) CounterKey(counter, identity string) string {
	keyed := p.By != ByAll
	switch {
	case counter == "" && keyed:
		return sluice.Key(p.Name, identity)
	case counter == "":
		return sluice.Key(p.Name)
	case keyed:
		return sluice.Key(p.Name, counter, identity)
	}
	return sluice.Key(p.Name, counter)
}
