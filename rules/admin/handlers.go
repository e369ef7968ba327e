package admin

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/sluicehq/sluice/rules"
)

// ListResponse is the body of GET /api/rate-rules/.
type ListResponse struct {
	// Rules is one page of rules, oldest first; never null.
	Rules []rules.Rule `json:"rules"`
	// NextCursor, when not empty, fetches the next page as ?cursor=.
	NextCursor string `json:"next_cursor,omitempty"`
}

// AuditResponse is the body of GET /api/rate-rules/{id}/audit.
type AuditResponse struct {
	// Entries are the rule's changes, oldest first; never null.
	Entries []rules.AuditEntry `json:"entries"`
}

// create serves POST /api/rate-rules/.
func (h *Handler) create(w http.ResponseWriter, r *http.Request) {
	if e := checkContentType(r, false); e != nil {
		e.write(w, r)
		return
	}
	var in ruleInput
	if e := decodeJSON(w, r, h.maxBody, &in); e != nil {
		e.write(w, r)
		return
	}
	rule := in.rule()
	if err := rule.Validate(); err != nil {
		h.repoError(w, r, err)
		return
	}
	created, err := h.repo.Create(r.Context(), rule, actor(r))
	if err != nil {
		h.repoError(w, r, err)
		return
	}
	h.changed(r, rules.ActionCreate, created.ID)
	w.Header().Set("Location", BasePath+"/"+created.ID)
	writeJSON(w, http.StatusCreated, created)
}

// list serves GET /api/rate-rules/?key_type=&key_value=&plan=&enabled=&limit=&cursor=.
func (h *Handler) list(w http.ResponseWriter, r *http.Request) {
	q, e := parseQuery(r, "key_type", "key_value", "plan", "enabled", "limit", "cursor")
	if e != nil {
		e.write(w, r)
		return
	}
	f := rules.Filter{
		KeyType:  rules.KeyType(q.Get("key_type")),
		KeyValue: q.Get("key_value"),
		Plan:     q.Get("plan"),
		Cursor:   q.Get("cursor"),
	}
	var bad []rules.FieldError
	if s := q.Get("enabled"); s != "" {
		b, err := strconv.ParseBool(s)
		if err != nil {
			bad = append(bad, rules.FieldError{Field: "enabled", Rule: "must be true or false, got " + strconv.Quote(s)})
		}
		f.Enabled = &b
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > rules.MaxPageSize {
			bad = append(bad, rules.FieldError{Field: "limit", Rule: fmt.Sprintf("must be an integer between 1 and %d (default %d), got %q", rules.MaxPageSize, rules.DefaultPageSize, s)})
		}
		f.Limit = n
	}
	if len(bad) > 0 {
		writeProblem(w, r, http.StatusBadRequest, ProblemInvalidQuery, "one or more query parameters are not valid; see errors", bad...)
		return
	}
	if err := f.Validate(); err != nil {
		h.queryError(w, r, err)
		return
	}
	page, err := h.repo.List(r.Context(), f)
	if err != nil {
		h.repoError(w, r, err)
		return
	}
	resp := ListResponse{Rules: page.Rules, NextCursor: page.NextCursor}
	if resp.Rules == nil {
		resp.Rules = []rules.Rule{}
	}
	writeJSON(w, http.StatusOK, resp)
}

// get serves GET /api/rate-rules/{id}.
func (h *Handler) get(w http.ResponseWriter, r *http.Request) {
	id, ok := h.ruleID(w, r)
	if !ok {
		return
	}
	if _, e := parseQuery(r); e != nil {
		e.write(w, r)
		return
	}
	rule, err := h.repo.Get(r.Context(), id)
	if err != nil {
		h.repoError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, rule)
}

// update serves PATCH /api/rate-rules/{id}/: the fields given replace the
// rule's, the others stay.
func (h *Handler) update(w http.ResponseWriter, r *http.Request) {
	id, ok := h.ruleID(w, r)
	if !ok {
		return
	}
	if e := checkContentType(r, true); e != nil {
		e.write(w, r)
		return
	}
	var in ruleInput
	if e := decodeJSON(w, r, h.maxBody, &in); e != nil {
		e.write(w, r)
		return
	}
	if in.empty() {
		writeProblem(w, r, http.StatusBadRequest, ProblemInvalidJSON, "the patch changes nothing; give at least one of: "+ruleFields)
		return
	}
	updated, err := h.repo.Update(r.Context(), id, in.patch(), actor(r))
	if err != nil {
		h.repoError(w, r, err)
		return
	}
	h.changed(r, rules.ActionUpdate, id)
	writeJSON(w, http.StatusOK, updated)
}

// remove serves DELETE /api/rate-rules/{id}/: 204 after removing the rule,
// or 200 with the rule after disabling it when ?soft=true.
func (h *Handler) remove(w http.ResponseWriter, r *http.Request) {
	id, ok := h.ruleID(w, r)
	if !ok {
		return
	}
	q, e := parseQuery(r, "soft")
	if e != nil {
		e.write(w, r)
		return
	}
	soft := false
	if s := q.Get("soft"); s != "" {
		b, err := strconv.ParseBool(s)
		if err != nil {
			writeProblem(w, r, http.StatusBadRequest, ProblemInvalidQuery, "soft must be true or false",
				rules.FieldError{Field: "soft", Rule: "must be true or false, got " + strconv.Quote(s)})
			return
		}
		soft = b
	}
	if soft {
		off := false
		updated, err := h.repo.Update(r.Context(), id, rules.Patch{Enabled: &off}, actor(r))
		if err != nil {
			h.repoError(w, r, err)
			return
		}
		h.changed(r, rules.ActionUpdate, id)
		writeJSON(w, http.StatusOK, updated)
		return
	}
	if err := h.repo.Delete(r.Context(), id, actor(r)); err != nil {
		h.repoError(w, r, err)
		return
	}
	h.changed(r, rules.ActionDelete, id)
	w.WriteHeader(http.StatusNoContent)
}

// audit serves GET /api/rate-rules/{id}/audit?limit=: the rule's changes,
// oldest first, also after the rule was deleted.
func (h *Handler) audit(w http.ResponseWriter, r *http.Request) {
	id, ok := h.ruleID(w, r)
	if !ok {
		return
	}
	q, e := parseQuery(r, "limit")
	if e != nil {
		e.write(w, r)
		return
	}
	limit := 0
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > rules.MaxAuditEntries {
			writeProblem(w, r, http.StatusBadRequest, ProblemInvalidQuery, "limit is not valid",
				rules.FieldError{Field: "limit", Rule: fmt.Sprintf("must be an integer between 1 and %d (default 100), got %q", rules.MaxAuditEntries, s)})
			return
		}
		limit = n
	}
	entries, err := h.repo.Audit(r.Context(), id, limit)
	if err != nil {
		h.repoError(w, r, err)
		return
	}
	if len(entries) == 0 {
		// No history: tell an unknown id from a rule without entries.
		if _, err := h.repo.Get(r.Context(), id); err != nil {
			h.repoError(w, r, err)
			return
		}
		entries = []rules.AuditEntry{}
	}
	writeJSON(w, http.StatusOK, AuditResponse{Entries: entries})
}

// ruleID returns the canonical rule id of the path; an id that is not a
// UUID names no rule and gets 404.
func (h *Handler) ruleID(w http.ResponseWriter, r *http.Request) (string, bool) {
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		writeProblem(w, r, http.StatusNotFound, ProblemNotFound, "no rule has this id (ids are UUIDs)")
		return "", false
	}
	return id.String(), true
}

// parseQuery parses r's query, rejecting parameters not in allowed and
// parameters given twice.
func parseQuery(r *http.Request, allowed ...string) (url.Values, *apiError) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, &apiError{status: http.StatusBadRequest, kind: ProblemInvalidQuery, detail: "the query string is malformed: " + err.Error()}
	}
	var bad []rules.FieldError
	for name, vs := range q {
		switch {
		case !slices.Contains(allowed, name):
			rule := "is not accepted here"
			if len(allowed) > 0 {
				rule = fmt.Sprintf("is not accepted here; accepted: %v", allowed)
			}
			bad = append(bad, rules.FieldError{Field: name, Rule: rule})
		case len(vs) > 1:
			bad = append(bad, rules.FieldError{Field: name, Rule: "must be given once"})
		}
	}
	if len(bad) > 0 {
		slices.SortFunc(bad, func(a, b rules.FieldError) int { return strings.Compare(a.Field, b.Field) })
		return nil, &apiError{status: http.StatusBadRequest, kind: ProblemInvalidQuery, detail: "one or more query parameters are not valid; see errors", fields: bad}
	}
	return q, nil
}

// queryError answers a Filter validation error as a query problem.
func (h *Handler) queryError(w http.ResponseWriter, r *http.Request, err error) {
	var ve *rules.ValidationError
	if errors.As(err, &ve) {
		writeProblem(w, r, http.StatusBadRequest, ProblemInvalidQuery, "one or more query parameters are not valid; see errors", ve.Fields...)
		return
	}
	h.repoError(w, r, err)
}
