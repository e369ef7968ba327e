package policy

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"reflect"
	"strings"
	"time"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
)

// ErrInvalidExpression is wrapped by the errors of CompileCEL.
var ErrInvalidExpression = errors.New("invalid CEL expression")

// celCostLimit bounds the work of one evaluation, so that no expression
// can spend unbounded time on a request.
const celCostLimit = 100_000

// ExprError is a CEL expression that does not compile: each issue with its
// position inside the expression, so that a configuration loader can point
// at it. It wraps ErrInvalidExpression.
type ExprError struct {
	// Expr is the expression.
	Expr string
	// Issues are the problems found, in order.
	Issues []ExprIssue
}

// ExprIssue is one problem of a CEL expression.
type ExprIssue struct {
	// Line and Column are 1-based, within the expression.
	Line, Column int
	// Message says what is wrong.
	Message string
}

// Error lists the issues as "line L, column C: message", separated by "; ".
func (e *ExprError) Error() string {
	var b strings.Builder
	b.WriteString(ErrInvalidExpression.Error())
	for i, is := range e.Issues {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "line %d, column %d: %s", is.Line, is.Column, is.Message)
	}
	return b.String()
}

// Unwrap returns ErrInvalidExpression.
func (e *ExprError) Unwrap() error { return ErrInvalidExpression }

// CompileCEL compiles a CEL expression (https://cel.dev) into a Func for a
// ByFunction policy, once, at configuration time. The expression sees one
// variable, request, a map with:
//
//	request.method   "GET"
//	request.path     "/v1/chat"
//	request.headers  map of lower-case header names to values (several
//	                 values joined with ", ")
//	request.query    map of query parameters to their first value
//	request.user.sub the authenticated subject, "" when none
//	request.user.data the user's claims or API-key metadata (a map)
//
// and returns one of: a string, the caller's key; a map {"key": string,
// "requestsAllowed": int, "timeWindowMinutes": number} that also overrides
// the policy's limit for this request; or null (or ""), to skip the
// request. For example:
//
//	request.path == "/health" ? null : request.user.sub
//	{"key": request.user.data.customerId, "requestsAllowed": request.user.data.plan == "pro" ? 1000 : 100}
//
// Reading a missing map key is an evaluation error, a failure of the
// policy (see Policy.ThrowOnFailure): test with `"x-id" in request.headers`
// first. A compile error is an *ExprError.
func CompileCEL(expr string) (Func, error) {
	env, err := cel.NewEnv(cel.Variable("request", cel.MapType(cel.StringType, cel.DynType)))
	if err != nil {
		return nil, fmt.Errorf("policy: CEL environment: %w", err)
	}
	parsed, iss := env.Parse(expr)
	if iss != nil && iss.Err() != nil {
		return nil, exprError(expr, iss.Errors())
	}
	ast, iss := env.Check(parsed)
	if iss != nil && iss.Err() != nil {
		// CEL's checker wants both branches of a conditional to have one
		// type, which `cond ? null : "key"` has not; such expressions run
		// unchecked, and every other problem is reported.
		var kept []*cel.Error
		for _, is := range iss.Errors() {
			if !strings.Contains(is.Message, "'_?_:_'") || !strings.Contains(is.Message, "null") {
				kept = append(kept, is)
			}
		}
		if len(kept) > 0 {
			return nil, exprError(expr, kept)
		}
		ast = parsed
	} else {
		switch t := ast.OutputType(); {
		case t.IsExactType(types.StringType), t.IsExactType(types.NullType), t.IsExactType(types.DynType),
			t.Kind() == types.MapKind:
		default:
			return nil, &ExprError{Expr: expr, Issues: []ExprIssue{{Line: 1, Column: 1,
				Message: fmt.Sprintf("the expression returns %s; accepted: a string key, a map {key, requestsAllowed, timeWindowMinutes}, or null", t)}}}
		}
	}
	prg, err := env.Program(ast, cel.CostLimit(celCostLimit), cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidExpression, err)
	}
	return func(r *http.Request) (*Details, error) {
		out, _, err := prg.ContextEval(r.Context(), map[string]any{"request": celRequest(r)})
		if err != nil {
			return nil, fmt.Errorf("CEL identifier: %w", err)
		}
		return celDetails(out)
	}, nil
}

// exprError converts CEL's issues.
func exprError(expr string, errs []*cel.Error) *ExprError {
	e := &ExprError{Expr: expr}
	for _, is := range errs {
		e.Issues = append(e.Issues, ExprIssue{Line: is.Location.Line(), Column: is.Location.Column() + 1, Message: is.Message})
	}
	return e
}

// celRequest is the request variable of a CEL identifier.
func celRequest(r *http.Request) map[string]any {
	headers := make(map[string]string, len(r.Header))
	for k, v := range r.Header {
		headers[strings.ToLower(k)] = strings.Join(v, ", ")
	}
	q := r.URL.Query()
	query := make(map[string]string, len(q))
	for k, v := range q {
		if len(v) > 0 {
			query[k] = v[0]
		}
	}
	user := map[string]any{"sub": "", "data": map[string]any{}}
	if u, ok := UserFrom(r.Context()); ok {
		user["sub"] = u.Subject
		if u.Data != nil {
			user["data"] = celValue(u.Data, 0)
		}
	}
	return map[string]any{"method": r.Method, "path": r.URL.Path, "headers": headers, "query": query, "user": user}
}

// celValue converts claims and metadata to values CEL knows: json.Number
// becomes int64 or float64, int becomes int64, recursively through maps and
// lists (to a bounded depth).
func celValue(v any, depth int) any {
	if depth > 16 {
		return nil
	}
	switch v := v.(type) {
	case json.Number:
		if n, err := v.Int64(); err == nil {
			return n
		}
		f, _ := v.Float64()
		return f
	case int:
		return int64(v)
	case int32:
		return int64(v)
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = celValue(e, depth+1)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = celValue(e, depth+1)
		}
		return out
	}
	return v
}

// celDetails converts an identifier's result.
func celDetails(v ref.Val) (*Details, error) {
	switch v := v.(type) {
	case types.Null:
		return nil, nil
	case types.String:
		if v == "" {
			return nil, nil
		}
		return &Details{Key: string(v)}, nil
	}
	m, err := v.ConvertToNative(reflect.TypeFor[map[string]any]())
	if err != nil {
		return nil, fmt.Errorf("CEL identifier returned %s; accepted: a string key, a map {key, requestsAllowed, timeWindowMinutes}, or null", v.Type().TypeName())
	}
	d := &Details{}
	for k, val := range m.(map[string]any) {
		switch k {
		case "key":
			s, ok := val.(string)
			if !ok {
				return nil, fmt.Errorf("CEL identifier: key is %T, not a string", val)
			}
			d.Key = s
		case "requestsAllowed":
			n, ok := wholeNumber(val)
			if !ok || n < 1 {
				return nil, fmt.Errorf("CEL identifier: requestsAllowed %v is not a positive whole number", val)
			}
			d.RequestsAllowed = n
		case "timeWindowMinutes":
			f, ok := number(val)
			if !ok || f <= 0 || f > float64(math.MaxInt64)/float64(time.Minute) {
				return nil, fmt.Errorf("CEL identifier: timeWindowMinutes %v is not a positive number", val)
			}
			d.TimeWindow = time.Duration(f * float64(time.Minute)).Round(time.Microsecond)
		default:
			return nil, fmt.Errorf("CEL identifier returned a map with %q; accepted keys: key, requestsAllowed, timeWindowMinutes", k)
		}
	}
	if d.Key == "" {
		return nil, nil
	}
	return d, nil
}

// number converts a CEL number to float64.
func number(v any) (float64, bool) {
	switch n := v.(type) {
	case int64:
		return float64(n), true
	case uint64:
		return float64(n), true
	case float64:
		return n, !math.IsNaN(n) && !math.IsInf(n, 0)
	}
	return 0, false
}

// wholeNumber converts a CEL number that is whole to int64.
func wholeNumber(v any) (int64, bool) {
	f, ok := number(v)
	if !ok || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
		return 0, false
	}
	return int64(f), true
}
