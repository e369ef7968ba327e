package httpapi

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/sluicehq/sluice/algorithm"
)

// FuzzDecisionJSON checks that decisionBody.appendJSON writes exactly what
// json.Marshal writes, for any field values.
func FuzzDecisionJSON(f *testing.F) {
	f.Add("", true, int64(100), int64(99), int64(60000), int64(0), uint8(0), false, "")
	f.Add("per-user", false, int64(5), int64(0), int64(1500), int64(1500), uint8(1), true, ErrorRateLimit)
	f.Add(`q"uo\te<&>`+"\x00\u2028é", false, int64(-1), int64(-9), int64(1)<<62, int64(7), uint8(200), false, "x")
	f.Fuzz(func(t *testing.T, name string, allowed bool, limit, remaining, resetMS, retryMS int64, reason uint8, shadow bool, errText string) {
		b := decisionBody{
			Name: name, Allowed: allowed, Limit: limit, Remaining: remaining,
			ResetMS: resetMS, RetryAfterMS: retryMS, Reset: resetMS / 1000, RetryAfter: retryMS / 1000,
			Reason: algorithm.Reason(reason), Shadow: shadow, Error: errText,
		}
		want, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		if got := b.appendJSON(nil); string(got) != string(want) {
			t.Fatalf("appendJSON\n got %s\nwant %s", got, want)
		}
	})
}

// FuzzRateLimitHeaders checks the RateLimit headers against their grammar
// for any name: a quoted structured-field string with only printable ASCII.
func FuzzRateLimitHeaders(f *testing.F) {
	f.Add("default", int64(100), int64(42))
	f.Add(`a"b\c`+"\x7f\xff", int64(1), int64(-3))
	f.Fuzz(func(t *testing.T, name string, limit, remaining int64) {
		h := http.Header{}
		setRateLimitHeaders(h, []quotaItem{{name: name, decision: algorithm.Decision{Limit: limit, Remaining: remaining}}})
		if limit <= 0 {
			if len(h) != 0 {
				t.Fatalf("headers for a decision without a limit: %v", h)
			}
			return
		}
		for _, k := range []string{"RateLimit-Policy", "RateLimit"} {
			v := h.Get(k)
			if len(h.Values(k)) != 1 || len(v) < 2 || v[0] != '"' {
				t.Fatalf("%s: %q", k, h.Values(k))
			}
			for i := 0; i < len(v); i++ {
				if v[i] < 0x20 || v[i] > 0x7e {
					t.Fatalf("%s: byte %#x at %d in %q", k, v[i], i, v)
				}
			}
		}
	})
}
