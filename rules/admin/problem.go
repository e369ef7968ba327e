package admin

import (
	"encoding/json"
	"net/http"

	"github.com/sluicehq/sluice/rules"
)

// ProblemContentType is the media type of every error response (RFC 9457).
const ProblemContentType = "application/problem+json"

// problemTypeBase prefixes the type URI of every problem; docs/api.md lists
// them under "Problems".
const problemTypeBase = "urn:sluice:problem:"

// The problem types, the last part of each problem's type URI.
const (
	ProblemInvalidRule      = "invalid-rule"
	ProblemInvalidJSON      = "invalid-json"
	ProblemInvalidQuery     = "invalid-query"
	ProblemUnauthorized     = "unauthorized"
	ProblemForbidden        = "forbidden"
	ProblemNotFound         = "not-found"
	ProblemMethodNotAllowed = "method-not-allowed"
	ProblemConflict         = "conflict"
	ProblemTooLarge         = "body-too-large"
	ProblemUnsupportedMedia = "unsupported-media-type"
	ProblemUnavailable      = "unavailable"
	ProblemInternal         = "internal"
)

// Problem is the body of every error response: an RFC 9457 problem detail,
// with Errors naming each field of the request that was wrong and the rule
// it broke.
type Problem struct {
	// Type is a URI naming the kind of problem: "urn:sluice:problem:" and
	// one of the Problem* constants.
	Type string `json:"type"`
	// Title is a short summary of the kind of problem.
	Title string `json:"title"`
	// Status is the HTTP status code.
	Status int `json:"status"`
	// Detail explains this occurrence.
	Detail string `json:"detail,omitempty"`
	// Instance is the request path.
	Instance string `json:"instance,omitempty"`
	// Errors lists the fields that were wrong; present on 400 responses.
	Errors []rules.FieldError `json:"errors,omitempty"`
}

// problemTitle returns the title of a problem type.
func problemTitle(kind string) string {
	switch kind {
	case ProblemInvalidRule:
		return "The rule is not valid"
	case ProblemInvalidJSON:
		return "The request body is not acceptable JSON"
	case ProblemInvalidQuery:
		return "The query parameters are not valid"
	case ProblemUnauthorized:
		return "Authentication required"
	case ProblemForbidden:
		return "The token may not make changes"
	case ProblemNotFound:
		return "Not found"
	case ProblemMethodNotAllowed:
		return "Method not allowed"
	case ProblemConflict:
		return "A conflicting rule exists"
	case ProblemTooLarge:
		return "The request body is too large"
	case ProblemUnsupportedMedia:
		return "Unsupported content type"
	case ProblemUnavailable:
		return "The rules database is unavailable"
	}
	return "Internal error"
}

// writeProblem writes a problem response of the given kind.
func writeProblem(w http.ResponseWriter, r *http.Request, status int, kind, detail string, fields ...rules.FieldError) {
	p := Problem{
		Type:     problemTypeBase + kind,
		Title:    problemTitle(kind),
		Status:   status,
		Detail:   detail,
		Instance: r.URL.Path,
		Errors:   fields,
	}
	w.Header().Set("Content-Type", ProblemContentType)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(p) // the client went away: nothing to do
}

// writeJSON writes v as a JSON response with the given status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // the client went away: nothing to do
}
