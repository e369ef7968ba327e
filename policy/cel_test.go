package policy_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/policy"
)

func TestCompileCELErrors(t *testing.T) {
	for _, tc := range []struct {
		expr        string
		line, col   int
		msgContains string
	}{
		{`request.path ==`, 1, 16, "Syntax error"},
		{"request.path == '/health'\n  ? null\n  : requst.user.sub", 3, 5, "undeclared reference to 'requst'"},
		{`request.method == "GET"`, 1, 1, "returns bool"},
		{`42`, 1, 1, "returns int"},
	} {
		_, err := policy.CompileCEL(tc.expr)
		var ee *policy.ExprError
		if !errors.As(err, &ee) || !errors.Is(err, policy.ErrInvalidExpression) {
			t.Errorf("%q: error %v, want an *ExprError", tc.expr, err)
			continue
		}
		is := ee.Issues[0]
		if is.Line != tc.line || is.Column != tc.col || !strings.Contains(is.Message, tc.msgContains) {
			t.Errorf("%q: issue %+v, want line %d column %d containing %q", tc.expr, is, tc.line, tc.col, tc.msgContains)
		}
		if !strings.Contains(err.Error(), "line ") {
			t.Errorf("%q: message %q lacks the position", tc.expr, err)
		}
	}
}

func TestCELIdentifier(t *testing.T) {
	fn, err := policy.CompileCEL(`request.path == "/health" ? null :
		"x-customer" in request.headers ? {"key": request.headers["x-customer"], "requestsAllowed": request.user.data.plan == "pro" ? 1000 : 10, "timeWindowMinutes": 0.5} :
		request.user.sub != "" ? request.user.sub + ":" + request.method + ":" + request.query["v"] : null`)
	if err != nil {
		t.Fatal(err)
	}
	req := func(path string, setup ...func(*http.Request)) *http.Request {
		r := httptest.NewRequest(http.MethodPost, "http://x"+path, nil)
		for _, f := range setup {
			f(r)
		}
		return r
	}
	pro := withUser("alice", map[string]any{"plan": "pro"})
	for _, tc := range []struct {
		name string
		r    *http.Request
		want *policy.Details
	}{
		{"health skipped", req("/health", pro), nil},
		{"anonymous skipped", req("/v1"), nil},
		{"string key", req("/v1?v=2", pro), &policy.Details{Key: "alice:POST:2"}},
		{"map", req("/v1", pro, withHeader("X-Customer", "acme")), &policy.Details{Key: "acme", RequestsAllowed: 1000, TimeWindow: 30 * time.Second}},
	} {
		d, err := fn(tc.r)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if (d == nil) != (tc.want == nil) || d != nil && *d != *tc.want {
			t.Errorf("%s: %+v, want %+v", tc.name, d, tc.want)
		}
	}
	// Numbers of API-key metadata decoded with UseNumber are numbers.
	seats, err := policy.CompileCEL(`request.user.data.seats > 3 ? request.user.sub : null`)
	if err != nil {
		t.Fatal(err)
	}
	if d, err := seats(req("/", withUser("acme", map[string]any{"seats": json.Number("5"), "tags": []any{json.Number("1.5")}}))); err != nil || d == nil || d.Key != "acme" {
		t.Errorf("json.Number metadata: %+v, %v", d, err)
	}
	// A missing map key is an evaluation error: a failure, not a panic.
	bad, err := policy.CompileCEL(`request.headers["x-missing"]`)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bad(req("/")); err == nil {
		t.Error("missing header: no error")
	}
	wrongMap, _ := policy.CompileCEL(`{"key": "k", "requestsAllowed": -1}`)
	if _, err := wrongMap(req("/")); err == nil {
		t.Error("negative requestsAllowed accepted")
	}
}

func TestCELPolicyEndToEnd(t *testing.T) {
	fn, err := policy.CompileCEL(`"x-api-key" in request.headers ? request.headers["x-api-key"] : null`)
	if err != nil {
		t.Fatal(err)
	}
	clk := newClock(epoch)
	set := newSet(t, newLimiter(t, clk), policy.Options{},
		&policy.Policy{Name: "by-key", By: policy.ByFunction, Func: fn, Limit: sluice.MustParseLimit("1/1m")})
	mw := policy.Middleware(set)(&handler{})
	if got := []int{do(mw, "192.0.2.1:1", withHeader("X-Api-Key", "k1")).Code, do(mw, "192.0.2.1:1", withHeader("X-Api-Key", "k1")).Code,
		do(mw, "192.0.2.1:1", withHeader("X-Api-Key", "k2")).Code, do(mw, "192.0.2.1:1").Code, do(mw, "192.0.2.1:1").Code}; got[0] != 200 || got[1] != 429 || got[2] != 200 || got[3] != 200 || got[4] != 200 {
		t.Errorf("got %v, want [200 429 200 200 200]", got)
	}
}
