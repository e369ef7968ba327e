package envoyrls

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sluicehq/sluice"
)

// Domain is one Envoy rate-limit domain with its tree of descriptors, in the
// YAML shape users know from envoyproxy/ratelimit:
//
//	domain: edge
//	descriptors:
//	  - key: remote_address
//	    rate_limit: {unit: second, requests_per_unit: 10}
//	  - key: path
//	    value: /login
//	    rate_limit: {limit: "5/15m"}
//
// The configuration file embeds a list of them under envoy.domains.
type Domain struct {
	// Domain is the name Envoy sends in RateLimitRequest.domain.
	Domain string `yaml:"domain" json:"domain"`
	// Descriptors are the top-level descriptors of the domain.
	Descriptors []Descriptor `yaml:"descriptors" json:"descriptors,omitempty"`
}

// Descriptor matches one entry (key, value) of a request descriptor and
// says which limit applies to it, or descends into nested descriptors for
// the next entry.
type Descriptor struct {
	// Key is the descriptor entry's key, such as "remote_address". Required.
	Key string `yaml:"key" json:"key"`
	// Value is the entry's value to match. Empty matches any value of Key,
	// and then every distinct value has its own counter; a descriptor with
	// a value is preferred over one without.
	Value string `yaml:"value" json:"value,omitempty"`
	// RateLimit is the limit applied when the request descriptor ends at
	// this entry. Nil means no limit here (only nested descriptors).
	RateLimit *RateLimit `yaml:"rate_limit" json:"rate_limit,omitempty"`
	// Descriptors are matched against the request descriptor's next entry.
	Descriptors []Descriptor `yaml:"descriptors" json:"descriptors,omitempty"`
	// ShadowMode evaluates and counts the limit but never denies on it.
	ShadowMode bool `yaml:"shadow_mode" json:"shadow_mode,omitempty"`
	// DetailedMetric labels this descriptor's metrics with its full path
	// (key and value) rather than only its configured keys. Values are
	// still bounded by the metrics' label cap.
	DetailedMetric bool `yaml:"detailed_metric" json:"detailed_metric,omitempty"`
}

// RateLimit is the limit of a Descriptor: either Unit and RequestsPerUnit
// as in envoyproxy/ratelimit, or Limit text (a Sluice extension allowing
// any window, such as "100/5m"), or Unlimited.
type RateLimit struct {
	// Unit is the window: second, minute, hour, day, week, month (30 days)
	// or year (365 days), case-insensitive.
	Unit string `yaml:"unit" json:"unit,omitempty"`
	// RequestsPerUnit is the allowance per Unit. Zero with a Unit denies
	// every request, as in envoyproxy/ratelimit.
	RequestsPerUnit int64 `yaml:"requests_per_unit" json:"requests_per_unit,omitempty"`
	// Unlimited means the descriptor matches but is never limited; no
	// counter is kept.
	Unlimited bool `yaml:"unlimited" json:"unlimited,omitempty"`
	// Name names the limit in metrics and in the response's current_limit.
	Name string `yaml:"name" json:"name,omitempty"`
	// Limit is limit text such as "100/5m" or "10/s token_bucket burst=20"
	// (see sluice.ParseLimit): a Sluice extension for windows that are not
	// a unit. It excludes Unit, RequestsPerUnit, Algorithm and Burst.
	Limit string `yaml:"limit" json:"limit,omitempty"`
	// Algorithm is the algorithm for a Unit limit: sliding_window (the
	// default), fixed_window (counts exactly as envoyproxy/ratelimit does),
	// token_bucket, gcra or counter.
	Algorithm string `yaml:"algorithm" json:"algorithm,omitempty"`
	// Burst is the capacity of a token_bucket or gcra Unit limit; zero
	// means RequestsPerUnit.
	Burst int64 `yaml:"burst" json:"burst,omitempty"`
}

// Units is the window of each accepted RateLimit.Unit. Month and year are
// fixed lengths, as in envoyproxy/ratelimit.
var units = []struct {
	name   string
	window time.Duration
}{
	{"second", time.Second},
	{"minute", time.Minute},
	{"hour", time.Hour},
	{"day", 24 * time.Hour},
	{"week", 7 * 24 * time.Hour},
	{"month", 30 * 24 * time.Hour},
	{"year", 365 * 24 * time.Hour},
}

const acceptedUnits = "second, minute, hour, day, week, month, year"

// unitWindow returns the window of a unit name, case-insensitively.
func unitWindow(unit string) (time.Duration, bool) {
	for _, u := range units {
		if strings.EqualFold(u.name, unit) {
			return u.window, true
		}
	}
	return 0, false
}

// ErrInvalidConfig is wrapped by every FieldError.
var ErrInvalidConfig = errors.New("invalid envoy rate-limit configuration")

// FieldError is one problem in a domain configuration: the path of the
// field, such as "domains[0].descriptors[1].rate_limit.unit", and what is
// wrong with it.
type FieldError struct {
	// Field is the path of the offending field.
	Field string
	// Message says what was wrong and what is accepted.
	Message string
}

// Error returns "field: message".
func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

// Unwrap returns ErrInvalidConfig.
func (e *FieldError) Unwrap() error { return ErrInvalidConfig }

// Validate reports every problem of the domain, each a *FieldError whose
// field path starts at the domain ("domain", "descriptors[1].key"), joined
// with errors.Join. ValidateDomains prefixes "domains[i].".
func (d Domain) Validate() error {
	var v validator
	d.validate(&v, "")
	return v.err()
}

// ValidateDomains validates every domain and that no domain name repeats,
// with field paths such as "domains[0].descriptors[1].rate_limit.unit".
func ValidateDomains(ds []Domain) error {
	var v validator
	seen := make(map[string]int, len(ds))
	for i, d := range ds {
		p := fmt.Sprintf("domains[%d].", i)
		d.validate(&v, p)
		if j, dup := seen[d.Domain]; dup && d.Domain != "" {
			v.add(p+"domain", "domain %q is already configured at domains[%d]; merge their descriptors", d.Domain, j)
		}
		seen[d.Domain] = i
	}
	return v.err()
}

func (d Domain) validate(v *validator, prefix string) {
	if strings.TrimSpace(d.Domain) == "" {
		v.add(prefix+"domain", "required: the domain name Envoy sends (rate_limit_service domain)")
	}
	validateDescriptors(v, prefix+"descriptors", d.Descriptors)
}

func validateDescriptors(v *validator, path string, ds []Descriptor) {
	type kv struct{ k, v string }
	seen := make(map[kv]int, len(ds))
	for i, d := range ds {
		p := fmt.Sprintf("%s[%d]", path, i)
		if d.Key == "" {
			v.add(p+".key", "required: the descriptor entry key to match, such as remote_address")
		}
		if j, dup := seen[kv{d.Key, d.Value}]; dup {
			v.add(p, "duplicate descriptor key %q value %q (also at %s[%d])", d.Key, d.Value, path, j)
		}
		seen[kv{d.Key, d.Value}] = i
		if d.RateLimit != nil {
			if _, err := d.RateLimit.compile(); err != nil {
				var fe *FieldError
				if errors.As(err, &fe) {
					v.add(p+".rate_limit."+fe.Field, "%s", fe.Message)
				}
			}
		} else if len(d.Descriptors) == 0 {
			v.add(p, "has neither rate_limit nor nested descriptors: it limits nothing")
		}
		if d.ShadowMode && d.RateLimit == nil {
			v.add(p+".shadow_mode", "applies only to a descriptor with a rate_limit")
		}
		validateDescriptors(v, p+".descriptors", d.Descriptors)
	}
}

// compiledLimit is a RateLimit ready to apply.
type compiledLimit struct {
	limit     sluice.Limit
	unlimited bool
	blockAll  bool // requests_per_unit 0: every request is over the limit
	name      string
}

// compile turns a RateLimit into a limit. Its errors are *FieldError with
// field paths relative to the rate_limit.
func (r RateLimit) compile() (compiledLimit, error) {
	c := compiledLimit{name: r.Name, unlimited: r.Unlimited}
	bad := func(field, format string, args ...any) (compiledLimit, error) {
		return compiledLimit{}, &FieldError{Field: field, Message: fmt.Sprintf(format, args...)}
	}
	hasUnit := r.Unit != "" || r.RequestsPerUnit != 0
	switch {
	case r.Unlimited:
		if hasUnit || r.Limit != "" || r.Algorithm != "" || r.Burst != 0 {
			return bad("unlimited", "excludes unit, requests_per_unit, limit, algorithm and burst")
		}
		return c, nil
	case r.Limit != "":
		if hasUnit || r.Algorithm != "" || r.Burst != 0 {
			return bad("limit", "excludes unit, requests_per_unit, algorithm and burst: write them in the limit text, such as \"10/s token_bucket burst=20\"")
		}
		l, err := sluice.ParseLimit(r.Limit)
		if err != nil {
			return bad("limit", "%v", err)
		}
		c.limit = l
		return c, nil
	case !hasUnit:
		return bad("unit", "required: a rate_limit needs unit and requests_per_unit, limit text, or unlimited: true")
	}
	w, ok := unitWindow(r.Unit)
	if !ok {
		return bad("unit", "unknown unit %q; accepted: %s", r.Unit, acceptedUnits)
	}
	if r.RequestsPerUnit < 0 || r.RequestsPerUnit > 1<<32-1 {
		return bad("requests_per_unit", "%d is out of range; accepted: 0 (deny every request) to %d", r.RequestsPerUnit, uint32(1<<32-1))
	}
	if r.RequestsPerUnit == 0 {
		if r.Algorithm != "" || r.Burst != 0 {
			return bad("requests_per_unit", "0 denies every request; algorithm and burst do not apply")
		}
		c.blockAll = true
		c.limit = sluice.Limit{Requests: 1, Window: w, Algorithm: sluice.FixedWindow}
		return c, nil
	}
	a, err := parseAlgorithm(r.Algorithm)
	if err != nil {
		return bad("algorithm", "%v", err)
	}
	c.limit = sluice.Limit{Requests: r.RequestsPerUnit, Window: w, Algorithm: a, Burst: r.Burst}
	if err := c.limit.Validate(); err != nil {
		field := "requests_per_unit"
		if r.Burst != 0 {
			field = "burst"
		}
		return bad(field, "%v", err)
	}
	return c, nil
}

// parseAlgorithm accepts the algorithms that make sense with a unit
// window; quota needs a calendar period and is written as limit text.
func parseAlgorithm(name string) (sluice.Algorithm, error) {
	var a sluice.Algorithm
	if err := a.UnmarshalText([]byte(name)); err != nil {
		return 0, err
	}
	if a == sluice.Quota {
		return 0, errors.New(`quota takes a calendar period: write it as limit text, such as limit: "5000/month"`)
	}
	return a, nil
}

// validator collects FieldErrors.
type validator struct{ errs []error }

func (v *validator) add(field, format string, args ...any) {
	v.errs = append(v.errs, &FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

func (v *validator) err() error { return errors.Join(v.errs...) }
