package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"strings"
)

// checkContentType accepts application/json, any application/*+json, and
// a request without a Content-Type; anything else is 415.
func checkContentType(r *http.Request) *apiError {
	ct := r.Header.Get("Content-Type")
	if ct == "" || ct == "application/json" {
		return nil
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err == nil && (mt == "application/json" || strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json")) {
		return nil
	}
	return &apiError{
		status: http.StatusUnsupportedMediaType, kind: ProblemUnsupportedMedia,
		detail: fmt.Sprintf("Content-Type %q is not accepted; send application/json", ct),
		header: http.Header{"Accept-Post": {"application/json"}},
	}
}

// decodeJSON reads one JSON object from r's body into dst: at most maxBody
// bytes (413 beyond), unknown fields rejected, nothing after the object.
func decodeJSON(w http.ResponseWriter, r *http.Request, maxBody int64, dst any, accepted string) *apiError {
	if e := checkContentType(r); e != nil {
		return e
	}
	body := http.MaxBytesReader(w, r.Body, maxBody)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return jsonError(err, maxBody, accepted)
	}
	if _, err := dec.Token(); err != io.EOF {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return jsonError(err, maxBody, accepted)
		}
		return badJSON("the body must hold one JSON object and nothing after it")
	}
	return nil
}

// decodeItem decodes one element of a JSON array strictly, naming fields
// in errors with prefix ("limits[2].").
func decodeItem(raw json.RawMessage, dst any, accepted, prefix string) *apiError {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		e := jsonError(err, 0, accepted)
		for i := range e.fields {
			e.fields[i].Field = prefix + e.fields[i].Field
		}
		if len(e.fields) == 0 {
			e.detail = strings.TrimSuffix(prefix, ".") + ": " + e.detail
		}
		return e
	}
	return nil
}

// jsonError explains a decoding error; accepted lists the fields the body
// may have.
func jsonError(err error, maxBody int64, accepted string) *apiError {
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
		return badJSON("the body is empty; send a JSON object with the fields " + accepted)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return badJSON("the JSON ends too early")
	case errors.As(err, &syntax):
		return badJSON(fmt.Sprintf("malformed JSON at byte %d: %s", syntax.Offset, strings.TrimPrefix(syntax.Error(), "json: ")))
	case errors.As(err, &typeErr):
		if typeErr.Field == "" {
			return badJSON("the body must be a JSON object, got " + typeErr.Value)
		}
		return badJSON("a field has the wrong type; see errors",
			FieldError{Field: typeErr.Field, Rule: "must be " + describeType(typeErr.Type) + ", got " + typeErr.Value})
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		if uq, uerr := strconv.Unquote(name); uerr == nil {
			name = uq
		}
		return badJSON("the body has a field that is not accepted; see errors",
			FieldError{Field: name, Rule: "is not a known field; accepted: " + accepted})
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
	case reflect.Int64:
		return "an integer"
	case reflect.String:
		return "a string"
	case reflect.Slice:
		return "an array"
	case reflect.Struct:
		return "an object"
	}
	return "a " + t.Kind().String()
}
