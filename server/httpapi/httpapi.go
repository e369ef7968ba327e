// Package httpapi is Sluice's HTTP decision API: other programs ask, in
// JSON, whether a call may pass.
//
//	POST /v1/limit         decide one call (200 allowed, 429 denied)
//	POST /v1/limit/batch   decide several calls, all-or-nothing
//	GET  /v1/limit         read a counter without consuming
//	POST /v1/reset         forget a counter
//	POST /v1/rules/check   decide by the stored rules matching a request's attributes
//
// Errors are RFC 9457 problem details (application/problem+json) naming
// the fields in error; input never causes a 500. docs/api.md documents
// every endpoint with examples that a test runs. The Decider holds the
// protocol-independent logic the gRPC service (server/grpcapi) shares.
package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/server/metrics"
)

// Handler serves the decision API. Create one with New.
type Handler struct {
	dec     *Decider
	maxBody int64
	routes  map[string]route
}

// route is the handler of each method on one path.
type route struct {
	methods map[string]func(http.ResponseWriter, *http.Request) *apiError
	allow   string
}

// New returns the decision API's handler. It fails when cfg.Limiter is nil
// or a bound is negative.
func New(cfg Config) (*Handler, error) {
	d, err := NewDecider(cfg)
	if err != nil {
		return nil, err
	}
	h := &Handler{dec: d, maxBody: cfg.MaxBody}
	if h.maxBody == 0 {
		h.maxBody = DefaultMaxBody
	}
	h.routes = map[string]route{
		"/v1/limit": {methods: map[string]func(http.ResponseWriter, *http.Request) *apiError{
			http.MethodPost: h.limit, http.MethodGet: h.peek,
		}, allow: "GET, POST"},
		"/v1/limit/batch": {methods: map[string]func(http.ResponseWriter, *http.Request) *apiError{
			http.MethodPost: h.batch,
		}, allow: "POST"},
		"/v1/reset": {methods: map[string]func(http.ResponseWriter, *http.Request) *apiError{
			http.MethodPost: h.reset,
		}, allow: "POST"},
		"/v1/rules/check": {methods: map[string]func(http.ResponseWriter, *http.Request) *apiError{
			http.MethodPost: h.checkRules,
		}, allow: "POST"},
	}
	return h, nil
}

// Decider returns the handler's Decider.
func (h *Handler) Decider() *Decider { return h.dec }

// ServeHTTP routes a request: the paths above, with or without a trailing
// slash; others are 404, other methods 405, both as problem details.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	if len(path) > 1 {
		path = strings.TrimSuffix(path, "/")
	}
	rt, ok := h.routes[path]
	if !ok {
		writeProblem(w, r, &apiError{status: http.StatusNotFound, kind: ProblemNotFound,
			detail: "no such endpoint; the decision API serves /v1/limit, /v1/limit/batch, /v1/reset and /v1/rules/check"})
		return
	}
	serve, ok := rt.methods[r.Method]
	if !ok {
		writeProblem(w, r, &apiError{status: http.StatusMethodNotAllowed, kind: ProblemMethodNotAllowed,
			detail: r.Method + " is not accepted on " + path + "; accepted: " + rt.allow,
			header: http.Header{"Allow": {rt.allow}}})
		return
	}
	if e := serve(w, r); e != nil {
		writeProblem(w, r, e)
	}
}

// decideError turns an error of the Decider into a response.
func decideError(r *http.Request, err error) *apiError {
	var ve *ValidationError
	switch {
	case errors.As(err, &ve):
		return invalid(ve, "")
	case errors.Is(err, sluice.ErrStoreUnavailable):
		return &apiError{status: http.StatusServiceUnavailable, kind: ProblemStoreUnavailable,
			detail: "the rate-limit store did not answer and the limiter is fail-closed; retry later",
			header: http.Header{"Retry-After": {"1"}}}
	case errors.Is(err, ErrRulesNotConfigured):
		return &apiError{status: http.StatusNotImplemented, kind: ProblemRulesDisabled,
			detail: "this server has no rules database; configure one to use /v1/rules/check"}
	case errors.Is(err, sluice.ErrInvalidKey), errors.Is(err, sluice.ErrInvalidLimit), errors.Is(err, sluice.ErrInvalidCost):
		return badRequest(strings.TrimPrefix(err.Error(), "httpapi: "))
	case r.Context().Err() != nil || errors.Is(err, context.Canceled):
		return &apiError{status: http.StatusServiceUnavailable, kind: ProblemStoreUnavailable,
			detail: "the request was canceled before the store answered"}
	}
	return &apiError{status: http.StatusInternalServerError, kind: ProblemInternal, detail: "the decision failed"}
}

// limit serves POST /v1/limit.
func (h *Handler) limit(w http.ResponseWriter, r *http.Request) *apiError {
	var s LimitSpec
	if e := decodeJSON(w, r, h.maxBody, &s, limitSpecFields); e != nil {
		return e
	}
	res, c, err := h.dec.Limit(r.Context(), metrics.ProtocolHTTP, s)
	if err != nil {
		return decideError(r, err)
	}
	name := c.Name
	if name == "" {
		name = "default"
	}
	setRateLimitHeaders(w.Header(), []quotaItem{{name: name, limit: c.Limit, decision: res.Decision}})
	retryAfter(w.Header(), res)
	body := newDecisionBody(res)
	buf := bodies.Get().(*[]byte)
	*buf = append(body.appendJSON((*buf)[:0]), '\n')
	writeBody(w, status(res), "application/json", *buf)
	bodies.Put(buf)
	return nil
}

// batchRequest is the body of POST /v1/limit/batch.
type batchRequest struct {
	Limits []json.RawMessage `json:"limits"`
}

// batchResponse is the body of a batch's answer: the combined decision's
// fields, and each limit's.
type batchResponse struct {
	decisionBody
	Decisions []decisionBody `json:"decisions"`
}

// batch serves POST /v1/limit/batch.
func (h *Handler) batch(w http.ResponseWriter, r *http.Request) *apiError {
	var q batchRequest
	if e := decodeJSON(w, r, h.maxBody, &q, "limits"); e != nil {
		return e
	}
	specs := make([]LimitSpec, len(q.Limits))
	for i, raw := range q.Limits {
		if len(q.Limits) > h.dec.maxBatch {
			break // Batch reports the count
		}
		if e := decodeItem(raw, &specs[i], limitSpecFields, "limits["+itoa(i)+"]."); e != nil {
			return e
		}
	}
	res, err := h.dec.Batch(r.Context(), metrics.ProtocolHTTP, specs)
	if err != nil {
		return decideError(r, err)
	}
	body := batchResponse{decisionBody: newDecisionBody(res.Combined), Decisions: make([]decisionBody, len(res.Each))}
	items := make([]quotaItem, len(res.Each))
	for i, e := range res.Each {
		body.Decisions[i] = newDecisionBody(e)
		body.Decisions[i].Error = ""
		items[i] = quotaItem{name: batchName(res.Calls[i].Name, i), limit: res.Calls[i].Limit, decision: e.Decision}
	}
	setRateLimitHeaders(w.Header(), items)
	retryAfter(w.Header(), res.Combined)
	writeJSON(w, status(res.Combined), "application/json", body)
	return nil
}

// batchName is a batch limit's name in headers: its own, or its index.
func batchName(name string, i int) string {
	if name != "" {
		return name
	}
	return "limit" + itoa(i)
}

// reset serves POST /v1/reset.
func (h *Handler) reset(w http.ResponseWriter, r *http.Request) *apiError {
	var s ResetSpec
	if e := decodeJSON(w, r, h.maxBody, &s, resetSpecFields); e != nil {
		return e
	}
	if err := h.dec.Reset(r.Context(), metrics.ProtocolHTTP, s); err != nil {
		return decideError(r, err)
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
	return nil
}
