package policy

import (
	"net/http"
	"strconv"
	"time"

	"github.com/sluicehq/sluice"
)

// Headers selects the rate-limit headers added to responses. Combine with |.
type Headers uint8

// The header forms.
const (
	// HeadersIETF adds RateLimit-Policy and RateLimit as
	// draft-ietf-httpapi-ratelimit-headers-10 defines them: one list member
	// per limit, such as
	//
	//	RateLimit-Policy: "api";q=100;w=60
	//	RateLimit: "api";r=42;t=17
	//
	// q is the allowance, w the window in seconds (omitted for calendar
	// quotas and counters, which have none), r what remains and t the
	// seconds until the allowance is whole again, rounded up. A complex
	// policy's counters are named "policy/counter", a quota "policy/quota",
	// a rules policy's limits "policy/key_type". The default.
	HeadersIETF Headers = 1 << iota
	// HeadersLegacy adds RateLimit-Limit, RateLimit-Remaining and
	// RateLimit-Reset (delta seconds) of the most restrictive limit, as
	// earlier drafts did.
	HeadersLegacy
	// HeadersX adds X-RateLimit-Limit, X-RateLimit-Remaining and
	// X-RateLimit-Reset (delta seconds) of the most restrictive limit.
	HeadersX
	// HeadersOff adds no rate-limit headers (Retry-After still follows
	// each policy's HeaderMode).
	HeadersOff
)

// The names of the headers Sluice writes and reads.
const (
	HeaderRateLimit       = "RateLimit"
	HeaderRateLimitPolicy = "RateLimit-Policy"
	HeaderRetryAfter      = "Retry-After"
	// HeaderIncrements is the response header an upstream (or handler)
	// sets to charge the counters of complex policies, such as
	// "compute=5, requests=1". It is removed before the response leaves.
	HeaderIncrements = "Sluice-Increments"
)

// limitState is one limit's decision, to be shown in headers.
type limitState struct {
	step     int // the policy's position in the Set, for ordering
	name     string
	limit    sluice.Limit
	decision sluice.Decision
}

// The canonical forms of the header names, to set without canonicalizing.
const (
	canonRateLimit          = "Ratelimit"
	canonRateLimitPolicy    = "Ratelimit-Policy"
	canonRateLimitLimit     = "Ratelimit-Limit"
	canonRateLimitRemaining = "Ratelimit-Remaining"
	canonRateLimitReset     = "Ratelimit-Reset"
	canonXLimit             = "X-Ratelimit-Limit"
	canonXRemaining         = "X-Ratelimit-Remaining"
	canonXReset             = "X-Ratelimit-Reset"
)

// writeRateLimitHeaders sets the selected headers for the given limits.
func writeRateLimitHeaders(h http.Header, forms Headers, states []limitState) {
	if forms&HeadersOff != 0 || len(states) == 0 {
		return
	}
	if forms == 0 {
		forms = HeadersIETF
	}
	if forms&HeadersIETF != 0 {
		buf := make([]byte, 0, 128)
		for i, s := range states {
			if i > 0 {
				buf = append(buf, ", "...)
			}
			buf = appendSFString(buf, s.name)
			buf = append(buf, ";q="...)
			buf = strconv.AppendInt(buf, s.decision.Limit, 10)
			if a := s.limit.Algorithm; a != sluice.Quota && a != sluice.Counter {
				buf = append(buf, ";w="...)
				buf = strconv.AppendInt(buf, ceilSeconds(s.limit.Window), 10)
			}
		}
		split := len(buf)
		for i, s := range states {
			if i > 0 {
				buf = append(buf, ", "...)
			}
			buf = appendSFString(buf, s.name)
			buf = append(buf, ";r="...)
			buf = strconv.AppendInt(buf, max(s.decision.Remaining, 0), 10)
			buf = append(buf, ";t="...)
			buf = strconv.AppendInt(buf, ceilSeconds(s.decision.Reset), 10)
		}
		all := string(buf)
		h[canonRateLimitPolicy] = []string{all[:split]}
		h[canonRateLimit] = []string{all[split:]}
	}
	if forms&(HeadersLegacy|HeadersX) != 0 {
		d := binding(states)
		limit, remaining, reset := strconv.FormatInt(d.Limit, 10), strconv.FormatInt(max(d.Remaining, 0), 10), strconv.FormatInt(ceilSeconds(d.Reset), 10)
		if forms&HeadersLegacy != 0 {
			h[canonRateLimitLimit] = []string{limit}
			h[canonRateLimitRemaining] = []string{remaining}
			h[canonRateLimitReset] = []string{reset}
		}
		if forms&HeadersX != 0 {
			h[canonXLimit] = []string{limit}
			h[canonXRemaining] = []string{remaining}
			h[canonXReset] = []string{reset}
		}
	}
}

// binding is the decision that stands for several: the denial that must
// wait longest, or else the one with the least remaining.
func binding(states []limitState) sluice.Decision {
	var out sluice.Decision
	for i, s := range states {
		d := s.decision
		switch {
		case i == 0:
			out = d
		case !d.Allowed && (out.Allowed || d.RetryAfter > out.RetryAfter):
			out = d
		case d.Allowed && out.Allowed && d.Remaining < out.Remaining:
			out = d
		}
	}
	return out
}

// ceilSeconds is d in whole seconds, rounded up; 0 for d <= 0.
func ceilSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Second - 1) / time.Second)
}

// appendSFString appends s as a structured-field String (RFC 9651):
// quoted, with '"' and '\' escaped; bytes outside printable ASCII become '?'.
func appendSFString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20 || c > 0x7e:
			b = append(b, '?')
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}
