package gateway

import (
	"encoding/json"
	"net/http"

	"github.com/sluicehq/sluice/policy"
)

// The type URIs of the problems the gateway answers with itself (policies
// and authentication answer with theirs).
const (
	ProblemNoRoute            = "urn:sluice:problem:no-route"
	ProblemMethodNotAllowed   = "urn:sluice:problem:method-not-allowed"
	ProblemBadPath            = "urn:sluice:problem:bad-path"
	ProblemUpstreamFailed     = "urn:sluice:problem:upstream-unavailable"
	ProblemUpstreamTimeout    = "urn:sluice:problem:upstream-timeout"
	problemTitleNoRoute       = "No route"
	problemTitleMethod        = "Method not allowed"
	problemTitleBadPath       = "Path not accepted"
	problemTitleUpstream      = "Bad gateway"
	problemTitleUpstreamSlow  = "Gateway timeout"
	problemContentTypeOptions = "nosniff"
)

// problem is an RFC 9457 problem detail.
type problem struct {
	Type     string `json:"type"`
	Title    string `json:"title"`
	Status   int    `json:"status"`
	Detail   string `json:"detail,omitempty"`
	Instance string `json:"instance,omitempty"`
}

func writeProblem(w http.ResponseWriter, r *http.Request, status int, typ, title, detail string) {
	h := w.Header()
	h.Set("Content-Type", policy.ProblemContentType)
	h.Set("X-Content-Type-Options", problemContentTypeOptions)
	h.Del("Content-Length")
	w.WriteHeader(status)
	if r.Method == http.MethodHead {
		return
	}
	_ = json.NewEncoder(w).Encode(problem{ // the client went away: nothing to do
		Type: typ, Title: title, Status: status, Detail: detail, Instance: r.URL.Path,
	})
}
