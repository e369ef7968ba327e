package algorithm

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseLimit(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		text string
		want Limit
	}{
		{"100/15m", Limit{Requests: 100, Window: 15 * time.Minute}},
		{"10/s", Limit{Requests: 10, Window: time.Second}},
		{"5000/1h", Limit{Requests: 5000, Window: time.Hour}},
		{"3/1d", Limit{Requests: 3, Window: 24 * time.Hour}},
		{"100/5m", Limit{Requests: 100, Window: 5 * time.Minute}},
		{"1000/90s", Limit{Requests: 1000, Window: 90 * time.Second}},
		{"7/1h30m", Limit{Requests: 7, Window: 90 * time.Minute}},
		{"2/250ms fixed_window", Limit{Requests: 2, Window: 250 * time.Millisecond, Algorithm: FixedWindow}},
		{"10/s token_bucket burst=20", Limit{Requests: 10, Window: time.Second, Algorithm: TokenBucket, Burst: 20}},
		{"  10/minute   gcra  ", Limit{Requests: 10, Window: time.Minute, Algorithm: GCRA}},
		{"3/15m counter", Limit{Requests: 3, Window: 15 * time.Minute, Algorithm: Counter}},
		{"5000/month", Limit{Requests: 5000, Algorithm: Quota, Period: Month}},
		{"5000/1mo tz=Europe/Berlin", Limit{Requests: 5000, Algorithm: Quota, Period: Month, Location: berlin}},
		{"100/1d quota", Limit{Requests: 100, Algorithm: Quota, Period: Day}},
		{"100/week quota tz=UTC", Limit{Requests: 100, Algorithm: Quota, Period: Week}},
	}
	for _, c := range cases {
		got, err := ParseLimit(c.text)
		if err != nil {
			t.Errorf("ParseLimit(%q): %v", c.text, err)
			continue
		}
		if got.String() != c.want.String() || got.Requests != c.want.Requests || got.Window != c.want.Window ||
			got.Algorithm != c.want.Algorithm || got.Burst != c.want.Burst || got.Period != c.want.Period {
			t.Errorf("ParseLimit(%q) = %+v (%s), want %+v (%s)", c.text, got, got, c.want, c.want)
		}
	}
}

func TestParseLimitErrors(t *testing.T) {
	cases := []struct{ text, says string }{
		{"", "empty"},
		{"100", "missing '/'"},
		{"/1m", "requests: missing number"},
		{"0/1m", "at least 1"},
		{"-5/1m", "not a positive whole number"},
		{"1.5/1m", "not a positive whole number"},
		{"100/0s", "zero-length window"},
		{"100/-1s", "not a window"},
		{"100/", "missing window"},
		{"100/5y", "not a window"},
		{"99999999999999999999/1s", "too large"},
		{"1125899906842625/1s", "too large"},
		{"1/99999999999999999999s", "too large"},
		{"1/9999999d", "longer than the longest window"},
		{"10/1s leaky", "unknown word"},
		{"10/1s gcra counter", "algorithm given twice"},
		{"10/1s burst=5", "burst applies only to token_bucket and gcra"},
		{"10/1s gcra burst=x", "burst:"},
		{"10/1s color=red", "unknown option"},
		{"10/1s tz=Mars/Olympus", "unknown time zone"},
		{"10/2mo", "one at a time"},
		{"10/month fixed_window", "only for quota"},
		{"10/90s quota", "quota needs a window of 1d, 1w or 1mo"},
		{"2000000/1s gcra", "at most one request per microsecond"},
		{strings.Repeat("1", 300), "at most 256"},
	}
	for _, c := range cases {
		_, err := ParseLimit(c.text)
		if err == nil {
			t.Errorf("ParseLimit(%q) accepted it", c.text)
			continue
		}
		if !errors.Is(err, ErrInvalidLimit) || !strings.Contains(err.Error(), c.says) {
			t.Errorf("ParseLimit(%q) error %q does not say %q", c.text, err, c.says)
		}
	}
}

func TestLimitTextRoundTrip(t *testing.T) {
	for _, text := range []string{"100/15m", "1000/90s", "10/1s token_bucket burst=20", "3/15m counter", "5000/1mo quota tz=Europe/Berlin", "1/1us fixed_window", "7/1w gcra"} {
		l := MustParseLimit(text)
		again, err := ParseLimit(l.String())
		if err != nil || again.String() != l.String() {
			t.Errorf("%q → %q → %v, %v", text, l.String(), again, err)
		}
		b, err := l.MarshalText()
		if err != nil || string(b) != l.String() {
			t.Errorf("MarshalText(%q) = %q, %v", text, b, err)
		}
	}
}

func FuzzParseLimit(f *testing.F) {
	for _, s := range []string{"100/15m", "10/s token_bucket burst=20", "3/15m counter", "5000/month tz=Europe/Berlin", "1/1h30m", "0/0", "1/1mo quota", "9/9w gcra burst=1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		l, err := ParseLimit(text)
		if err != nil {
			if !errors.Is(err, ErrInvalidLimit) {
				t.Fatalf("error %v does not wrap ErrInvalidLimit", err)
			}
			return
		}
		if err := l.Validate(); err != nil {
			t.Fatalf("ParseLimit(%q) returned an invalid limit: %v", text, err)
		}
		again, err := ParseLimit(l.String())
		if err != nil || again.String() != l.String() {
			t.Fatalf("round trip of %q: %q → %v %v", text, l.String(), again, err)
		}
		// The arithmetic must hold on any accepted limit.
		r := Apply(l, State{}, 1_767_571_200_000_000, l.Capacity())
		if !r.Decision.Allowed || r.Decision.Remaining != 0 {
			t.Fatalf("%q: a fresh key refused its whole capacity: %+v", text, r.Decision)
		}
	})
}

// TestParseLimitDoesNotAllocate: valid limit text is parsed on every API
// call that sends one, so it must not cost the garbage collector.
func TestParseLimitDoesNotAllocate(t *testing.T) {
	for _, text := range []string{"100/1m", "1000/90s", "10/s token_bucket burst=20", "3/15m counter"} {
		if n := testing.AllocsPerRun(100, func() { _, _ = ParseLimit(text) }); n != 0 {
			t.Errorf("ParseLimit(%q): %v allocations, want 0", text, n)
		}
	}
}

// TestValidateTolerance: burst × refill interval of token_bucket and gcra
// must stay within 2^51µs, whether or not capacity × window does.
func TestValidateTolerance(t *testing.T) {
	for _, tc := range []struct {
		l  Limit
		ok bool
	}{
		{Limit{Algorithm: GCRA, Requests: 100, Window: time.Minute}, true},
		// capacity × window is over the bound, capacity × interval (1µs) is not.
		{Limit{Algorithm: GCRA, Requests: 1_000_000, Window: time.Second, Burst: 1 << 40}, true},
		{Limit{Algorithm: TokenBucket, Requests: 1, Window: MaxWindow, Burst: 1 << 40}, false},
		{Limit{Algorithm: GCRA, Requests: 1, Window: time.Second, Burst: 1 << 32}, false},
		{Limit{Algorithm: GCRA, Requests: 1, Window: time.Second, Burst: 1 << 31}, true},
	} {
		err := tc.l.Validate()
		if (err == nil) != tc.ok || (err != nil && !strings.Contains(err.Error(), "refill interval")) {
			t.Errorf("%+v: Validate() = %v, want ok %v", tc.l, err, tc.ok)
		}
	}
}
