package httpapi

import (
	"net/http"

	"github.com/sluicehq/sluice/server/metrics"
)

// ruleBody is one matching rule's decision as JSON.
type ruleBody struct {
	RuleID   string `json:"rule_id"`
	KeyType  string `json:"key_type"`
	KeyValue string `json:"key_value"`
	Shadow   bool   `json:"shadow_rule"`
	decisionBody
}

// rulesResponse is the body of POST /v1/rules/check.
type rulesResponse struct {
	decisionBody
	Fallback bool       `json:"fallback"`
	DeniedBy *ruleBody  `json:"denied_by,omitempty"`
	Rules    []ruleBody `json:"rules"`
}

// checkRules serves POST /v1/rules/check.
func (h *Handler) checkRules(w http.ResponseWriter, r *http.Request) *apiError {
	var q RulesRequest
	if e := decodeJSON(w, r, h.maxBody, &q, rulesRequestFields); e != nil {
		return e
	}
	res, err := h.dec.CheckRules(r.Context(), metrics.ProtocolHTTP, q)
	if err != nil {
		return decideError(r, err)
	}
	body := rulesResponse{decisionBody: newDecisionBody(res.Combined), Fallback: res.Fallback, Rules: make([]ruleBody, len(res.Rules))}
	var items []quotaItem
	for i, rr := range res.Rules {
		b := newDecisionBody(rr.Result)
		b.Error = ""
		body.Rules[i] = ruleBody{
			RuleID:       rr.Match.Rule.ID,
			KeyType:      string(rr.Match.KeyType),
			KeyValue:     rr.Match.Rule.KeyValue,
			Shadow:       rr.Match.Shadow,
			decisionBody: b,
		}
		if !rr.Match.Shadow {
			items = append(items, quotaItem{name: string(rr.Match.KeyType), limit: rr.Match.Limit, decision: rr.Result.Decision})
		}
	}
	if res.DeniedBy >= 0 {
		body.DeniedBy = &body.Rules[res.DeniedBy]
	}
	setRateLimitHeaders(w.Header(), items)
	retryAfter(w.Header(), res.Combined)
	writeJSON(w, status(res.Combined), "application/json", body)
	return nil
}
