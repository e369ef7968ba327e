package auth

import (
	"encoding/json"
	"net/http"

	"github.com/sluicehq/sluice/policy"
)

// ProblemContentType is the media type of error responses (RFC 9457).
const ProblemContentType = policy.ProblemContentType

// The type URIs of the problems Middleware answers with: 401 is the same
// problem a user policy answers for a request without a user.
const (
	ProblemUnauthenticated = policy.ProblemUnauthenticated
	ProblemAuthUnavailable = "urn:sluice:problem:auth-unavailable"
)

// problem is an RFC 9457 problem detail.
type problem struct {
	Type     string `json:"type"`
	Title    string `json:"title"`
	Status   int    `json:"status"`
	Detail   string `json:"detail,omitempty"`
	Instance string `json:"instance,omitempty"`
}

func writeProblem(w http.ResponseWriter, r *http.Request, status int, kind, detail string) {
	title := "Authentication required"
	if kind == ProblemAuthUnavailable {
		title = "Authentication is unavailable"
	}
	w.Header().Set("Content-Type", ProblemContentType)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(problem{ // the client went away: nothing to do
		Type:     kind,
		Title:    title,
		Status:   status,
		Detail:   detail,
		Instance: r.URL.Path,
	})
}
