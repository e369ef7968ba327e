package rules

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/sluicehq/sluice/algorithm"
)

// ErrInvalid is wrapped by every error about a malformed rule, patch,
// filter or route pattern; test with errors.Is. The error is usually a
// *ValidationError listing what was wrong with each field.
var ErrInvalid = errors.New("invalid rule")

// Bounds of a rule's fields.
const (
	// MaxKeyValueLen is the longest key_value, in bytes.
	MaxKeyValueLen = 512
	// MaxDescriptionLen is the longest description, in bytes.
	MaxDescriptionLen = 1024
	// MaxPlanLen is the longest plan name, in bytes.
	MaxPlanLen = 128
	// MaxMethodLen is the longest HTTP method token, in bytes.
	MaxMethodLen = 32
	// MaxActorLen is the longest actor name recorded in the audit log, in bytes.
	MaxActorLen = 256
	// MaxLimit is the largest limit: algorithm.MaxRequests (2^50).
	MaxLimit = algorithm.MaxRequests
	// MaxWindowSeconds is the longest window: 315360000 seconds (3650 days).
	MaxWindowSeconds = 315360000
	// MaxTimeZoneLen is the longest time zone name, in bytes.
	MaxTimeZoneLen = 64
)

// The window_seconds of quota rules, each naming a calendar period in the
// rule's time zone (Rule.TimeZone; UTC when empty).
const (
	QuotaDaySeconds   = 86400   // a calendar day, midnight to midnight
	QuotaWeekSeconds  = 604800  // an ISO week, Monday 00:00 to the next
	QuotaMonthSeconds = 2592000 // a calendar month (not 30 days): the 1st 00:00 to the next 1st
)

// FieldError is what is wrong with one field of a rule.
type FieldError struct {
	// Field is the JSON name of the field, such as "window_seconds".
	Field string `json:"field"`
	// Rule says what the field must be, such as "must be between 1 and 315360000".
	Rule string `json:"rule"`
}

// ValidationError lists every field of a rule (or patch, filter, actor)
// that is not acceptable. It wraps ErrInvalid.
type ValidationError struct {
	// Fields lists each unacceptable field, in the order of the rule's
	// fields; a field may appear more than once.
	Fields []FieldError `json:"errors"`
}

// Error lists the fields and what each must be.
func (e *ValidationError) Error() string {
	var b strings.Builder
	b.WriteString(ErrInvalid.Error())
	for i, f := range e.Fields {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		b.WriteString(f.Field)
		b.WriteByte(' ')
		b.WriteString(f.Rule)
	}
	return b.String()
}

// Unwrap returns ErrInvalid, so that errors.Is(err, ErrInvalid) holds.
func (e *ValidationError) Unwrap() error { return ErrInvalid }

// add records that field must follow rule.
func (e *ValidationError) add(field, format string, args ...any) {
	e.Fields = append(e.Fields, FieldError{Field: field, Rule: fmt.Sprintf(format, args...)})
}

// err returns e as an error, or nil when no field is wrong.
func (e *ValidationError) err() error {
	if len(e.Fields) == 0 {
		return nil
	}
	return e
}

// invalidField returns a ValidationError about a single field.
func invalidField(field, format string, args ...any) error {
	e := &ValidationError{}
	e.add(field, format, args...)
	return e
}

// keyTypes lists the key types in the order messages quote them.
var keyTypes = []KeyType{KeyUserID, KeyIP, KeyAPIKey, KeyRoute, KeyPlan, KeyGlobal}

// Valid reports whether k is one of the key types.
func (k KeyType) Valid() bool {
	for _, t := range keyTypes {
		if k == t {
			return true
		}
	}
	return false
}

const keyTypeList = "user_id, ip, api_key, route, plan, global"

// Validate reports whether r may be stored, as a *ValidationError naming
// every unacceptable field and what it must be (nil when r is valid). It
// checks:
//
//   - id: empty (a repository assigns one) or a UUID;
//   - key_type: one of user_id, ip, api_key, route, plan, global;
//   - key_value: non-empty, at most MaxKeyValueLen bytes of UTF-8 without
//     control characters or surrounding spaces; "*" means any value. For ip
//     an IPv4 or IPv6 address or CIDR prefix (10.0.0.0/8, 2001:db8::/32);
//     for route a path pattern (see Pattern); for global only "*";
//   - method: empty (any method), or for route rules an uppercase HTTP
//     method token such as GET;
//   - plan: optional, at most MaxPlanLen bytes; empty for key_type plan,
//     whose key_value is the plan;
//   - limit: 1 to MaxLimit; window_seconds: 1 to MaxWindowSeconds;
//   - algorithm: empty (sliding_window) or one of sliding_window,
//     fixed_window, token_bucket, gcra, counter, quota; a quota's
//     window_seconds names its calendar period: QuotaDaySeconds,
//     QuotaWeekSeconds or QuotaMonthSeconds;
//   - burst: 0, or for token_bucket and gcra up to MaxLimit;
//   - timezone: empty (UTC), or for quota an IANA time zone name that
//     time.LoadLocation knows, such as Europe/Berlin or UTC (not "Local"
//     nor "localtime"), of at most MaxTimeZoneLen bytes;
//   - description: at most MaxDescriptionLen bytes of UTF-8.
//
// The limit, window, algorithm and burst together must also pass
// algorithm.Limit.Validate (see AlgorithmLimit). Timestamps are not checked: a
// repository sets them.
func (r Rule) Validate() error {
	e := &ValidationError{}
	if r.ID != "" {
		if _, err := uuid.Parse(r.ID); err != nil {
			e.add("id", "must be a UUID such as 0190b1c2-7e4a-7c3d-9f00-6b1d2e3f4a5b, or empty to have one assigned")
		}
	}
	validateKey(e, r)
	validateText(e, "plan", r.Plan, MaxPlanLen, false)
	if r.Plan != "" && r.KeyType == KeyPlan {
		e.add("plan", "must be empty for key_type plan, whose key_value names the plan")
	}
	if r.Method != "" {
		if r.KeyType != KeyRoute {
			e.add("method", "must be empty unless key_type is route")
		} else if !validMethod(r.Method) {
			e.add("method", "must be empty (any method) or an uppercase HTTP method token of at most %d bytes, such as GET or POST, got %s", MaxMethodLen, quoteShort(r.Method))
		}
	}
	if len(r.Description) > MaxDescriptionLen {
		e.add("description", "must be at most %d bytes, got %d", MaxDescriptionLen, len(r.Description))
	} else if !utf8.ValidString(r.Description) || strings.IndexByte(r.Description, 0) >= 0 {
		e.add("description", "must be valid UTF-8 without NUL bytes")
	}
	limitFields := len(e.Fields)
	validateLimit(e, r)
	if len(e.Fields) == limitFields {
		// The fields are each fine; check they make a Limit together.
		if _, err := r.limit(); err != nil {
			e.add("limit", "%s", strings.TrimPrefix(err.Error(), algorithm.ErrInvalidLimit.Error()+": "))
		}
	}
	return e.err()
}

func validateKey(e *ValidationError, r Rule) {
	if !r.KeyType.Valid() {
		e.add("key_type", "must be one of %s, got %s", keyTypeList, quoteShort(string(r.KeyType)))
	}
	if !validateText(e, "key_value", r.KeyValue, MaxKeyValueLen, true) || r.KeyValue == "*" {
		return
	}
	switch r.KeyType {
	case KeyGlobal:
		e.add("key_value", `must be "*" for key_type global`)
	case KeyIP:
		if _, ok := canonicalIP(r.KeyValue); !ok {
			e.add("key_value", "must be an IPv4 or IPv6 address or CIDR prefix (such as 203.0.113.7, 10.0.0.0/8, 2001:db8::/32) or \"*\", got %s", quoteShort(r.KeyValue))
		}
	case KeyRoute:
		if _, err := ParsePattern(r.KeyValue); err != nil {
			e.add("key_value", "%s", strings.TrimPrefix(err.Error(), ErrInvalid.Error()+": "))
		}
	}
}

// validateText checks a free-text field: at most max bytes of UTF-8 with no
// control characters and no surrounding spaces; required fields must be
// non-empty. It reports whether the field passed.
func validateText(e *ValidationError, field, s string, max int, required bool) bool {
	switch {
	case s == "" && required:
		e.add(field, `must not be empty (use "*" for any)`)
	case len(s) > max:
		e.add(field, "must be at most %d bytes, got %d", max, len(s))
	case !utf8.ValidString(s):
		e.add(field, "must be valid UTF-8")
	case strings.IndexFunc(s, unicode.IsControl) >= 0:
		e.add(field, "must not contain control characters")
	case strings.TrimSpace(s) != s:
		e.add(field, "must not start or end with spaces")
	default:
		return true
	}
	return false
}

func validateLimit(e *ValidationError, r Rule) {
	if r.Limit < 1 || r.Limit > MaxLimit {
		e.add("limit", "must be between 1 and %d, got %d", int64(MaxLimit), r.Limit)
	}
	if r.WindowSeconds < 1 || r.WindowSeconds > MaxWindowSeconds {
		e.add("window_seconds", "must be between 1 and %d, got %d", MaxWindowSeconds, r.WindowSeconds)
	}
	alg, err := algorithm.ParseAlgorithm(r.Algorithm)
	if err != nil {
		e.add("algorithm", "must be one of sliding_window (the default when empty), fixed_window, token_bucket, gcra, counter, quota, got %s", quoteShort(r.Algorithm))
		return
	}
	switch {
	case r.Burst < 0 || r.Burst > MaxLimit:
		e.add("burst", "must be between 0 (meaning: equal to limit) and %d, got %d", int64(MaxLimit), r.Burst)
	case r.Burst != 0 && alg != algorithm.TokenBucket && alg != algorithm.GCRA:
		e.add("burst", "applies only to token_bucket and gcra; must be 0 for %s", alg)
	}
	if alg == algorithm.Quota && quotaPeriod(r.WindowSeconds) == algorithm.NoPeriod {
		e.add("window_seconds", "must name a quota's calendar period: %d (day), %d (week) or %d (month), got %d", QuotaDaySeconds, QuotaWeekSeconds, QuotaMonthSeconds, r.WindowSeconds)
	}
	switch {
	case r.TimeZone == "":
	case alg != algorithm.Quota:
		e.add("timezone", "applies only to quota; must be empty for %s", alg)
	case len(r.TimeZone) > MaxTimeZoneLen:
		e.add("timezone", "must be at most %d bytes, got %d", MaxTimeZoneLen, len(r.TimeZone))
	default:
		if _, err := loadLocation(r.TimeZone); err != nil {
			e.add("timezone", "must be an IANA time zone name such as Europe/Berlin or UTC (empty means UTC), got %s", quoteShort(r.TimeZone))
		}
	}
}

// locations caches the time zones of rules by name (a *time.Location):
// time.LoadLocation reads the zone database on every call, and a snapshot
// converts every rule. Only names that loaded are kept, so it holds at most
// the zones of the database.
var locations sync.Map

// loadLocation returns the time zone a rule's timezone names: time.UTC for
// "UTC"; an error for "", for "Local" and "localtime" (the host's zone,
// which differs from host to host), for names not spelled as IANA names
// are, and for names time.LoadLocation does not know.
func loadLocation(name string) (*time.Location, error) {
	if loc, ok := locations.Load(name); ok {
		return loc.(*time.Location), nil
	}
	if !zoneName(name) || name == "Local" || name == "localtime" {
		return nil, fmt.Errorf("not an IANA time zone name: %q", name)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, err
	}
	actual, _ := locations.LoadOrStore(name, loc)
	return actual.(*time.Location), nil
}

// zoneName reports whether name is spelled as IANA time zone names are:
// segments of ASCII letters, digits, '_', '-' and '+' between single
// slashes, such as America/Argentina/Buenos_Aires or Etc/GMT+5. It keeps
// out other paths to a zone file (Europe//Berlin, ./UTC), which
// time.LoadLocation opens on some hosts but not on others.
func zoneName(name string) bool {
	for _, seg := range strings.Split(name, "/") {
		if seg == "" {
			return false
		}
		for i := 0; i < len(seg); i++ {
			switch c := seg[i]; {
			case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '-', c == '+':
			default:
				return false
			}
		}
	}
	return true
}

// quotaPeriod returns the calendar period a quota's window_seconds names.
func quotaPeriod(windowSeconds int64) algorithm.Period {
	switch windowSeconds {
	case QuotaDaySeconds:
		return algorithm.Day
	case QuotaWeekSeconds:
		return algorithm.Week
	case QuotaMonthSeconds:
		return algorithm.Month
	}
	return algorithm.NoPeriod
}

// validMethod reports whether m is an uppercase HTTP method token (RFC 9110
// tchar, without lowercase letters).
func validMethod(m string) bool {
	if m == "" || len(m) > MaxMethodLen {
		return false
	}
	for i := 0; i < len(m); i++ {
		c := m[i]
		switch {
		case c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// canonicalIP returns the canonical text of an IP address or CIDR prefix:
// addresses unmapped from IPv4-in-IPv6 and without zones, prefixes masked
// (10.1.2.3/8 becomes 10.0.0.0/8), and a full-length prefix written as the
// bare address (10.0.0.1/32 becomes 10.0.0.1).
func canonicalIP(s string) (string, bool) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return "", false
		}
		p = p.Masked()
		if p.IsSingleIP() {
			return p.Addr().String(), true
		}
		return p.String(), true
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return "", false
	}
	return a.Unmap().String(), true
}

// Canonical returns r in the form a repository stores: the id as a
// lowercase UUID, an ip key_value as canonical address or masked prefix
// (10.1.2.3/8 → 10.0.0.0/8, 10.0.0.1/32 → 10.0.0.1), a route key_value as
// its pattern's canonical text (no trailing slash), and an empty algorithm
// as "sliding_window". The timezone is kept as given. Fields that are not
// valid are left as they are, so Canonical never hides an error from
// Validate; two rules that mean the same are equal after Canonical (except
// for the spelling of the time zone: "" and "UTC" are both UTC).
func (r Rule) Canonical() Rule {
	if id, err := uuid.Parse(r.ID); err == nil {
		r.ID = id.String()
	}
	if r.KeyValue != "*" {
		switch r.KeyType {
		case KeyIP:
			if s, ok := canonicalIP(r.KeyValue); ok {
				r.KeyValue = s
			}
		case KeyRoute:
			if p, err := ParsePattern(r.KeyValue); err == nil {
				r.KeyValue = p.String()
			}
		}
	}
	if a, err := algorithm.ParseAlgorithm(r.Algorithm); err == nil {
		r.Algorithm = a.String()
	}
	return r
}

// AlgorithmLimit returns the algorithm.Limit the rule applies: Limit requests per
// WindowSeconds under Algorithm with Burst. A quota rule's window_seconds
// names a calendar period: QuotaDaySeconds (86400) a calendar day,
// QuotaWeekSeconds (604800) an ISO week, QuotaMonthSeconds (2592000) a
// calendar month, in TimeZone: the Limit's Location is that zone, nil for
// UTC (an empty TimeZone or "UTC"). The error, when r is not valid, is
// r.Validate()'s.
//
// (It is not named Limit because that is the field holding the number of
// requests.)
func (r Rule) AlgorithmLimit() (algorithm.Limit, error) {
	if err := r.Validate(); err != nil {
		return algorithm.Limit{}, err
	}
	return r.limit()
}

// limit converts without checking the fields one by one; it reports
// algorithm.Limit.Validate's error.
func (r Rule) limit() (algorithm.Limit, error) {
	alg, err := algorithm.ParseAlgorithm(r.Algorithm)
	if err != nil {
		return algorithm.Limit{}, err
	}
	l := algorithm.Limit{Requests: r.Limit, Algorithm: alg, Burst: r.Burst}
	if alg == algorithm.Quota {
		l.Period = quotaPeriod(r.WindowSeconds)
	} else if r.WindowSeconds > 0 && r.WindowSeconds <= MaxWindowSeconds {
		l.Window = time.Duration(r.WindowSeconds) * time.Second
	}
	if r.TimeZone != "" {
		loc, err := loadLocation(r.TimeZone)
		if err != nil {
			return algorithm.Limit{}, err
		}
		if loc != time.UTC {
			l.Location = loc
		}
	}
	if err := l.Validate(); err != nil {
		return algorithm.Limit{}, err
	}
	return l, nil
}

// ValidateActor checks the actor name recorded in the audit log: at most
// MaxActorLen bytes of UTF-8 without control characters. Repositories call
// it on every write; an empty actor is accepted.
func ValidateActor(actor string) error {
	e := &ValidationError{}
	if actor != "" {
		validateText(e, "actor", actor, MaxActorLen, false)
	}
	return e.err()
}
