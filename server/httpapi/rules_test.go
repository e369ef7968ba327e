package httpapi_test

import (
	"testing"

	"github.com/sluicehq/sluice/rules"
)

type ruleBody struct {
	decision
	RuleID     string `json:"rule_id"`
	KeyType    string `json:"key_type"`
	KeyValue   string `json:"key_value"`
	ShadowRule bool   `json:"shadow_rule"`
}

type rulesBody struct {
	decision
	Fallback bool       `json:"fallback"`
	DeniedBy *ruleBody  `json:"denied_by"`
	Rules    []ruleBody `json:"rules"`
}

func TestRulesCheck(t *testing.T) {
	e := newEnv(t, withRules(t))
	req := `{"user_id":"alice","ip":"10.1.2.3","route":"/api/chat","method":"POST"}`
	for i := range 3 {
		resp, b := e.do(t, "POST", "/v1/rules/check", req)
		got := decode[rulesBody](t, b)
		if resp.StatusCode != 200 || !got.Allowed || got.Fallback || got.DeniedBy != nil {
			t.Fatalf("call %d: %d %s", i, resp.StatusCode, b)
		}
		if len(got.Rules) != 3 || got.Rules[0].KeyType != "user_id" || got.Rules[1].KeyType != "route" || got.Rules[2].KeyType != "ip" || !got.Rules[2].ShadowRule {
			t.Fatalf("rules %s", b)
		}
		// The shadow ip rule (1 per minute) denies from the second call on,
		// but never blocks, and the enforced rules are unaffected by it.
		if sh := got.Rules[2]; i > 0 && (sh.Reason != "rate_limited" && sh.Reason != "cache_block" || !sh.Shadow || !sh.Allowed) {
			t.Errorf("call %d shadow rule: %+v", i, sh)
		}
		if got.Rules[0].Remaining != int64(2-i) {
			t.Errorf("call %d: user remaining %d", i, got.Rules[0].Remaining)
		}
		if resp.Header.Get("RateLimit-Policy") != `"user_id";q=3;w=60, "route";q=100;w=60` {
			t.Errorf("RateLimit-Policy %q", resp.Header.Get("RateLimit-Policy"))
		}
	}
	resp, b := e.do(t, "POST", "/v1/rules/check", req)
	got := decode[rulesBody](t, b)
	if resp.StatusCode != 429 || got.Allowed || got.Error != "ERROR_RATE_LIMIT" || got.DeniedBy == nil || got.DeniedBy.KeyType != "user_id" ||
		got.DeniedBy.RuleID != "0190b1c2-0000-7000-8000-000000000001" || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("denied: %d %s", resp.StatusCode, b)
	}
	// The denied call took nothing from the route rule.
	if got.Rules[1].Remaining != 97 {
		t.Errorf("route remaining %d after a denied call", got.Rules[1].Remaining)
	}
	// Another user is not limited by alice's counter; no attributes means
	// no rule applies.
	resp, b = e.do(t, "POST", "/v1/rules/check", `{"user_id":"bob"}`)
	if got := decode[rulesBody](t, b); resp.StatusCode != 200 || got.Rules[0].Remaining != 2 {
		t.Errorf("bob: %s", b)
	}
	resp, b = e.do(t, "POST", "/v1/rules/check", `{}`)
	if got := decode[rulesBody](t, b); resp.StatusCode != 200 || len(got.Rules) != 0 || got.Limit != 0 || !got.Allowed {
		t.Errorf("no attributes: %s", b)
	}
}

func TestRulesCheckBadInput(t *testing.T) {
	e := newEnv(t, withRules(t))
	for body, field := range map[string]string{
		`{"ip":"not-an-ip"}`:   "ip",
		`{"route":"api/chat"}`: "route",
		`{"route":"/a?b=c"}`:   "route",
		`{"method":"GE T"}`:    "method",
		`{"cost":-2}`:          "cost",
		`{"user":"x"}`:         "user",
		`{"user_id":["a"]}`:    "user_id",
	} {
		resp, b := e.do(t, "POST", "/v1/rules/check", body)
		p := decode[problem](t, b)
		if resp.StatusCode != 400 || len(p.Errors) == 0 || p.Errors[0].Field != field {
			t.Errorf("%s: %d %s", body, resp.StatusCode, b)
		}
	}
}

func TestRulesCheckFallbackAndShadow(t *testing.T) {
	fb := []rules.Rule{{KeyType: rules.KeyUserID, KeyValue: "*", Limit: 1, WindowSeconds: 60, Algorithm: "fixed_window"}}
	e := newEnv(t, withResolver(newResolver(t, nil, fb, true)), withShadow)
	e.do(t, "POST", "/v1/rules/check", `{"user_id":"u"}`)
	resp, b := e.do(t, "POST", "/v1/rules/check", `{"user_id":"u"}`)
	got := decode[rulesBody](t, b)
	if resp.StatusCode != 200 || !got.Fallback || !got.Allowed || !got.Shadow || got.Reason != "rate_limited" {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
}
