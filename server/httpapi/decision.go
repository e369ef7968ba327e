package httpapi

import (
	"encoding/json"
	"net/http"
	"strconv"
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

// appendJSON appends b as JSON, exactly as json.Marshal renders it
// (FuzzDecisionJSON checks), without reflection: it is the body of every
// decision.
func (b *decisionBody) appendJSON(dst []byte) []byte {
	dst = append(dst, '{')
	if b.Name != "" {
		dst = appendJSONString(append(dst, `"name":`...), b.Name)
		dst = append(dst, ',')
	}
	dst = strconv.AppendBool(append(dst, `"allowed":`...), b.Allowed)
	dst = strconv.AppendInt(append(dst, `,"limit":`...), b.Limit, 10)
	dst = strconv.AppendInt(append(dst, `,"remaining":`...), b.Remaining, 10)
	dst = strconv.AppendInt(append(dst, `,"reset_ms":`...), b.ResetMS, 10)
	dst = strconv.AppendInt(append(dst, `,"retry_after_ms":`...), b.RetryAfterMS, 10)
	dst = strconv.AppendInt(append(dst, `,"reset":`...), b.Reset, 10)
	dst = strconv.AppendInt(append(dst, `,"retry_after":`...), b.RetryAfter, 10)
	dst = appendJSONString(append(dst, `,"reason":`...), b.Reason.String())
	if b.Shadow {
		dst = append(dst, `,"shadow":true`...)
	}
	if b.Error != "" {
		dst = appendJSONString(append(dst, `,"error":`...), b.Error)
	}
	return append(dst, '}')
}

// appendJSONString appends s as a JSON string. Strings of plain printable
// ASCII, which is what names and reasons are, are copied as they are; any
// other goes through encoding/json, so that the escaping is the same.
func appendJSONString(dst []byte, s string) []byte {
	for _, c := range []byte(s) {
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always marshals
			return append(dst, q...)
		}
	}
	return append(append(append(dst, '"'), s...), '"')
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
//	RateLimit-Policy: "name";q=100;w=60, …
//	RateLimit: "name";r=42;t=17, …
//
// q is the quota (the limit's capacity), w the window in seconds (left out
// for a calendar-month quota), r the remaining allowance and t the seconds
// until it is whole again, rounded up. Both values are built in one buffer and share one allocation, as they
// are on every decision's path.
func setRateLimitHeaders(h http.Header, items []quotaItem) {
	var stack [192]byte
	buf, mid := stack[:0], 0
	for pass := range 2 { // RateLimit-Policy, then RateLimit
		if pass == 1 {
			mid = len(buf)
		}
		first := true
		for _, it := range items {
			if it.decision.Limit <= 0 {
				continue // a decision with no limit (skipped, fail-open): nothing to describe
			}
			if !first {
				buf = append(buf, ", "...)
			}
			first = false
			buf = appendSFString(buf, it.name)
			if pass == 0 {
				buf = strconv.AppendInt(append(buf, ";q="...), it.decision.Limit, 10)
				if w := windowSeconds(it.limit); w > 0 {
					buf = strconv.AppendInt(append(buf, ";w="...), w, 10)
				}
			} else {
				buf = strconv.AppendInt(append(buf, ";r="...), max(it.decision.Remaining, 0), 10)
				buf = strconv.AppendInt(append(buf, ";t="...), ceilDiv(it.decision.Reset, time.Second), 10)
			}
		}
	}
	if mid == 0 {
		return
	}
	both := string(buf)
	vals := []string{both[:mid], both[mid:]}
	h["Ratelimit-Policy"] = vals[0:1:1]
	h["Ratelimit"] = vals[1:2:2]
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

// appendSFString appends s as a structured-field string (RFC 8941):
// quoted, with '"' and '\' escaped; characters outside printable ASCII
// become '_'.
func appendSFString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for _, c := range []byte(s) {
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c < 0x20 || c > 0x7e:
			dst = append(dst, '_')
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}
