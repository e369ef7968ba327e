package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/sluicehq/sluice"
)

func newTestHandler(t *testing.T) http.Handler {
	t.Helper()
	lim := sluice.New(nil, sluice.Config{})
	t.Cleanup(func() { _ = lim.Close() })
	h, err := newHandler(lim, &analytics{})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func get(h http.Handler, path, key string, headers ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodGet, path, nil)
	if key != "" {
		r.Header.Set("Authorization", "Bearer "+key)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Set(headers[i], headers[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestPlans(t *testing.T) {
	h := newTestHandler(t)
	for _, tc := range []struct {
		key     string
		allowed int
		policy  string
	}{
		{"key-free", 10, `"per-plan";q=10;w=10`},
		{"key-paid", 60, `"per-plan";q=60;w=10`},
	} {
		for i := 1; i <= tc.allowed; i++ {
			w := get(h, "/v1/data", tc.key)
			if w.Code != 200 {
				t.Fatalf("%s call %d: %d", tc.key, i, w.Code)
			}
			if got := w.Header().Get("RateLimit-Policy"); got != tc.policy {
				t.Fatalf("%s: RateLimit-Policy %q, want %q", tc.key, got, tc.policy)
			}
		}
		w := get(h, "/v1/data", tc.key)
		if w.Code != 429 || w.Header().Get("Retry-After") == "" {
			t.Errorf("%s call %d: %d, Retry-After %q", tc.key, tc.allowed+1, w.Code, w.Header().Get("Retry-After"))
		}
	}
	if w := get(h, "/v1/data", ""); w.Code != 401 {
		t.Errorf("no key: %d", w.Code)
	}
}

func TestDenyListsAndAnalytics(t *testing.T) {
	h := newTestHandler(t)
	for _, hdr := range [][]string{{"User-Agent", "Mozilla/5.0 (compatible; BadBot/1.0)"}, {"CF-IPCountry", "XX"}} {
		if w := get(h, "/v1/data", "key-paid", hdr...); w.Code != 403 {
			t.Errorf("%v: %d, want 403", hdr, w.Code)
		}
	}
	for range 12 {
		get(h, "/v1/data", "key-free")
	}
	var counts map[string]map[string]int
	if err := json.Unmarshal(get(h, "/analytics", "").Body.Bytes(), &counts); err != nil {
		t.Fatal(err)
	}
	// The first refusal asks the store (rate_limited); the second is
	// answered from the Limiter's memory of blocked keys (cache_block).
	if c := counts["cust_free"]; c["allowed"] != 10 || c["rate_limited"] != 1 || c["cache_block"] != 1 {
		t.Errorf("cust_free: %v, want 10 allowed, 1 rate_limited, 1 cache_block", c)
	}
	if c := counts["(user_agent)"]; c["denied"] != 1 {
		t.Errorf("user-agent denials: %v", c)
	}
	if c := counts["(country)"]; c["denied"] != 1 {
		t.Errorf("country denials: %v", c)
	}
}
