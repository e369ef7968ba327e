package httpapi

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/algorithm"
)

// ErrorRateLimit is the error code of every denied response body, as in
// seed 002: a caller can abort on it (or on the 429 status) alone.
const ErrorRateLimit = "ERROR_RATE_LIMIT"

// decisionBody is a decision as JSON.
type decisionBody struct {
	Name         string        `json:"name,omitempty"`
	Allowed      bool          `json:"allowed"`
	Limit        int64         `json:"limit"`
	Remaining    int64         `json:"remaining"`
	ResetMS      int64         `json:"reset_ms"`
	RetryAfterMS int64         `json:"retry_after_ms"`
	Reset        int64         `json:"reset"`
	RetryAfter   int64         `json:"retry_after"`
	Reason       sluice.Reason `json:"reason"`
	Shadow       bool          `json:"shadow,omitempty"`
	Error        string        `json:"error,omitempty"`
}

// newDecisionBody renders r; Error is set when r does not pass.
func newDecisionBody(r Result) decisionBody {
	d := r.Decision
	b := decisionBody{
		Name:         r.Name,
		Allowed:      r.Pass(),
		Limit:        d.Limit,
		Remaining:    d.Remaining,
		ResetMS:      ceilDiv(d.Reset, time.Millisecond),
		RetryAfterMS: ceilDiv(d.RetryAfter, time.Millisecond),
		Reset:        ceilDiv(d.Reset, time.Second),
		RetryAfter:   ceilDiv(d.RetryAfter, time.Second),
		Reason:       d.Reason,
		Shadow:       r.Shadow,
	}
	if !b.Allowed {
		b.Error = ErrorRateLimit
	}
	return b
}

// ceilDiv is d in units, rounded up; never negative.
func ceilDiv(d, unit time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + unit - 1) / unit)
}

// status is the HTTP status of a decision: 200 when it passes, 429 when not.
func status(r Result) int {
	if r.Pass() {
		return http.StatusOK
	}
	return http.StatusTooManyRequests
}

// retryAfter sets Retry-After on a response that does not pass: whole
// seconds, rounded up, at least 1.
func retryAfter(h http.Header, r Result) {
	if r.Pass() {
		return
	}
	h.Set("Retry-After", strconv.FormatInt(max(ceilDiv(r.Decision.RetryAfter, time.Second), 1), 10))
}

// quotaItem is one limit in the RateLimit-Policy and RateLimit headers.
type quotaItem struct {
	name     string
	limit    sluice.Limit
	decision sluice.Decision
}

// setRateLimitHeaders sets RateLimit-Policy and RateLimit as
// draft-ietf-httpapi-ratelimit-headers-10 structured-field lists:
//
//	RateLimit-Policy: "default";q=100;w=60
//	RateLimit: "default";r=42;t=17
//
// q is the quota (the limit's capacity), w the window in seconds (left out
// for a calendar-month quota), r the remaining allowance and t the seconds
// until it is whole again, rounded up.
func setRateLimitHeaders(h http.Header, items []quotaItem) {
	var policy, current strings.Builder
	for i, it := range items {
		if it.decision.Limit <= 0 {
			continue // a decision with no limit (skipped, fail-open): nothing to describe
		}
		if i > 0 && policy.Len() > 0 {
			policy.WriteString(", ")
			current.WriteString(", ")
		}
		name := sfString(it.name)
		policy.WriteString(name + ";q=" + strconv.FormatInt(it.decision.Limit, 10))
		if w := windowSeconds(it.limit); w > 0 {
			policy.WriteString(";w=" + strconv.FormatInt(w, 10))
		}
		current.WriteString(name + ";r=" + strconv.FormatInt(max(it.decision.Remaining, 0), 10) +
			";t=" + strconv.FormatInt(ceilDiv(it.decision.Reset, time.Second), 10))
	}
	if policy.Len() > 0 {
		h.Set("RateLimit-Policy", policy.String())
		h.Set("RateLimit", current.String())
	}
}

// windowSeconds is a limit's window in whole seconds, rounded up, or 0
// when it has none of fixed length (a calendar-month quota).
func windowSeconds(l sluice.Limit) int64 {
	if l.Algorithm == sluice.Quota {
		switch l.Period {
		case algorithm.Day:
			return 86400
		case algorithm.Week:
			return 7 * 86400
		}
		return 0
	}
	return ceilDiv(l.Window, time.Second)
}

// sfString renders s as a structured-field string (RFC 8941): quoted, with
// '"' and '\' escaped; characters outside printable ASCII become '_'.
func sfString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, c := range []byte(s) {
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20 || c > 0x7e:
			b.WriteByte('_')
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}
