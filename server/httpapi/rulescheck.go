package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/rules"
)

// RulesRequest holds the attributes of one request to decide by the stored
// rules; empty fields are unknown and match no rule of their key type.
type RulesRequest struct {
	// UserID is the authenticated user.
	UserID string `json:"user_id,omitempty"`
	// IP is the caller's address, "203.0.113.7" or "2001:db8::1".
	IP string `json:"ip,omitempty"`
	// APIKey is the API key's public identifier (never the secret).
	APIKey string `json:"api_key,omitempty"`
	// Route is the request path without the query string: "/api/chat".
	Route string `json:"route,omitempty"`
	// Method is the HTTP method.
	Method string `json:"method,omitempty"`
	// Plan is the caller's plan: "free", "pro".
	Plan string `json:"plan,omitempty"`
	// Cost is what the call takes; nil means 1, 0 only reads.
	Cost *int64 `json:"cost,omitempty"`
}

// rulesRequestFields lists the fields of RulesRequest for error messages.
const rulesRequestFields = "user_id, ip, api_key, route, method, plan, cost"

// maxAttribute bounds each attribute, so that every counter key built from
// one stays under sluice.MaxKeyLength.
const maxAttribute = 512

// Validate checks the attributes, returning a *ValidationError naming
// every field in error.
func (q RulesRequest) Validate() error {
	var v ValidationError
	for _, f := range []struct{ name, value string }{
		{"user_id", q.UserID}, {"ip", q.IP}, {"api_key", q.APIKey}, {"route", q.Route}, {"method", q.Method}, {"plan", q.Plan},
	} {
		if len(f.value) > maxAttribute {
			v.add(f.name, "is %d bytes; at most %d are accepted", len(f.value), maxAttribute)
		}
	}
	if q.IP != "" {
		if _, err := netip.ParseAddr(q.IP); err != nil {
			v.add("ip", "%q is not an IP address; accepted: 203.0.113.7 or 2001:db8::1", truncate(q.IP, 64))
		}
	}
	if q.Route != "" && (!strings.HasPrefix(q.Route, "/") || strings.ContainsAny(q.Route, "?#")) {
		v.add("route", "%q is not a request path: it starts with '/' and has no query string", truncate(q.Route, 64))
	}
	if q.Method != "" && !validMethod(q.Method) {
		v.add("method", "%q is not an HTTP method such as GET or POST", truncate(q.Method, 64))
	}
	if q.Cost != nil && *q.Cost < 0 {
		v.add("cost", "%d is negative; a cost is 0 (read only) or more", *q.Cost)
	}
	return v.err()
}

// validMethod reports whether m is an HTTP method token of letters.
func validMethod(m string) bool {
	if len(m) > 20 {
		return false
	}
	for _, c := range []byte(m) {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z') {
			return false
		}
	}
	return true
}

// attributes returns q as rules.Attributes.
func (q RulesRequest) attributes() rules.Attributes {
	return rules.Attributes{UserID: q.UserID, IP: q.IP, APIKey: q.APIKey, Route: q.Route, Method: q.Method, Plan: q.Plan}
}

// RuleResult is one matching rule's decision.
type RuleResult struct {
	// Match is the rule that matched, its counter key and limit.
	Match rules.Match
	// Result is its decision; Shadow is set for a shadow rule that
	// denied, and under global shadow mode.
	Result Result
}

// RulesResult is the outcome of CheckRules.
type RulesResult struct {
	// Combined stands for the enforced rules: allowed only if every one
	// allowed; allowed with limit 0 when no rule applies.
	Combined Result
	// Rules are every matching rule, enforced first, then shadow rules.
	Rules []RuleResult
	// DeniedBy is the index in Rules of the rule that denied, or -1.
	DeniedBy int
	// Fallback reports that no rules were ever loaded and the resolver's
	// fallback rules answered.
	Fallback bool
}

// Policy labels of rule decisions in metrics.
const (
	policyRules       = "rules"
	policyShadowRules = "rules:shadow"
)

// CheckRules decides a call by the stored rules that match q. Every
// enforced rule is checked at once, all-or-nothing. Shadow rules are
// evaluated afterwards, each on its own, so they never take from the
// enforced rules' allowance, and never deny; when the enforced rules
// denied, shadow rules are only read (cost 0), since the call does not
// happen. Errors: a *ValidationError, ErrRulesNotConfigured, one wrapping
// sluice.ErrStoreUnavailable (fail-closed), or the context's.
func (d *Decider) CheckRules(ctx context.Context, protocol string, q RulesRequest) (RulesResult, error) {
	if d.res == nil {
		return RulesResult{}, ErrRulesNotConfigured
	}
	if err := q.Validate(); err != nil {
		return RulesResult{}, err
	}
	cost := int64(1)
	if q.Cost != nil {
		cost = *q.Cost
	}
	matches := d.res.Resolve(q.attributes(), nil)
	out := RulesResult{DeniedBy: -1, Rules: make([]RuleResult, 0, len(matches))}
	var reqs []sluice.Request
	for _, m := range matches {
		out.Fallback = out.Fallback || m.Fallback
		if !m.Shadow {
			out.Rules = append(out.Rules, RuleResult{Match: m})
			reqs = append(reqs, sluice.Request{Key: m.Key, Limit: m.Limit, Cost: cost})
		}
	}
	comb := sluice.Decision{Allowed: true, Reason: sluice.ReasonAllowed}
	if len(reqs) > 0 {
		start := time.Now()
		c, each, err := d.lim.AllowAll(ctx, reqs...)
		elapsed := time.Since(start)
		if err != nil {
			return RulesResult{}, d.storeError(protocol, reqs[0].Key, elapsed, err)
		}
		comb = c
		for i, e := range each {
			r := &out.Rules[i]
			r.Result = d.result(string(r.Match.KeyType), e)
			lat := time.Duration(0)
			if i == 0 {
				lat = storeTime(c, elapsed)
			}
			d.m.Observe(protocol, policyRules, r.Match.Rule.ID, e, lat)
			if !e.Allowed && e.Reason != sluice.ReasonSkipped && (out.DeniedBy < 0 || e == c) {
				out.DeniedBy = i
			}
		}
	}
	out.Combined = d.result("", comb)
	shadowCost := cost
	if !comb.Allowed {
		shadowCost = 0
	}
	for _, m := range matches {
		if m.Shadow {
			out.Rules = append(out.Rules, d.shadowRule(ctx, protocol, m, shadowCost))
		}
	}
	return out, nil
}

// shadowRule evaluates one shadow rule on its own. A store failure is
// recorded in its decision, never returned: a shadow rule never fails the
// call.
func (d *Decider) shadowRule(ctx context.Context, protocol string, m rules.Match, cost int64) RuleResult {
	start := time.Now()
	dec, err := d.lim.AllowN(ctx, m.Key, m.Limit, cost)
	elapsed := time.Since(start)
	if err != nil {
		reason := sluice.ReasonStoreError
		if errors.Is(err, context.DeadlineExceeded) {
			reason = sluice.ReasonTimeout
		}
		dec = sluice.Decision{Limit: m.Limit.Capacity(), Reason: reason}
		d.log.Warn("shadow rule not evaluated: store failed", "rule", m.Rule.ID, "err", fmt.Errorf("shadow rule: %w", err))
	}
	d.m.Observe(protocol, policyShadowRules, m.Rule.ID, dec, storeTime(dec, elapsed))
	return RuleResult{Match: m, Result: Result{Name: string(m.KeyType), Decision: dec, Shadow: !dec.Allowed}}
}
