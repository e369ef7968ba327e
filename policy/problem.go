package policy

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice"
)

// ProblemContentType is the media type of every answer a Set writes itself
// (RFC 9457 problem details).
const ProblemContentType = "application/problem+json"

// The type URIs of the problems a Set answers with.
const (
	ProblemRateLimited      = "urn:sluice:problem:rate-limited"
	ProblemDenied           = "urn:sluice:problem:denied"
	ProblemUnauthenticated  = "urn:sluice:problem:unauthenticated"
	ProblemStoreUnavailable = "urn:sluice:problem:store-unavailable"
)

// Problem is the application/problem+json body of a 401, 403, 429 or 503
// answer.
type Problem struct {
	// Type is one of the Problem* type URIs.
	Type string `json:"type"`
	// Title is a short summary of the type.
	Title string `json:"title"`
	// Status is the HTTP status code.
	Status int `json:"status"`
	// Detail explains this occurrence.
	Detail string `json:"detail"`
	// Policy names the policy that answered.
	Policy string `json:"policy,omitempty"`
	// Reason is the decision's reason, such as rate_limited or denied.
	Reason string `json:"reason,omitempty"`
	// Limit is the allowance of the limit that was exceeded (429 only).
	Limit int64 `json:"limit,omitempty"`
	// RetryAfter is the seconds until a retry could pass (429 only; 0 when
	// the call costs more than the limit allows and can never pass).
	RetryAfter *int64 `json:"retry_after,omitempty"`
}

// writeProblem writes p as the whole answer.
func writeProblem(w http.ResponseWriter, p Problem) {
	body, err := json.Marshal(p)
	if err != nil { // cannot happen: Problem holds strings and numbers
		body = []byte(`{"type":"about:blank"}`)
	}
	h := w.Header()
	h.Set("Content-Type", ProblemContentType)
	h.Set("Content-Length", strconv.Itoa(len(body)+1))
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(p.Status)
	_, _ = w.Write(append(body, '\n'))
}

// rateLimitedProblem describes a 429 from policy name over limit.
func rateLimitedProblem(name string, limit sluice.Limit, d sluice.Decision) Problem {
	retry := ceilSeconds(d.RetryAfter)
	detail := fmt.Sprintf("policy %q allows %s; try again in %d seconds", name, describeLimit(limit, d.Limit), retry)
	if d.Reason == sluice.ReasonCostExceedsLimit {
		detail = fmt.Sprintf("policy %q allows %s, less than this request costs; it can never pass", name, describeLimit(limit, d.Limit))
	}
	return Problem{
		Type: ProblemRateLimited, Title: "Too Many Requests", Status: http.StatusTooManyRequests,
		Detail: detail, Policy: name, Reason: d.Reason.String(), Limit: d.Limit, RetryAfter: &retry,
	}
}

// describeLimit writes a limit for people: "100 requests per 1m",
// "5000 requests per month".
func describeLimit(l sluice.Limit, capacity int64) string {
	switch l.Algorithm {
	case sluice.Quota:
		return fmt.Sprintf("%d requests per %s", capacity, l.Period)
	case sluice.Counter:
		return fmt.Sprintf("%d requests", capacity)
	}
	return fmt.Sprintf("%d requests per %s", capacity, shortDuration(l.Window))
}

// shortDuration formats d without zero trailing units: 1m, 1h, 1h30m, 10s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}
