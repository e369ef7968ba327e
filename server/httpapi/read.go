package httpapi

import (
	"net/http"
	"net/url"
	"strconv"

	"github.com/sluicehq/sluice/server/metrics"
)

// peekParams lists the query parameters of GET /v1/limit.
const peekParams = "key, action, identity, limit, requests, window_ms, window, algorithm, burst, name"

// maxQuery bounds the length of GET /v1/limit's query string.
const maxQuery = 4 << 10

// peek serves GET /v1/limit: the LimitSpec's fields as query parameters,
// without cost. It always answers 200: allowed says whether a call of cost
// 1 would pass now.
func (h *Handler) peek(w http.ResponseWriter, r *http.Request) *apiError {
	if len(r.URL.RawQuery) > maxQuery {
		return badRequest("the query string is " + itoa(len(r.URL.RawQuery)) + " bytes; at most " + itoa(maxQuery) + " are accepted")
	}
	s, e := peekSpec(r.URL.RawQuery)
	if e != nil {
		return e
	}
	res, c, err := h.dec.Peek(r.Context(), metrics.ProtocolHTTP, s)
	if err != nil {
		return decideError(r, err)
	}
	name := c.Name
	if name == "" {
		name = "default"
	}
	setRateLimitHeaders(w.Header(), []quotaItem{{name: name, limit: c.Limit, decision: res.Decision}})
	body := newDecisionBody(res)
	body.Allowed, body.Error = res.Decision.Allowed, ""
	writeJSON(w, http.StatusOK, "application/json", body)
	return nil
}

// peekSpec reads a LimitSpec from a query string: each parameter at most
// once, none unknown.
func peekSpec(rawQuery string) (LimitSpec, *apiError) {
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return LimitSpec{}, badRequest("the query string is malformed: " + err.Error())
	}
	var (
		s LimitSpec
		v ValidationError
	)
	integer := func(name, text string, dst *int64) {
		n, err := strconv.ParseInt(text, 10, 64)
		if err != nil {
			v.add(name, "must be an integer, got %q", truncate(text, 32))
			return
		}
		*dst = n
	}
	for name, values := range q {
		if len(values) > 1 {
			v.add(name, "is given %d times; give it once", len(values))
			continue
		}
		val := values[0]
		switch name {
		case "key":
			s.Key = val
		case "action":
			s.Action = val
		case "identity":
			s.Identity = val
		case "limit":
			s.Limit = val
		case "window":
			s.Window = val
		case "algorithm":
			s.Algorithm = val
		case "name":
			s.Name = val
		case "requests":
			integer(name, val, &s.Requests)
		case "window_ms":
			integer(name, val, &s.WindowMS)
		case "burst":
			integer(name, val, &s.Burst)
		default:
			v.add(truncate(name, 64), "is not a known parameter; accepted: %s", peekParams)
		}
	}
	if len(v.Errors) > 0 {
		return LimitSpec{}, invalid(&v, "")
	}
	return s, nil
}

// itoa formats an int.
func itoa(n int) string { return strconv.Itoa(n) }
