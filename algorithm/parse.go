package algorithm

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// limitSyntax is quoted in every parse error, so a user sees what is accepted.
const limitSyntax = `accepted: <requests>/<window> [algorithm] [burst=<n>] [tz=<zone>], ` +
	`such as "100/15m", "10/s token_bucket burst=20", "1000/90s", "3/15m counter", "5000/month tz=Europe/Berlin"; ` +
	`window units: us, ms, s, m, h, d, w, mo (or second, minute, hour, day, week, month)`

// maxLimitText bounds the length of limit text a parser will look at.
const maxLimitText = 256

var windowUnits = map[string]time.Duration{
	"us": time.Microsecond, "µs": time.Microsecond,
	"ms": time.Millisecond,
	"s":  time.Second, "sec": time.Second, "second": time.Second, "seconds": time.Second,
	"m": time.Minute, "min": time.Minute, "minute": time.Minute, "minutes": time.Minute,
	"h": time.Hour, "hour": time.Hour, "hours": time.Hour,
	"d": 24 * time.Hour, "day": 24 * time.Hour, "days": 24 * time.Hour,
	"w": 7 * 24 * time.Hour, "week": 7 * 24 * time.Hour, "weeks": 7 * 24 * time.Hour,
}

// ParseLimit parses limit text such as "100/15m", "10/s", "5000/1h", "3/1d",
// "1000/90s", "10/s token_bucket burst=20", "3/15m counter" or
// "5000/month tz=Europe/Berlin" (a calendar quota). The optional words after
// the rate name the algorithm (default sliding_window), the burst of
// token_bucket and gcra, and the time zone of a quota. Errors wrap
// ErrInvalidLimit and say what was wrong and what is accepted.
func ParseLimit(text string) (Limit, error) {
	if len(text) > maxLimitText {
		return Limit{}, fmt.Errorf("%w: limit text is %d bytes, at most %d are accepted", ErrInvalidLimit, len(text), maxLimitText)
	}
	var words [4]string // on the stack: a limit is parsed on every API call
	fields := words[:0]
	for f := range strings.FieldsSeq(text) {
		fields = append(fields, f)
	}
	if len(fields) == 0 {
		return Limit{}, fmt.Errorf("%w: empty limit text; %s", ErrInvalidLimit, limitSyntax)
	}
	fail := func(format string, args ...any) (Limit, error) {
		return Limit{}, fmt.Errorf("%w: %q: %s; %s", ErrInvalidLimit, text, fmt.Sprintf(format, args...), limitSyntax)
	}
	reqText, winText, ok := strings.Cut(fields[0], "/")
	if !ok {
		return fail("missing '/' between requests and window")
	}
	var l Limit
	n, err := parseCount(reqText)
	if err != nil {
		return fail("requests: %v", err)
	}
	l.Requests = n
	calendar, err := parseWindow(winText, &l)
	if err != nil {
		return fail("window: %v", err)
	}
	algoSet := false
	for _, f := range fields[1:] {
		key, val, isOption := strings.Cut(f, "=")
		switch {
		case !isOption:
			if algoSet {
				return fail("algorithm given twice")
			}
			a, err := ParseAlgorithm(f)
			if err != nil || f == "" {
				return fail("unknown word %q: not an algorithm (%s) nor an option (burst=, tz=)", f, strings.Join(algorithmNames[:], ", "))
			}
			l.Algorithm, algoSet = a, true
		case key == "burst":
			b, err := parseCount(val)
			if err != nil {
				return fail("burst: %v", err)
			}
			l.Burst = b
		case key == "tz":
			loc, err := time.LoadLocation(val)
			if err != nil || val == "" || val == "Local" {
				return fail("tz: unknown time zone %q (use an IANA name such as UTC or Europe/Berlin)", val)
			}
			l.Location = loc
		default:
			return fail("unknown option %q (accepted: burst=<n>, tz=<zone>)", key)
		}
	}
	switch {
	case calendar == Month && !algoSet:
		l.Algorithm = Quota
	case l.Location != nil && !algoSet:
		l.Algorithm = Quota
	}
	if calendar == Month && l.Algorithm != Quota {
		return fail("a month is a calendar period, only for quota")
	}
	if l.Algorithm == Quota {
		if calendar == NoPeriod {
			return fail("quota needs a window of 1d, 1w or 1mo (calendar day, week or month)")
		}
		l.Period, l.Window = calendar, 0
		if l.Location == time.UTC {
			l.Location = nil
		}
	}
	if err := l.Validate(); err != nil {
		return Limit{}, fmt.Errorf("%q: %w", text, err)
	}
	return l, nil
}

// MustParseLimit is ParseLimit for limits written in the program's source:
// it panics if text is malformed. Never call it on input.
func MustParseLimit(text string) Limit {
	l, err := ParseLimit(text)
	if err != nil {
		panic(err)
	}
	return l
}

// parseCount parses a positive decimal integer no larger than MaxRequests.
func parseCount(s string) (int64, error) {
	if s == "" {
		return 0, fmt.Errorf("missing number")
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%q is not a positive whole number", s)
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n > MaxRequests {
		return 0, fmt.Errorf("%s is too large (at most %d)", s, int64(MaxRequests))
	}
	if n == 0 {
		return 0, fmt.Errorf("must be at least 1")
	}
	return n, nil
}

// parseWindow sets l.Window from text such as "15m", "s", "90s", "1h30m",
// "1d" or "month", and reports the calendar period the text could also name
// (1d, 1w, 1mo) for a quota.
func parseWindow(s string, l *Limit) (Period, error) {
	if s == "" {
		return NoPeriod, fmt.Errorf("missing window")
	}
	digits := len(s) - len(strings.TrimLeft(s, "0123456789"))
	numText, unitText := s[:digits], s[digits:]
	count := int64(1)
	if numText != "" {
		n, err := strconv.ParseInt(numText, 10, 64)
		if err != nil {
			return NoPeriod, fmt.Errorf("%q is too large", numText)
		}
		if n == 0 {
			return NoPeriod, fmt.Errorf("zero-length window %q", s)
		}
		count = n
	}
	if unitText == "mo" || unitText == "month" || unitText == "months" {
		if count != 1 {
			return NoPeriod, fmt.Errorf("calendar months come one at a time: use 1mo")
		}
		return Month, nil
	}
	if unit, ok := windowUnits[unitText]; ok {
		if count > int64(MaxWindow/unit) {
			return NoPeriod, fmt.Errorf("%q is longer than the longest window, %s", s, MaxWindow)
		}
		l.Window = time.Duration(count) * unit
		switch {
		case count == 1 && unit == 24*time.Hour:
			return Day, nil
		case count == 1 && unit == 7*24*time.Hour:
			return Week, nil
		}
		return NoPeriod, nil
	}
	// Compound Go durations such as 1h30m.
	d, err := time.ParseDuration(s)
	if err != nil || strings.ContainsAny(s, "-+.") {
		return NoPeriod, fmt.Errorf("%q is not a window", s)
	}
	if d <= 0 {
		return NoPeriod, fmt.Errorf("zero-length window %q", s)
	}
	l.Window = d
	return NoPeriod, nil
}

// String returns the Limit as limit text that ParseLimit reads back to an
// equal Limit, such as "100/15m" or "10/1s token_bucket burst=20".
func (l Limit) String() string {
	var b strings.Builder
	b.WriteString(strconv.FormatInt(l.Requests, 10))
	b.WriteByte('/')
	switch {
	case l.Algorithm == Quota && l.Period == Day:
		b.WriteString("1d")
	case l.Algorithm == Quota && l.Period == Week:
		b.WriteString("1w")
	case l.Algorithm == Quota && l.Period == Month:
		b.WriteString("1mo")
	default:
		b.WriteString(formatWindow(l.Window))
	}
	if l.Algorithm != SlidingWindow {
		b.WriteByte(' ')
		b.WriteString(l.Algorithm.String())
	}
	if l.Burst != 0 {
		b.WriteString(" burst=")
		b.WriteString(strconv.FormatInt(l.Burst, 10))
	}
	if l.Location != nil && l.Location != time.UTC {
		b.WriteString(" tz=")
		b.WriteString(l.Location.String())
	}
	return b.String()
}

// formatWindow writes d in the largest unit that divides it evenly.
func formatWindow(d time.Duration) string {
	units := []struct {
		name string
		d    time.Duration
	}{{"w", 7 * 24 * time.Hour}, {"d", 24 * time.Hour}, {"h", time.Hour}, {"m", time.Minute}, {"s", time.Second}, {"ms", time.Millisecond}, {"us", time.Microsecond}}
	for _, u := range units {
		if d >= u.d && d%u.d == 0 {
			return strconv.FormatInt(int64(d/u.d), 10) + u.name
		}
	}
	return d.String()
}

// MarshalText implements encoding.TextMarshaler with the limit text.
func (l Limit) MarshalText() ([]byte, error) {
	if err := l.Validate(); err != nil {
		return nil, err
	}
	return []byte(l.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler with ParseLimit.
func (l *Limit) UnmarshalText(b []byte) error {
	v, err := ParseLimit(string(b))
	if err != nil {
		return err
	}
	*l = v
	return nil
}
