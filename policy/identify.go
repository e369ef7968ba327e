package policy

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/rules"
)

// The keys of User.Data that policies read. The authentication step that
// sets the User should fill them in when it knows them.
const (
	// DataPlan is the caller's plan ("free", "pro"), a string: the plan
	// attribute of ByRules policies.
	DataPlan = "plan"
	// DataAPIKeyID is the public identifier (never the secret) of the API
	// key the caller used, a string: the api_key attribute of ByRules.
	DataAPIKeyID = "apiKeyId"
	// DataCustomerID is the customer the caller belongs to, a string, for
	// functions and CEL expressions to read.
	DataCustomerID = "customerId"
)

// errNoUser marks a ByUser (or user-keyed) policy without a user: 401.
var errNoUser = errors.New("the request has no authenticated user")

// identity is how one policy sees one request.
type identity struct {
	id      string        // the caller, for events and deny lists
	limit   sluice.Limit  // the main limit, zero for none
	matches []rules.Match // ByRules
	skip    bool          // count nothing
}

// identify finds the caller of r for policy e. An error is errNoUser or a
// failure of the policy's Func or of its input.
func (s *Set) identify(e *entry, r *http.Request, ip func() netip.Addr) (identity, error) {
	out := identity{limit: e.Limit}
	switch e.By {
	case ByIP:
		out.id = ipIdentity(ip(), s.v6bits)
	case ByUser:
		u, ok := UserFrom(r.Context())
		if !ok {
			return out, errNoUser
		}
		out.id = u.Subject
	case ByAll:
		return out, nil
	case ByFunction:
		d, err := e.Func(r)
		if err != nil {
			return out, fmt.Errorf("policy %q: function: %w", e.Name, err)
		}
		if d == nil || d.Key == "" {
			out.skip = true
			return out, nil
		}
		out.id = d.Key
		if d.RequestsAllowed != 0 || d.TimeWindow != 0 {
			if d.RequestsAllowed != 0 {
				out.limit.Requests = d.RequestsAllowed
			}
			if d.TimeWindow != 0 {
				out.limit.Window = d.TimeWindow
			}
			if err := out.limit.Validate(); err != nil {
				return out, fmt.Errorf("policy %q: function returned a bad limit: %w", e.Name, err)
			}
		}
		if out.limit == (sluice.Limit{}) && len(e.Counters) == 0 && e.Quota == (sluice.Limit{}) {
			return out, fmt.Errorf("policy %q: the function returned no requestsAllowed and timeWindow, and the policy has no limit", e.Name)
		}
	case ByRules:
		u, _ := UserFrom(r.Context())
		a := RulesAttributes(r, u, ip())
		if e.Attributes != nil {
			e.Attributes(r, &a)
		}
		out.matches = e.Rules.Resolve(a, nil)
		out.skip = len(out.matches) == 0 && e.Limit == (sluice.Limit{}) && len(e.Counters) == 0 && e.Quota == (sluice.Limit{})
		for _, v := range []string{a.UserID, a.APIKey, a.IP} {
			if v != "" {
				out.id = v
				break
			}
		}
		return out, nil
	}
	return out, nil
}

// RulesAttributes returns the rules attributes of a request: UserID is the
// user's Subject, IP the client address, APIKey and Plan the strings in
// u.Data[DataAPIKeyID] and u.Data[DataPlan], Route the path and Method the
// method. A ByRules policy resolves its limits with them (after its
// Attributes hook, if any).
func RulesAttributes(r *http.Request, u User, ip netip.Addr) rules.Attributes {
	a := rules.Attributes{UserID: u.Subject, Route: r.URL.Path, Method: r.Method}
	if ip.IsValid() {
		a.IP = ip.String()
	}
	a.APIKey, _ = u.Data[DataAPIKeyID].(string)
	a.Plan, _ = u.Data[DataPlan].(string)
	return a
}
