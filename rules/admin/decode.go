package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"strings"

	"github.com/sluicehq/sluice/rules"
)

// ruleFields lists the fields a request body may hold, for error messages.
const ruleFields = "key_type, key_value, method, plan, limit, window_seconds, algorithm, burst, timezone, enabled, shadow, priority, description"

// ruleInput is the body of a create or update request. Pointers tell an
// omitted field (or null) from a zero value.
type ruleInput struct {
	KeyType       *rules.KeyType `json:"key_type"`
	KeyValue      *string        `json:"key_value"`
	Method        *string        `json:"method"`
	Plan          *string        `json:"plan"`
	Limit         *int64         `json:"limit"`
	WindowSeconds *int64         `json:"window_seconds"`
	Algorithm     *string        `json:"algorithm"`
	Burst         *int64         `json:"burst"`
	TimeZone      *string        `json:"timezone"`
	Enabled       *bool          `json:"enabled"`
	Shadow        *bool          `json:"shadow"`
	Priority      *int           `json:"priority"`
	Description   *string        `json:"description"`
}

// patch returns the input as a partial update.
func (in ruleInput) patch() rules.Patch {
	return rules.Patch{
		KeyType: in.KeyType, KeyValue: in.KeyValue, Method: in.Method, Plan: in.Plan,
		Limit: in.Limit, WindowSeconds: in.WindowSeconds, Algorithm: in.Algorithm, Burst: in.Burst,
		TimeZone: in.TimeZone, Enabled: in.Enabled, Shadow: in.Shadow, Priority: in.Priority, Description: in.Description,
	}
}

// rule returns the input as a new rule: omitted fields are zero, except
// enabled, which defaults to true.
func (in ruleInput) rule() rules.Rule {
	return in.patch().Apply(rules.Rule{Enabled: true})
}

// empty reports whether no field was given.
func (in ruleInput) empty() bool { return in == ruleInput{} }

// apiError is a problem to answer a request with.
type apiError struct {
	status int
	kind   string
	detail string
	fields []rules.FieldError
}

func (e *apiError) write(w http.ResponseWriter, r *http.Request) {
	writeProblem(w, r, e.status, e.kind, e.detail, e.fields...)
}

func badJSON(detail string, fields ...rules.FieldError) *apiError {
	return &apiError{status: http.StatusBadRequest, kind: ProblemInvalidJSON, detail: detail, fields: fields}
}

// checkContentType accepts application/json and, when mergePatch is set,
// application/merge-patch+json, with an optional charset of utf-8.
func checkContentType(r *http.Request, mergePatch bool) *apiError {
	accepted := "application/json"
	if mergePatch {
		accepted += " or application/merge-patch+json"
	}
	ct := r.Header.Get("Content-Type")
	mt, params, err := mime.ParseMediaType(ct)
	ok := err == nil && (mt == "application/json" || (mergePatch && mt == "application/merge-patch+json"))
	if cs, has := params["charset"]; ok && has && !strings.EqualFold(cs, "utf-8") {
		ok = false
	}
	if !ok {
		got := ct
		if got == "" {
			got = "none"
		}
		return &apiError{status: http.StatusUnsupportedMediaType, kind: ProblemUnsupportedMedia,
			detail: fmt.Sprintf("Content-Type must be %s, got %s", accepted, got)}
	}
	return nil
}

// decodeJSON reads exactly one JSON object from r's body into dst, at most
// maxBody bytes, rejecting unknown fields and trailing data.
func decodeJSON(w http.ResponseWriter, r *http.Request, maxBody int64, dst any) *apiError {
	body := http.MaxBytesReader(w, r.Body, maxBody)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return jsonError(err, maxBody)
	}
	if _, err := dec.Token(); err != io.EOF {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return jsonError(err, maxBody)
		}
		return badJSON("the body must hold one JSON object and nothing after it")
	}
	return nil
}

// jsonError explains a decoding error.
func jsonError(err error, maxBody int64) *apiError {
	var (
		tooBig  *http.MaxBytesError
		syntax  *json.SyntaxError
		typeErr *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &tooBig):
		return &apiError{status: http.StatusRequestEntityTooLarge, kind: ProblemTooLarge,
			detail: fmt.Sprintf("the body must be at most %d bytes", maxBody)}
	case errors.Is(err, io.EOF):
		return badJSON("the body is empty; send a JSON object such as {\"key_type\":\"ip\",\"key_value\":\"10.0.0.0/8\",\"limit\":100,\"window_seconds\":60}")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return badJSON("the JSON ends too early")
	case errors.As(err, &syntax):
		return badJSON(fmt.Sprintf("malformed JSON at byte %d: %s", syntax.Offset, strings.TrimPrefix(syntax.Error(), "json: ")))
	case errors.As(err, &typeErr):
		if typeErr.Field == "" {
			return badJSON("the body must be a JSON object, got " + typeErr.Value)
		}
		return badJSON("a field has the wrong type; see errors",
			rules.FieldError{Field: typeErr.Field, Rule: "must be " + describeType(typeErr.Type) + ", got " + typeErr.Value})
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		if uq, uerr := strconv.Unquote(name); uerr == nil {
			name = uq
		}
		return badJSON("the body has a field that is not accepted; see errors",
			rules.FieldError{Field: name, Rule: "is not a known field; accepted: " + ruleFields})
	}
	return badJSON(strings.TrimPrefix(err.Error(), "json: "))
}

// describeType names the JSON a Go type takes.
func describeType(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return fmt.Sprintf("an integer between %d and %d", minInt(t.Bits()), maxInt(t.Bits()))
	case reflect.String:
		return "a string"
	}
	return "a " + t.Kind().String()
}

func maxInt(bits int) int64 { return 1<<(bits-1) - 1 }
func minInt(bits int) int64 { return -1 << (bits - 1) }
