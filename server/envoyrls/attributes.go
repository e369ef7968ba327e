package envoyrls

import (
	"strings"

	"github.com/sluicehq/sluice/rules"
)

// attributes maps the entries of a request descriptor to the attributes
// of the stored rules, for descriptors no configured descriptor matches.
// The keys are those Envoy's rate-limit actions produce, or that users
// choose with request_headers and generic_key actions:
//
//	remote_address                    → ip
//	user_id, user, x-user-id          → user_id
//	api_key, x-api-key                → api_key
//	path, route, :path                → route (without the query string)
//	method, :method                   → method
//	plan, x-plan                      → plan
//
// Keys are compared case-insensitively. It reports false when no entry
// maps to an attribute: such a descriptor is not resolved against rules
// (else every unmatched descriptor would meet the global rules).
func attributes(entries []entry) (rules.Attributes, bool) {
	var a rules.Attributes
	found := false
	for _, e := range entries {
		if e.value == "" {
			continue
		}
		switch strings.ToLower(e.key) {
		case "remote_address":
			a.IP = e.value
		case "user_id", "user", "x-user-id":
			a.UserID = e.value
		case "api_key", "x-api-key":
			a.APIKey = e.value
		case "path", "route", ":path":
			a.Route, _, _ = strings.Cut(e.value, "?")
		case "method", ":method":
			a.Method = e.value
		case "plan", "x-plan":
			a.Plan = e.value
		default:
			continue
		}
		found = true
	}
	return a, found
}
