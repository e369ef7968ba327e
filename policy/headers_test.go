package policy_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/policy"
)

func TestHeadersExact(t *testing.T) {
	clk := newClock(epoch.Add(13 * time.Second)) // 47s before the minute's window ends
	set := newSet(t, newLimiter(t, clk), policy.Options{},
		&policy.Policy{Name: "per-ip", By: policy.ByIP, Limit: sluice.MustParseLimit("2/1m fixed_window")},
		&policy.Policy{Name: "global", By: policy.ByAll, Limit: sluice.MustParseLimit("100/1h fixed_window")})
	mw := policy.Middleware(set)(&handler{})

	want := []struct {
		code                          int
		policy, ratelimit, retryAfter string
	}{
		{200, `"per-ip";q=2;w=60, "global";q=100;w=3600`, `"per-ip";r=1;t=47, "global";r=99;t=3587`, ""},
		{200, `"per-ip";q=2;w=60, "global";q=100;w=3600`, `"per-ip";r=0;t=47, "global";r=98;t=3587`, ""},
		{429, `"per-ip";q=2;w=60, "global";q=100;w=3600`, `"per-ip";r=0;t=47, "global";r=98;t=3587`, "47"},
	}
	for i, tc := range want {
		w := do(mw, "192.0.2.1:1")
		h := w.Header()
		if w.Code != tc.code || h.Get("RateLimit-Policy") != tc.policy || h.Get("RateLimit") != tc.ratelimit || h.Get("Retry-After") != tc.retryAfter {
			t.Errorf("call %d:\n got %d\n  RateLimit-Policy: %s\n  RateLimit: %s\n  Retry-After: %q\nwant %d\n  RateLimit-Policy: %s\n  RateLimit: %s\n  Retry-After: %q",
				i+1, w.Code, h.Get("RateLimit-Policy"), h.Get("RateLimit"), h.Get("Retry-After"), tc.code, tc.policy, tc.ratelimit, tc.retryAfter)
		}
		if n := len(h.Values("RateLimit")); n != 1 {
			t.Errorf("call %d: %d RateLimit field lines, want 1", i+1, n)
		}
		if _, old := h["Ratelimit-Limit"]; old {
			t.Errorf("call %d: legacy headers without HeadersLegacy", i+1)
		}
	}
}

func TestRetryAfterRoundsUp(t *testing.T) {
	clk := newClock(epoch.Add(59*time.Second + 500*time.Millisecond)) // 0.5s left in the window
	set := newSet(t, newLimiter(t, clk), policy.Options{},
		&policy.Policy{Name: "p", By: policy.ByAll, Limit: sluice.MustParseLimit("1/1m fixed_window")})
	mw := policy.Middleware(set)(&handler{})
	do(mw, "192.0.2.1:1")
	w := do(mw, "192.0.2.1:1")
	if w.Code != 429 || w.Header().Get("Retry-After") != "1" || w.Header().Get("RateLimit") != `"p";r=0;t=1` {
		t.Errorf("got %d Retry-After %q RateLimit %q, want 429, 1, \"p\";r=0;t=1", w.Code, w.Header().Get("Retry-After"), w.Header().Get("RateLimit"))
	}
	// After the retry time the call passes.
	clk.Advance(time.Second)
	if got := do(mw, "192.0.2.1:1").Code; got != 200 {
		t.Errorf("after Retry-After: %d", got)
	}
}

func Test429Body(t *testing.T) {
	clk := newClock(epoch)
	set := newSet(t, newLimiter(t, clk), policy.Options{},
		&policy.Policy{Name: "per-ip", By: policy.ByIP, Limit: sluice.MustParseLimit("1/1m fixed_window")})
	mw := policy.Middleware(set)(&handler{})
	do(mw, "192.0.2.1:1")
	clk.Advance(20 * time.Second)
	w := do(mw, "192.0.2.1:1")
	if w.Code != 429 || w.Header().Get("Content-Type") != "application/problem+json" {
		t.Fatalf("got %d %q", w.Code, w.Header().Get("Content-Type"))
	}
	var body map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"type": policy.ProblemRateLimited, "title": "Too Many Requests", "status": 429.0,
		"detail": `policy "per-ip" allows 1 requests per 1m; try again in 40 seconds`,
		"policy": "per-ip", "reason": "rate_limited", "limit": 1.0, "retry_after": 40.0,
	}
	for k, v := range want {
		if body[k] != v {
			t.Errorf("%s = %v, want %v", k, body[k], v)
		}
	}
}

func TestHeaderModes(t *testing.T) {
	clk := newClock(epoch)
	l := sluice.MustParseLimit("1/1m fixed_window")
	set := newSet(t, newLimiter(t, clk), policy.Options{Headers: policy.HeadersIETF | policy.HeadersLegacy | policy.HeadersX},
		&policy.Policy{Name: "p", By: policy.ByAll, Limit: l, HeaderMode: policy.HeaderModeNone})
	mw := policy.Middleware(set)(&handler{})
	do(mw, "192.0.2.1:1")
	w := do(mw, "192.0.2.1:1")
	h := w.Header()
	if w.Code != 429 || h.Get("Retry-After") != "" {
		t.Errorf("headerMode none: %d, Retry-After %q", w.Code, h.Get("Retry-After"))
	}
	for k, v := range map[string]string{
		"RateLimit": `"p";r=0;t=60`, "RateLimit-Policy": `"p";q=1;w=60`,
		"RateLimit-Limit": "1", "RateLimit-Remaining": "0", "RateLimit-Reset": "60",
		"X-RateLimit-Limit": "1", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "60",
	} {
		if h.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, h.Get(k), v)
		}
	}

	off := newSet(t, newLimiter(t, clk), policy.Options{Headers: policy.HeadersOff},
		&policy.Policy{Name: "p", By: policy.ByAll, Limit: l})
	w = do(policy.Middleware(off)(&handler{}), "192.0.2.1:1")
	if w.Header().Get("RateLimit") != "" || w.Header().Get("RateLimit-Policy") != "" {
		t.Errorf("HeadersOff wrote %v", w.Header())
	}
}

func TestHeadersWhenHandlerWritesNothing(t *testing.T) {
	clk := newClock(epoch)
	set := newSet(t, newLimiter(t, clk), policy.Options{},
		&policy.Policy{Name: "p", By: policy.ByAll, Limit: sluice.MustParseLimit("5/1m fixed_window")})
	for name, h := range map[string]http.HandlerFunc{
		"nothing":     func(http.ResponseWriter, *http.Request) {},
		"WriteHeader": func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) },
		"103 first": func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusEarlyHints)
			w.WriteHeader(http.StatusCreated)
		},
		"Flush": func(w http.ResponseWriter, _ *http.Request) { http.NewResponseController(w).Flush() },
	} {
		w := do(policy.Middleware(set)(h), "192.0.2.1:1")
		if w.Header().Get("RateLimit") == "" {
			t.Errorf("%s: no RateLimit header", name)
		}
	}
}
