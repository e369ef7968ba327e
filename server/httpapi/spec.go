package httpapi

import (
	"fmt"
	"strings"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/algorithm"
)

// LimitSpec names a counter and the limit it counts under, as a request
// sends it. The counter is Key, or Action and Identity together (the key is
// then sluice.Key(action, identity): seed 002's rate_limit(action,
// identity, calls, window_ms)). The limit is Limit text ("100/1m",
// "10/s token_bucket burst=20"), or Requests with WindowMS or Window, with
// optional Algorithm and Burst.
type LimitSpec struct {
	// Key is the counter's name.
	Key string `json:"key,omitempty"`
	// Action is what is limited ("login"); with Identity, instead of Key.
	Action string `json:"action,omitempty"`
	// Identity is who is limited ("alice@example.com", "public").
	Identity string `json:"identity,omitempty"`
	// Limit is limit text, as sluice.ParseLimit reads it.
	Limit string `json:"limit,omitempty"`
	// Requests is the allowance per window.
	Requests int64 `json:"requests,omitempty"`
	// WindowMS is the window in milliseconds.
	WindowMS int64 `json:"window_ms,omitempty"`
	// Window is the window as text: "1m", "90s", "1h30m", "1d", "1mo".
	Window string `json:"window,omitempty"`
	// Algorithm names the algorithm; empty means sliding_window.
	Algorithm string `json:"algorithm,omitempty"`
	// Burst is the capacity of token_bucket and gcra.
	Burst int64 `json:"burst,omitempty"`
	// Cost is what the call takes; nil means 1, 0 only reads.
	Cost *int64 `json:"cost,omitempty"`
	// Name labels the limit in a batch and in the RateLimit headers:
	// letters, digits, '_', '-', '.', ':', at most 64 bytes.
	Name string `json:"name,omitempty"`
}

// limitSpecFields lists the fields of LimitSpec for error messages.
const limitSpecFields = "key, action, identity, limit, requests, window_ms, window, algorithm, burst, cost, name"

// Call is a validated LimitSpec, ready for the limiter.
type Call struct {
	// Name is the spec's name; may be empty.
	Name string
	// Key is the counter key.
	Key string
	// Limit is the limit.
	Limit sluice.Limit
	// Cost is the cost, 1 when the spec gave none.
	Cost int64
	// Action is the spec's action, the policy label of its metrics.
	Action string
}

// maxName bounds a LimitSpec's name.
const maxName = 64

// Compile validates s and returns the Call it describes, or a
// *ValidationError naming every field in error.
func (s LimitSpec) Compile() (Call, error) {
	var v ValidationError
	c := Call{Name: s.Name, Action: s.Action, Cost: 1}
	c.Key = compileKey(&v, s.Key, s.Action, s.Identity)
	c.Limit = s.compileLimit(&v)
	if s.Cost != nil {
		if *s.Cost < 0 {
			v.add("cost", "%d is negative; a cost is 0 (read only) or more", *s.Cost)
		}
		c.Cost = *s.Cost
	}
	if s.Name != "" && !validName(s.Name) {
		v.add("name", "%q is not accepted: at most %d letters, digits, '_', '-', '.' or ':'", s.Name, maxName)
	}
	if err := v.err(); err != nil {
		return Call{}, err
	}
	return c, nil
}

// compileKey returns the counter key of key, or of action and identity.
func compileKey(v *ValidationError, key, action, identity string) string {
	switch {
	case key != "" && (action != "" || identity != ""):
		v.add("key", "give key, or action and identity, not both")
		return ""
	case key != "":
		if len(key) > sluice.MaxKeyLength {
			v.add("key", "is %d bytes; at most %d are accepted", len(key), sluice.MaxKeyLength)
		}
		return key
	case action == "" && identity == "":
		v.add("key", "required: the counter's key, or action and identity (such as \"login\" and \"alice@example.com\")")
		return ""
	case action == "":
		v.add("action", "required with identity: what is limited, such as \"login\"")
		return ""
	case identity == "":
		v.add("identity", "required with action: who is limited, such as \"alice@example.com\" or \"public\"")
		return ""
	}
	k := sluice.Key(action, identity)
	if len(k) > sluice.MaxKeyLength {
		v.add("identity", "action and identity make a key of %d bytes; at most %d are accepted", len(k), sluice.MaxKeyLength)
	}
	return k
}

// compileLimit returns the limit of the spec.
func (s LimitSpec) compileLimit(v *ValidationError) sluice.Limit {
	fields := s.Requests != 0 || s.WindowMS != 0 || s.Window != ""
	switch {
	case s.Limit != "" && fields:
		v.add("limit", "give limit text, or requests with window_ms or window, not both")
		return sluice.Limit{}
	case s.Limit != "":
		bad := false
		if s.Algorithm != "" {
			v.add("algorithm", "write the algorithm in the limit text, such as \"10/s token_bucket\"")
			bad = true
		}
		if s.Burst != 0 {
			v.add("burst", "write the burst in the limit text, such as \"10/s token_bucket burst=20\"")
			bad = true
		}
		l, err := sluice.ParseLimit(s.Limit)
		if err != nil {
			v.add("limit", "%s", limitMessage(err))
			return sluice.Limit{}
		}
		if bad {
			return sluice.Limit{}
		}
		return l
	case !fields:
		v.add("limit", "required: limit text such as \"100/1m\", or requests with window_ms or window")
		return sluice.Limit{}
	}
	before := len(v.Errors)
	if s.Requests < 1 || s.Requests > algorithm.MaxRequests {
		v.add("requests", "must be between 1 and %d, got %d", int64(algorithm.MaxRequests), s.Requests)
	}
	algo, err := algorithm.ParseAlgorithm(s.Algorithm)
	if err != nil {
		v.add("algorithm", "%s", limitMessage(err))
	}
	if s.Burst < 0 {
		v.add("burst", "must not be negative, got %d", s.Burst)
	}
	var l sluice.Limit
	switch {
	case s.WindowMS != 0 && s.Window != "":
		v.add("window", "give window_ms or window, not both")
	case s.Window == "" && (s.WindowMS < 1 || s.WindowMS > int64(algorithm.MaxWindow/time.Millisecond)):
		v.add("window_ms", "must be between 1 and %d (ten years), got %d", int64(algorithm.MaxWindow/time.Millisecond), s.WindowMS)
	case s.Window == "":
		l = sluice.Limit{Requests: s.Requests, Window: time.Duration(s.WindowMS) * time.Millisecond, Algorithm: algo, Burst: s.Burst}
	case strings.ContainsAny(s.Window, " \t\r\n=/") || len(s.Window) > 32:
		v.add("window", "%q is not a window; accepted: 1m, 90s, 1h30m, 1d, 1w, 1mo", s.Window)
	default:
		if _, err := sluice.ParseLimit("1/" + s.Window); err != nil {
			v.add("window", "%q is not a window; accepted: 1m, 90s, 1h30m, 1d, 1w, 1mo (a calendar month, for quota)", s.Window)
			break
		}
		text := fmt.Sprintf("%d/%s", s.Requests, s.Window)
		if s.Algorithm != "" {
			text += " " + algo.String()
		}
		if s.Burst > 0 {
			text += fmt.Sprintf(" burst=%d", s.Burst)
		}
		if len(v.Errors) > before {
			return sluice.Limit{}
		}
		parsed, err := sluice.ParseLimit(text)
		if err != nil {
			v.add(limitField(err), "%s", limitMessage(err))
			return sluice.Limit{}
		}
		return parsed
	}
	if len(v.Errors) > before {
		return sluice.Limit{}
	}
	if err := l.Validate(); err != nil {
		v.add(limitField(err), "%s", limitMessage(err))
	}
	return l
}

// limitField guesses which field of the fields form an error of
// Limit.Validate or ParseLimit is about.
func limitField(err error) string {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "burst"):
		return "burst"
	case strings.Contains(msg, "calendar") || strings.Contains(msg, "quota") || strings.Contains(msg, "window"):
		return "window"
	}
	return "requests"
}

// limitMessage is an error's text without the "invalid limit: " prefix the
// field name makes redundant.
func limitMessage(err error) string {
	return strings.TrimPrefix(err.Error(), algorithm.ErrInvalidLimit.Error()+": ")
}

// validName reports whether s may name a limit.
func validName(s string) bool {
	if len(s) > maxName {
		return false
	}
	for _, c := range []byte(s) {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.' || c == ':'
		if !ok {
			return false
		}
	}
	return true
}

// ResetSpec names the counter to reset: Key, or Action and Identity.
type ResetSpec struct {
	// Key is the counter's name.
	Key string `json:"key,omitempty"`
	// Action is what is limited; with Identity, instead of Key.
	Action string `json:"action,omitempty"`
	// Identity is who is limited.
	Identity string `json:"identity,omitempty"`
}

// resetSpecFields lists the fields of ResetSpec for error messages.
const resetSpecFields = "key, action, identity"

// CompileKey validates s and returns the key it names, or a
// *ValidationError.
func (s ResetSpec) CompileKey() (string, error) {
	var v ValidationError
	k := compileKey(&v, s.Key, s.Action, s.Identity)
	if err := v.err(); err != nil {
		return "", err
	}
	return k, nil
}
