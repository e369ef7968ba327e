package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
)

// ProblemContentType is the media type of every error response (RFC 9457).
const ProblemContentType = "application/problem+json"

// problemTypeBase prefixes the type URI of every problem, as in the admin API.
const problemTypeBase = "urn:sluice:problem:"

// The problem types, the last part of each problem's type URI; docs/api.md
// lists them.
const (
	ProblemInvalidRequest   = "invalid-request"
	ProblemInvalidJSON      = "invalid-json"
	ProblemNotFound         = "not-found"
	ProblemMethodNotAllowed = "method-not-allowed"
	ProblemTooLarge         = "body-too-large"
	ProblemUnsupportedMedia = "unsupported-media-type"
	ProblemStoreUnavailable = "store-unavailable"
	ProblemRulesDisabled    = "rules-not-configured"
	ProblemInternal         = "internal"
)

var problemTitles = map[string]string{
	ProblemInvalidRequest:   "The request is not valid",
	ProblemInvalidJSON:      "The request body is not acceptable JSON",
	ProblemNotFound:         "Not found",
	ProblemMethodNotAllowed: "Method not allowed",
	ProblemTooLarge:         "The request body is too large",
	ProblemUnsupportedMedia: "Unsupported content type",
	ProblemStoreUnavailable: "The rate-limit store is unavailable",
	ProblemRulesDisabled:    "Rules are not configured on this server",
	ProblemInternal:         "Internal error",
}

// ErrInvalidRequest is wrapped by every ValidationError.
var ErrInvalidRequest = errors.New("invalid request")

// FieldError says what is wrong with one field of a request.
type FieldError struct {
	// Field is the JSON name (or query parameter) of the field, with an
	// index for batch items: "limits[2].window".
	Field string `json:"field"`
	// Rule says which rule the value broke: what was wrong and what is
	// accepted. The admin API (rules/admin) uses the same two names.
	Rule string `json:"rule"`
}

// ValidationError lists every field of a request that is not acceptable.
// It wraps ErrInvalidRequest.
type ValidationError struct {
	// Errors are the fields in error, in the order found.
	Errors []FieldError
}

// Error lists the fields and their messages.
func (e *ValidationError) Error() string {
	var b strings.Builder
	b.WriteString(ErrInvalidRequest.Error())
	for i, f := range e.Errors {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		b.WriteString(f.Field + ": " + f.Rule)
	}
	return b.String()
}

// Unwrap returns ErrInvalidRequest.
func (e *ValidationError) Unwrap() error { return ErrInvalidRequest }

// add records a problem with field.
func (e *ValidationError) add(field, format string, args ...any) {
	e.Errors = append(e.Errors, FieldError{Field: field, Rule: fmt.Sprintf(format, args...)})
}

// prefixed returns e's errors with prefix before each field.
func (e *ValidationError) prefixed(prefix string) []FieldError {
	out := make([]FieldError, len(e.Errors))
	for i, f := range e.Errors {
		out[i] = FieldError{Field: prefix + f.Field, Rule: f.Rule}
	}
	return out
}

// err returns a copy of e, or nil when no field is wrong.
func (e *ValidationError) err() error {
	if len(e.Errors) == 0 {
		return nil
	}
	c := *e // a copy escapes, so that a ValidationError on the stack stays there
	return &c
}

// Problem is the body of every error response: an RFC 9457 problem detail,
// with Errors naming each field of the request that was wrong.
type Problem struct {
	// Type is "urn:sluice:problem:" and one of the Problem* constants.
	Type string `json:"type"`
	// Title is a short summary of the kind of problem.
	Title string `json:"title"`
	// Status is the HTTP status code.
	Status int `json:"status"`
	// Detail explains this occurrence.
	Detail string `json:"detail,omitempty"`
	// Instance is the request path.
	Instance string `json:"instance,omitempty"`
	// Errors lists the fields that were wrong; present on 400 responses.
	Errors []FieldError `json:"errors,omitempty"`
}

// apiError is an error response waiting to be written.
type apiError struct {
	status int
	kind   string
	detail string
	fields []FieldError
	header http.Header // extra headers, such as Allow or Retry-After
}

func (e *apiError) Error() string { return e.kind + ": " + e.detail }

func badRequest(detail string, fields ...FieldError) *apiError {
	return &apiError{status: http.StatusBadRequest, kind: ProblemInvalidRequest, detail: detail, fields: fields}
}

func badJSON(detail string, fields ...FieldError) *apiError {
	return &apiError{status: http.StatusBadRequest, kind: ProblemInvalidJSON, detail: detail, fields: fields}
}

// invalid turns a ValidationError into a 400 response.
func invalid(v *ValidationError, prefix string) *apiError {
	return badRequest("the request has invalid fields; see errors", v.prefixed(prefix)...)
}

// writeProblem writes e as application/problem+json.
func writeProblem(w http.ResponseWriter, r *http.Request, e *apiError) {
	for k, vs := range e.header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	p := Problem{
		Type:     problemTypeBase + e.kind,
		Title:    problemTitles[e.kind],
		Status:   e.status,
		Detail:   e.detail,
		Instance: r.URL.Path,
		Errors:   e.fields,
	}
	writeJSON(w, e.status, ProblemContentType, p)
}

// writeJSON writes v with the given status and content type.
func writeJSON(w http.ResponseWriter, status int, contentType string, v any) {
	b, err := json.Marshal(v)
	if err != nil { // only for values that cannot be JSON: a bug
		status, contentType = http.StatusInternalServerError, ProblemContentType
		b = []byte(`{"type":"` + problemTypeBase + ProblemInternal + `","title":"Internal error","status":500}`)
	}
	writeBody(w, status, contentType, append(b, '\n'))
}

// The values of the headers every answer carries. They are shared, never
// modified: net/http only reads them, and Header.Add appends to a copy, as
// each has no spare capacity.
var (
	jsonType    = []string{"application/json"}
	problemType = []string{ProblemContentType}
	noStore     = []string{"no-store"}
	noSniff     = []string{"nosniff"}
)

// bodies holds buffers for answers built by appending (*[]byte): Write
// does not keep what it is given, so a buffer is reused once written.
var bodies = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// writeBody writes body with the given status and content type, and the
// headers every answer carries.
func writeBody(w http.ResponseWriter, status int, contentType string, body []byte) {
	h := w.Header()
	switch contentType {
	case "application/json":
		h["Content-Type"] = jsonType
	case ProblemContentType:
		h["Content-Type"] = problemType
	default:
		h.Set("Content-Type", contentType)
	}
	h["Cache-Control"] = noStore
	h["X-Content-Type-Options"] = noSniff
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
