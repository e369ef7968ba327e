package policy

import "fmt"

// By is how a policy identifies the caller (Zuplo's rateLimitBy).
type By uint8

// The ways to identify a caller. The zero By is not valid: a policy says.
const (
	// ByIP counts per client address (see Options.TrustedProxies); IPv6
	// clients are grouped by Options.IPv6Prefix.
	ByIP By = iota + 1
	// ByUser counts per authenticated subject (UserFrom); a request
	// without one is answered 401.
	ByUser
	// ByFunction counts per key a Func returns (CompileCEL in config).
	ByFunction
	// ByAll counts every request to the policy on one counter.
	ByAll
	// ByRules takes the caller's limits from the stored rules.
	ByRules
)

var byNames = [...]string{ByIP: "ip", ByUser: "user", ByFunction: "function", ByAll: "all", ByRules: "rules"}

// String returns the name used in configuration: "ip", "user", "function",
// "all" or "rules".
func (b By) String() string {
	if b.valid() {
		return byNames[b]
	}
	return fmt.Sprintf("by(%d)", uint8(b))
}

func (b By) valid() bool { return b >= ByIP && b <= ByRules }

// UnmarshalText parses "ip", "user", "function", "all" or "rules".
func (b *By) UnmarshalText(text []byte) error {
	for i, n := range byNames {
		if n != "" && n == string(text) {
			*b = By(i)
			return nil
		}
	}
	return fmt.Errorf("%w: rateLimitBy %q is not accepted (accepted: ip, user, function, all, rules)", ErrInvalidPolicy, text)
}

// HeaderMode says whether a 429 answer carries Retry-After.
type HeaderMode uint8

// The header modes.
const (
	// HeaderModeRetryAfter adds Retry-After, in seconds, to 429 answers. The
	// default.
	HeaderModeRetryAfter HeaderMode = iota
	// HeaderModeNone omits Retry-After.
	HeaderModeNone
)

// String returns "retry-after" or "none".
func (m HeaderMode) String() string {
	switch m {
	case HeaderModeRetryAfter:
		return "retry-after"
	case HeaderModeNone:
		return "none"
	}
	return fmt.Sprintf("headerMode(%d)", uint8(m))
}

func (m HeaderMode) valid() bool { return m <= HeaderModeNone }

// UnmarshalText parses "retry-after" (or "") or "none".
func (m *HeaderMode) UnmarshalText(text []byte) error {
	switch string(text) {
	case "", "retry-after":
		*m = HeaderModeRetryAfter
	case "none":
		*m = HeaderModeNone
	default:
		return fmt.Errorf("%w: headerMode %q is not accepted (accepted: retry-after, none)", ErrInvalidPolicy, text)
	}
	return nil
}

// Mode says whether the handler waits for the decision.
type Mode uint8

// The modes.
const (
	// Strict decides before the handler runs: a request over the limit
	// never reaches it. The default.
	Strict Mode = iota
	// Async runs the handler while the decision is made. Once a caller is
	// found over the limit, its later requests are refused at once, without
	// a store round trip, until its retry time; the requests already in
	// flight when it went over do reach the handler. The overshoot is thus
	// bounded by the caller's concurrency during one store round trip.
	Async
)

// String returns "strict" or "async".
func (m Mode) String() string {
	switch m {
	case Strict:
		return "strict"
	case Async:
		return "async"
	}
	return fmt.Sprintf("mode(%d)", uint8(m))
}

func (m Mode) valid() bool { return m <= Async }

// UnmarshalText parses "strict" (or "") or "async".
func (m *Mode) UnmarshalText(text []byte) error {
	switch string(text) {
	case "", "strict":
		*m = Strict
	case "async":
		*m = Async
	default:
		return fmt.Errorf("%w: mode %q is not accepted (accepted: strict, async)", ErrInvalidPolicy, text)
	}
	return nil
}
