package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/server/httpapi"
)

// decision is a decision body as the tests read it.
type decision struct {
	Name         string `json:"name"`
	Allowed      bool   `json:"allowed"`
	Limit        int64  `json:"limit"`
	Remaining    int64  `json:"remaining"`
	ResetMS      int64  `json:"reset_ms"`
	RetryAfterMS int64  `json:"retry_after_ms"`
	Reset        int64  `json:"reset"`
	RetryAfter   int64  `json:"retry_after"`
	Reason       string `json:"reason"`
	Shadow       bool   `json:"shadow"`
	Error        string `json:"error"`
}

type problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	Errors []struct {
		Field string `json:"field"`
		Rule  string `json:"rule"`
	} `json:"errors"`
}

func decode[T any](t *testing.T, body string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("decoding %s: %v", body, err)
	}
	return v
}

func TestLimitAllowsThenDenies(t *testing.T) {
	e := newEnv(t)
	body := `{"action":"login","identity":"someone@example.com","requests":1,"window_ms":60000}`
	resp, b := e.do(t, "POST", "/v1/limit", body)
	if resp.StatusCode != 200 {
		t.Fatalf("first call: %d %s", resp.StatusCode, b)
	}
	d := decode[decision](t, b)
	if !d.Allowed || d.Limit != 1 || d.Remaining != 0 || d.Reason != "allowed" || d.Error != "" {
		t.Errorf("first call: %+v", d)
	}
	if got := resp.Header.Get("RateLimit-Policy"); got != `"default";q=1;w=60` {
		t.Errorf("RateLimit-Policy %q", got)
	}
	if got := resp.Header.Get("RateLimit"); !strings.HasPrefix(got, `"default";r=0;t=`) {
		t.Errorf("RateLimit %q", got)
	}
	if resp.Header.Get("Retry-After") != "" {
		t.Errorf("Retry-After on an allowed call")
	}

	e.clock.Advance(1500 * time.Millisecond)
	resp, b = e.do(t, "POST", "/v1/limit", body)
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("second call: %d %s", resp.StatusCode, b)
	}
	d = decode[decision](t, b)
	if d.Allowed || d.Reason != "rate_limited" || d.Error != "ERROR_RATE_LIMIT" || d.RetryAfterMS <= 0 || d.RetryAfter < 1 {
		t.Errorf("second call: %+v", d)
	}
	if ra := resp.Header.Get("Retry-After"); ra == "" || ra == "0" || ra != itoa(d.RetryAfter) {
		t.Errorf("Retry-After %q, body retry_after %d", ra, d.RetryAfter)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	// Action and identity make the key sluice.Key(action, identity): the
	// same counter as a request naming that key.
	resp, _ = e.do(t, "POST", "/v1/limit", `{"key":`+quote(sluice.Key("login", "someone@example.com"))+`,"limit":"1/1m"}`)
	if resp.StatusCode != 429 {
		t.Errorf("same counter by key: %d", resp.StatusCode)
	}
}

func itoa(n int64) string   { b, _ := json.Marshal(n); return string(b) }
func quote(s string) string { b, _ := json.Marshal(s); return string(b) }

func TestLimitForms(t *testing.T) {
	tests := []struct {
		name, body string
		limit      int64
		policy     string
	}{
		{"limit text", `{"key":"k1","limit":"100/1m"}`, 100, `"default";q=100;w=60`},
		{"window text", `{"key":"k2","requests":5,"window":"15m"}`, 5, `"default";q=5;w=900`},
		{"token bucket", `{"key":"k3","requests":10,"window":"1s","algorithm":"token_bucket","burst":20}`, 20, `"default";q=20;w=1`},
		{"token bucket text", `{"key":"k4","limit":"10/s token_bucket burst=20","name":"bucket"}`, 20, `"bucket";q=20;w=1`},
		{"quota month", `{"key":"k5","limit":"5000/month"}`, 5000, `"default";q=5000`},
		{"window ms", `{"key":"k6","requests":3,"window_ms":1500,"cost":2}`, 3, `"default";q=3;w=2`},
	}
	e := newEnv(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, b := e.do(t, "POST", "/v1/limit", tt.body)
			if resp.StatusCode != 200 {
				t.Fatalf("%d %s", resp.StatusCode, b)
			}
			if d := decode[decision](t, b); d.Limit != tt.limit || !d.Allowed {
				t.Errorf("%+v", d)
			}
			if got := resp.Header.Get("RateLimit-Policy"); got != tt.policy {
				t.Errorf("RateLimit-Policy %q, want %q", got, tt.policy)
			}
		})
	}
}

func TestLimitCostZeroReads(t *testing.T) {
	e := newEnv(t)
	for range 3 {
		resp, b := e.do(t, "POST", "/v1/limit", `{"key":"k","limit":"2/1m","cost":0}`)
		if d := decode[decision](t, b); resp.StatusCode != 200 || d.Remaining != 2 {
			t.Fatalf("%d %+v", resp.StatusCode, d)
		}
	}
	resp, b := e.do(t, "POST", "/v1/limit", `{"key":"k","limit":"2/1m","cost":3}`)
	if d := decode[decision](t, b); resp.StatusCode != 429 || d.Reason != "cost_exceeds_limit" || resp.Header.Get("Retry-After") != "1" {
		t.Fatalf("cost above the limit: %d %+v Retry-After %q", resp.StatusCode, d, resp.Header.Get("Retry-After"))
	}
}

func TestBadInput(t *testing.T) {
	long := strings.Repeat("k", sluice.MaxKeyLength+1)
	tests := []struct {
		name, method, path, body string
		header                   []string
		status                   int
		field                    string // the first field in errors, if any
	}{
		{"no key", "POST", "/v1/limit", `{"limit":"1/s"}`, nil, 400, "key"},
		{"key and action", "POST", "/v1/limit", `{"key":"a","action":"b","identity":"c","limit":"1/s"}`, nil, 400, "key"},
		{"action without identity", "POST", "/v1/limit", `{"action":"login","limit":"1/s"}`, nil, 400, "identity"},
		{"identity without action", "POST", "/v1/limit", `{"identity":"x","limit":"1/s"}`, nil, 400, "action"},
		{"key too long", "POST", "/v1/limit", `{"key":"` + long + `","limit":"1/s"}`, nil, 400, "key"},
		{"identity too long", "POST", "/v1/limit", `{"action":"a","identity":"` + long + `","limit":"1/s"}`, nil, 400, "identity"},
		{"no limit", "POST", "/v1/limit", `{"key":"k"}`, nil, 400, "limit"},
		{"bad limit text", "POST", "/v1/limit", `{"key":"k","limit":"100 per minute"}`, nil, 400, "limit"},
		{"limit and requests", "POST", "/v1/limit", `{"key":"k","limit":"1/s","requests":1}`, nil, 400, "limit"},
		{"algorithm with text", "POST", "/v1/limit", `{"key":"k","limit":"1/s","algorithm":"gcra"}`, nil, 400, "algorithm"},
		{"zero requests", "POST", "/v1/limit", `{"key":"k","requests":0,"window_ms":1000}`, nil, 400, "requests"},
		{"no window", "POST", "/v1/limit", `{"key":"k","requests":5}`, nil, 400, "window_ms"},
		{"both windows", "POST", "/v1/limit", `{"key":"k","requests":5,"window":"1m","window_ms":60000}`, nil, 400, "window"},
		{"bad window", "POST", "/v1/limit", `{"key":"k","requests":5,"window":"fortnight"}`, nil, 400, "window"},
		{"window with options", "POST", "/v1/limit", `{"key":"k","requests":5,"window":"1s token_bucket"}`, nil, 400, "window"},
		{"huge window_ms", "POST", "/v1/limit", `{"key":"k","requests":5,"window_ms":9223372036854775807}`, nil, 400, "window_ms"},
		{"unknown algorithm", "POST", "/v1/limit", `{"key":"k","requests":5,"window":"1m","algorithm":"leaky"}`, nil, 400, "algorithm"},
		{"burst on sliding", "POST", "/v1/limit", `{"key":"k","requests":5,"window":"1m","burst":9}`, nil, 400, "burst"},
		{"negative cost", "POST", "/v1/limit", `{"key":"k","limit":"1/s","cost":-1}`, nil, 400, "cost"},
		{"bad name", "POST", "/v1/limit", `{"key":"k","limit":"1/s","name":"a b"}`, nil, 400, "name"},
		{"unknown field", "POST", "/v1/limit", `{"key":"k","limit":"1/s","ttl":5}`, nil, 400, "ttl"},
		{"wrong type", "POST", "/v1/limit", `{"key":"k","requests":"5","window":"1m"}`, nil, 400, "requests"},
		{"fraction", "POST", "/v1/limit", `{"key":"k","requests":1.5,"window":"1m"}`, nil, 400, "requests"},
		{"not an object", "POST", "/v1/limit", `[1,2]`, nil, 400, ""},
		{"trailing data", "POST", "/v1/limit", `{"key":"k","limit":"1/s"} {}`, nil, 400, ""},
		{"malformed", "POST", "/v1/limit", `{"key":`, nil, 400, ""},
		{"empty body", "POST", "/v1/limit", ``, []string{"Content-Type", "application/json"}, 400, ""},
		{"form content type", "POST", "/v1/limit", `{"key":"k","limit":"1/s"}`, []string{"Content-Type", "application/x-www-form-urlencoded"}, 415, ""},
		{"wrong method", "DELETE", "/v1/limit", ``, nil, 405, ""},
		{"wrong method batch", "GET", "/v1/limit/batch", ``, nil, 405, ""},
		{"unknown path", "POST", "/v1/limits", `{}`, nil, 404, ""},
		{"empty batch", "POST", "/v1/limit/batch", `{"limits":[]}`, nil, 400, "limits"},
		{"batch item", "POST", "/v1/limit/batch", `{"limits":[{"key":"a","limit":"1/s"},{"key":"b"}]}`, nil, 400, "limits[1].limit"},
		{"batch duplicate", "POST", "/v1/limit/batch", `{"limits":[{"key":"a","limit":"1/s"},{"key":"a","limit":"5/m"}]}`, nil, 400, "limits[1].key"},
		{"batch item unknown field", "POST", "/v1/limit/batch", `{"limits":[{"key":"a","limit":"1/s","x":1}]}`, nil, 400, "limits[0].x"},
		{"peek unknown param", "GET", "/v1/limit?key=k&limit=1/s&cost=1", ``, nil, 400, "cost"},
		{"peek repeated", "GET", "/v1/limit?key=k&key=j&limit=1/s", ``, nil, 400, "key"},
		{"peek bad int", "GET", "/v1/limit?key=k&requests=x&window=1m", ``, nil, 400, "requests"},
		{"reset nothing", "POST", "/v1/reset", `{}`, nil, 400, "key"},
		{"reset unknown field", "POST", "/v1/reset", `{"key":"k","limit":"1/s"}`, nil, 400, "limit"},
		{"rules not configured", "POST", "/v1/rules/check", `{"user_id":"u"}`, nil, 501, ""},
	}
	e := newEnv(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, b := e.do(t, tt.method, tt.path, tt.body, tt.header...)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, b)
			}
			if ct := resp.Header.Get("Content-Type"); ct != httpapi.ProblemContentType {
				t.Errorf("Content-Type %q", ct)
			}
			p := decode[problem](t, b)
			if p.Status != tt.status || !strings.HasPrefix(p.Type, "urn:sluice:problem:") || p.Title == "" || p.Detail == "" {
				t.Errorf("problem %+v", p)
			}
			if tt.field != "" && (len(p.Errors) == 0 || p.Errors[0].Field != tt.field || p.Errors[0].Rule == "") {
				t.Errorf("errors %+v, want field %q first", p.Errors, tt.field)
			}
			if tt.status == 405 && resp.Header.Get("Allow") == "" {
				t.Errorf("405 without Allow")
			}
		})
	}
}

func TestBodyTooLarge(t *testing.T) {
	e := newEnv(t, withMaxBody(100))
	resp, b := e.do(t, "POST", "/v1/limit", `{"key":"`+strings.Repeat("k", 200)+`","limit":"1/s"}`)
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
	if p := decode[problem](t, b); p.Type != "urn:sluice:problem:body-too-large" {
		t.Errorf("%+v", p)
	}
	e = newEnv(t, withMaxBatch(2))
	resp, b = e.do(t, "POST", "/v1/limit/batch", `{"limits":[{"key":"a","limit":"1/s"},{"key":"b","limit":"1/s"},{"key":"c","limit":"1/s"}]}`)
	if resp.StatusCode != 400 || !strings.Contains(b, "at most 2") {
		t.Fatalf("batch over MaxBatch: %d %s", resp.StatusCode, b)
	}
}

func TestBatchAllOrNothing(t *testing.T) {
	e := newEnv(t)
	batch := `{"limits":[{"name":"user","key":"user:1","limit":"10/1m"},{"name":"route","key":"route:/x","limit":"1/1m"}]}`
	resp, b := e.do(t, "POST", "/v1/limit/batch", batch)
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
	type batchBody struct {
		decision
		Decisions []decision `json:"decisions"`
	}
	got := decode[batchBody](t, b)
	if len(got.Decisions) != 2 || got.Decisions[0].Remaining != 9 || got.Decisions[1].Remaining != 0 || got.Decisions[0].Name != "user" {
		t.Fatalf("%s", b)
	}
	if p := resp.Header.Get("RateLimit-Policy"); p != `"user";q=10;w=60, "route";q=1;w=60` {
		t.Errorf("RateLimit-Policy %q", p)
	}
	resp, b = e.do(t, "POST", "/v1/limit/batch", batch)
	if resp.StatusCode != 429 {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
	got = decode[batchBody](t, b)
	if got.Allowed || got.Error != "ERROR_RATE_LIMIT" || got.Decisions[1].Reason != "rate_limited" {
		t.Errorf("%s", b)
	}
	// The denied batch consumed nothing from the user limit.
	_, b = e.do(t, "GET", "/v1/limit?key=user:1&limit=10/1m", "")
	if d := decode[decision](t, b); d.Remaining != 9 {
		t.Errorf("user limit after a denied batch: %+v", d)
	}
}

func TestPeekAndReset(t *testing.T) {
	e := newEnv(t)
	for range 2 {
		e.do(t, "POST", "/v1/limit", `{"action":"failed_login","identity":"a@example.com","limit":"3/1h counter"}`)
	}
	resp, b := e.do(t, "GET", "/v1/limit?action=failed_login&identity=a@example.com&limit=3/1h+counter", "")
	if d := decode[decision](t, b); resp.StatusCode != 200 || d.Remaining != 1 || !d.Allowed {
		t.Fatalf("peek: %d %s", resp.StatusCode, b)
	}
	resp, b = e.do(t, "POST", "/v1/reset", `{"action":"failed_login","identity":"a@example.com"}`)
	if resp.StatusCode != 204 || b != "" {
		t.Fatalf("reset: %d %q", resp.StatusCode, b)
	}
	_, b = e.do(t, "GET", "/v1/limit/?action=failed_login&identity=a@example.com&limit=3/1h+counter", "")
	if d := decode[decision](t, b); d.Remaining != 3 {
		t.Fatalf("after reset: %s", b)
	}
	// A peek of an exhausted counter is still 200, with allowed false.
	e.do(t, "POST", "/v1/limit", `{"key":"one","limit":"1/1h"}`)
	resp, b = e.do(t, "GET", "/v1/limit?key=one&requests=1&window=1h", "")
	if d := decode[decision](t, b); resp.StatusCode != 200 || d.Allowed || d.Error != "" {
		t.Fatalf("peek exhausted: %d %s", resp.StatusCode, b)
	}
}

func TestShadowMode(t *testing.T) {
	e := newEnv(t, withShadow)
	body := `{"key":"k","limit":"1/1m"}`
	e.do(t, "POST", "/v1/limit", body)
	resp, b := e.do(t, "POST", "/v1/limit", body)
	d := decode[decision](t, b)
	if resp.StatusCode != 200 || !d.Allowed || !d.Shadow || d.Reason != "rate_limited" || resp.Header.Get("Retry-After") != "" {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
	got := testutil.ToFloat64(mustCounter(t, e, `sluice_decisions_total`, "reason", "rate_limited"))
	if got != 1 {
		t.Errorf("shadow denial recorded %v times", got)
	}
}

func TestFailClosed(t *testing.T) {
	lim := sluice.New(failingStore{err: errors.New("connection refused")}, sluice.Config{OnStoreError: sluice.FailClosed})
	e := newEnv(t, withLimiter(lim), withRules(t))
	for _, tc := range []struct{ method, path, body string }{
		{"POST", "/v1/limit", `{"key":"k","limit":"1/s"}`},
		{"POST", "/v1/limit/batch", `{"limits":[{"key":"k","limit":"1/s"}]}`},
		{"GET", "/v1/limit?key=k&limit=1/s", ``},
		{"POST", "/v1/reset", `{"key":"k"}`},
		{"POST", "/v1/rules/check", `{"user_id":"u"}`},
	} {
		resp, b := e.do(t, tc.method, tc.path, tc.body)
		if resp.StatusCode != 503 || resp.Header.Get("Content-Type") != httpapi.ProblemContentType || resp.Header.Get("Retry-After") != "1" {
			t.Errorf("%s %s: %d %s", tc.method, tc.path, resp.StatusCode, b)
		}
	}
	// Fail-open lets the call through with the reason.
	lim = sluice.New(failingStore{err: errors.New("connection refused")}, sluice.Config{})
	e = newEnv(t, withLimiter(lim))
	resp, b := e.do(t, "POST", "/v1/limit", `{"key":"k","limit":"1/s"}`)
	if d := decode[decision](t, b); resp.StatusCode != 200 || d.Reason != "store_error" {
		t.Errorf("fail-open: %d %s", resp.StatusCode, b)
	}
	if got := testutil.ToFloat64(mustCounter(t, e, "sluice_store_errors_total", "kind", "error")); got != 1 {
		t.Errorf("store errors %v", got)
	}
}

func TestNewRequiresLimiter(t *testing.T) {
	if _, err := httpapi.New(httpapi.Config{}); err == nil {
		t.Fatal("New without a Limiter succeeded")
	}
}

func TestCanceledRequest(t *testing.T) {
	lim := sluice.New(failingStore{err: errors.New("connection refused")}, sluice.Config{})
	e := newEnv(t, withLimiter(lim))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _, err := e.handler.Decider().Limit(ctx, "http", httpapi.LimitSpec{Key: "k", Limit: "1/s"})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("a canceled caller got %v, want context.Canceled (not a fail-open pass)", err)
	}
}
