package rules_test

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/algorithm"
	"github.com/sluicehq/sluice/rules"
)

// valid returns a valid rule to vary.
func valid() rules.Rule {
	return rules.Rule{KeyType: rules.KeyUserID, KeyValue: "user_123", Limit: 100, WindowSeconds: 900, Enabled: true}
}

// quotaIn makes a rule a daily quota in the time zone tz.
func quotaIn(tz string) func(r *rules.Rule) {
	return func(r *rules.Rule) { r.Algorithm, r.WindowSeconds, r.TimeZone = "quota", rules.QuotaDaySeconds, tz }
}

func TestValidateAccepts(t *testing.T) {
	cases := []func(r *rules.Rule){
		func(r *rules.Rule) {},
		func(r *rules.Rule) { r.ID = "0190b1c2-7e4a-7c3d-9f00-6b1d2e3f4a5b" },
		func(r *rules.Rule) { r.ID = "0190B1C2-7E4A-7C3D-9F00-6B1D2E3F4A5B" },
		func(r *rules.Rule) { r.KeyValue = "*" },
		func(r *rules.Rule) { r.KeyType, r.KeyValue = rules.KeyIP, "203.0.113.7" },
		func(r *rules.Rule) { r.KeyType, r.KeyValue = rules.KeyIP, "10.0.0.0/8" },
		func(r *rules.Rule) { r.KeyType, r.KeyValue = rules.KeyIP, "10.1.2.3/8" }, // masked when stored
		func(r *rules.Rule) { r.KeyType, r.KeyValue = rules.KeyIP, "2001:db8::/32" },
		func(r *rules.Rule) { r.KeyType, r.KeyValue = rules.KeyIP, "::1" },
		func(r *rules.Rule) { r.KeyType, r.KeyValue = rules.KeyIP, "*" },
		func(r *rules.Rule) { r.KeyType, r.KeyValue = rules.KeyAPIKey, "sk_live_abc" },
		func(r *rules.Rule) { r.KeyType, r.KeyValue, r.Method = rules.KeyRoute, "/api/chat", "POST" },
		func(r *rules.Rule) { r.KeyType, r.KeyValue = rules.KeyRoute, "/users/{id}/keys/*" },
		func(r *rules.Rule) { r.KeyType, r.KeyValue = rules.KeyRoute, "/api/**" },
		func(r *rules.Rule) { r.KeyType, r.KeyValue, r.Method = rules.KeyRoute, "*", "M-SEARCH" },
		func(r *rules.Rule) { r.KeyType, r.KeyValue = rules.KeyPlan, "enterprise" },
		func(r *rules.Rule) { r.KeyType, r.KeyValue = rules.KeyGlobal, "*" },
		func(r *rules.Rule) { r.Plan = "pro" },
		func(r *rules.Rule) { r.Limit, r.WindowSeconds = rules.MaxLimit, rules.MaxWindowSeconds },
		func(r *rules.Rule) { r.Limit, r.WindowSeconds = 1, 1 },
		func(r *rules.Rule) { r.Algorithm = "fixed_window" },
		func(r *rules.Rule) { r.Algorithm, r.Burst = "token_bucket", 20 },
		func(r *rules.Rule) { r.Algorithm, r.Burst = "gcra", 0 },
		func(r *rules.Rule) { r.Algorithm = "counter" },
		func(r *rules.Rule) { r.Algorithm, r.WindowSeconds = "quota", rules.QuotaDaySeconds },
		func(r *rules.Rule) { r.Algorithm, r.WindowSeconds = "quota", rules.QuotaWeekSeconds },
		func(r *rules.Rule) { r.Algorithm, r.WindowSeconds = "quota", rules.QuotaMonthSeconds },
		quotaIn("Europe/Berlin"),
		quotaIn("UTC"),
		quotaIn("America/Argentina/Buenos_Aires"),
		quotaIn("Etc/GMT+5"),
		quotaIn("America/Port-au-Prince"),
		func(r *rules.Rule) { r.Priority = -1000 },
		func(r *rules.Rule) {
			r.Description = strings.Repeat("é", rules.MaxDescriptionLen/2-10) + "\nline two\ttab"
		},
		func(r *rules.Rule) { r.KeyValue = strings.Repeat("k", rules.MaxKeyValueLen) },
	}
	for i, mod := range cases {
		r := valid()
		mod(&r)
		if err := r.Validate(); err != nil {
			t.Errorf("case %d %+v: %v", i, r, err)
		}
		if err := r.Canonical().Validate(); err != nil {
			t.Errorf("case %d: canonical form invalid: %v", i, err)
		}
		if _, err := r.AlgorithmLimit(); err != nil {
			t.Errorf("case %d: AlgorithmLimit: %v", i, err)
		}
	}
}

func TestValidateRejects(t *testing.T) {
	cases := []struct {
		mod    func(r *rules.Rule)
		fields []string
		says   string
	}{
		{func(r *rules.Rule) { r.ID = "123" }, []string{"id"}, "UUID"},
		{func(r *rules.Rule) { r.KeyType = "" }, []string{"key_type"}, "user_id, ip, api_key, route, plan, global"},
		{func(r *rules.Rule) { r.KeyType = "User_ID" }, []string{"key_type"}, "must be one of"},
		{func(r *rules.Rule) { r.KeyValue = "" }, []string{"key_value"}, "must not be empty"},
		{func(r *rules.Rule) { r.KeyValue = strings.Repeat("k", rules.MaxKeyValueLen+1) }, []string{"key_value"}, "at most 512 bytes"},
		{func(r *rules.Rule) { r.KeyValue = "a\x00b" }, []string{"key_value"}, "control"},
		{func(r *rules.Rule) { r.KeyValue = "\xff" }, []string{"key_value"}, "UTF-8"},
		{func(r *rules.Rule) { r.KeyValue = " alice" }, []string{"key_value"}, "spaces"},
		{func(r *rules.Rule) { r.KeyType, r.KeyValue = rules.KeyIP, "10.0.0.256" }, []string{"key_value"}, "CIDR"},
		{func(r *rules.Rule) { r.KeyType, r.KeyValue = rules.KeyIP, "10.0.0.0/33" }, []string{"key_value"}, "CIDR"},
		{func(r *rules.Rule) { r.KeyType, r.KeyValue = rules.KeyIP, "fe80::1%eth0" }, []string{"key_value"}, "address"},
		{func(r *rules.Rule) { r.KeyType, r.KeyValue = rules.KeyIP, "example.com" }, []string{"key_value"}, "address"},
		{func(r *rules.Rule) { r.KeyType, r.KeyValue = rules.KeyRoute, "api/chat" }, []string{"key_value"}, `start with "/"`},
		{func(r *rules.Rule) { r.KeyType, r.KeyValue = rules.KeyRoute, "/a/**/b" }, []string{"key_value"}, "last segment"},
		{func(r *rules.Rule) { r.KeyType, r.KeyValue = rules.KeyRoute, "/a/b*" }, []string{"key_value"}, "whole segment"},
		{func(r *rules.Rule) { r.KeyType, r.KeyValue = rules.KeyRoute, "/a?x=1" }, []string{"key_value"}, "'?'"},
		{func(r *rules.Rule) { r.KeyType, r.KeyValue = rules.KeyGlobal, "everyone" }, []string{"key_value"}, `must be "*"`},
		{func(r *rules.Rule) { r.Method = "GET" }, []string{"method"}, "unless key_type is route"},
		{func(r *rules.Rule) { r.KeyType, r.KeyValue, r.Method = rules.KeyRoute, "/x", "get" }, []string{"method"}, "uppercase"},
		{func(r *rules.Rule) { r.KeyType, r.KeyValue, r.Method = rules.KeyRoute, "/x", "GE T" }, []string{"method"}, "token"},
		{func(r *rules.Rule) { r.KeyType, r.KeyValue, r.Plan = rules.KeyPlan, "pro", "pro" }, []string{"plan"}, "key_type plan"},
		{func(r *rules.Rule) { r.Plan = strings.Repeat("p", rules.MaxPlanLen+1) }, []string{"plan"}, "at most"},
		{func(r *rules.Rule) { r.Limit = 0 }, []string{"limit"}, "between 1 and 1125899906842624"},
		{func(r *rules.Rule) { r.Limit = rules.MaxLimit + 1 }, []string{"limit"}, "between 1 and"},
		{func(r *rules.Rule) { r.WindowSeconds = 0 }, []string{"window_seconds"}, "between 1 and 315360000"},
		{func(r *rules.Rule) { r.WindowSeconds = rules.MaxWindowSeconds + 1 }, []string{"window_seconds"}, "between 1 and 315360000"},
		{func(r *rules.Rule) { r.Algorithm = "leaky_bucket" }, []string{"algorithm"}, "sliding_window"},
		{func(r *rules.Rule) { r.Burst = 5 }, []string{"burst"}, "only to token_bucket and gcra"},
		{func(r *rules.Rule) { r.Algorithm, r.Burst = "gcra", -1 }, []string{"burst"}, "between 0"},
		{func(r *rules.Rule) { r.Algorithm, r.WindowSeconds = "quota", 3600 }, []string{"window_seconds"}, "86400 (day)"},
		{func(r *rules.Rule) { r.Algorithm, r.Limit, r.WindowSeconds = "token_bucket", 2_000_000, 1 }, []string{"limit"}, "too fast"},
		{func(r *rules.Rule) { r.TimeZone = "Europe/Berlin" }, []string{"timezone"}, "applies only to quota; must be empty for sliding_window"},
		{func(r *rules.Rule) { r.Algorithm, r.TimeZone = "fixed_window", "UTC" }, []string{"timezone"}, "only to quota"},
		{quotaIn("Mars/Olympus"), []string{"timezone"}, `IANA time zone name such as Europe/Berlin or UTC (empty means UTC), got "Mars/Olympus"`},
		{quotaIn("Local"), []string{"timezone"}, "IANA"},
		{quotaIn("europe/berlin"), []string{"timezone"}, "IANA"},
		{quotaIn("../../etc/passwd"), []string{"timezone"}, "IANA"},
		{quotaIn("/usr/share/zoneinfo/UTC"), []string{"timezone"}, "IANA"},
		{quotaIn("Europe//Berlin"), []string{"timezone"}, "IANA"},
		{quotaIn("Europe/./Berlin"), []string{"timezone"}, "IANA"},
		{quotaIn("Europe/Berlin/"), []string{"timezone"}, "IANA"},
		{quotaIn("localtime"), []string{"timezone"}, "IANA"},
		{quotaIn("zone.tab"), []string{"timezone"}, "IANA"},
		{quotaIn("Europe/Berlin\x00"), []string{"timezone"}, "IANA"},
		{quotaIn(strings.Repeat("Z", rules.MaxTimeZoneLen+1)), []string{"timezone"}, "at most 64 bytes, got 65"},
		{func(r *rules.Rule) { r.Algorithm, r.WindowSeconds, r.TimeZone = "quota", 3600, "Europe/Berlin" }, []string{"window_seconds"}, "86400 (day)"},
		{func(r *rules.Rule) { r.Description = strings.Repeat("d", rules.MaxDescriptionLen+1) }, []string{"description"}, "at most 1024"},
		{func(r *rules.Rule) { r.Description = "a\x00" }, []string{"description"}, "NUL"},
		{func(r *rules.Rule) { *r = rules.Rule{} }, []string{"key_type", "key_value", "limit", "window_seconds"}, ""},
	}
	for i, c := range cases {
		r := valid()
		c.mod(&r)
		err := r.Validate()
		var ve *rules.ValidationError
		if !errors.As(err, &ve) || !errors.Is(err, rules.ErrInvalid) {
			t.Errorf("case %d %+v: error %v, want a *ValidationError wrapping ErrInvalid", i, r, err)
			continue
		}
		var fields []string
		for _, f := range ve.Fields {
			fields = append(fields, f.Field)
		}
		if !slices.Equal(fields, c.fields) || !strings.Contains(err.Error(), c.says) {
			t.Errorf("case %d: %v; want fields %v and a message with %q", i, err, c.fields, c.says)
		}
		if _, err := r.AlgorithmLimit(); err == nil {
			t.Errorf("case %d: AlgorithmLimit accepted an invalid rule", i)
		}
	}
}

func TestValidationErrorJSON(t *testing.T) {
	err := rules.Rule{KeyType: rules.KeyUserID, KeyValue: "x", Limit: 1}.Validate()
	b, jerr := json.Marshal(err)
	if jerr != nil {
		t.Fatal(jerr)
	}
	if want := `{"errors":[{"field":"window_seconds","rule":"must be between 1 and 315360000, got 0"}]}`; string(b) != want {
		t.Errorf("JSON %s, want %s", b, want)
	}
}

func TestCanonical(t *testing.T) {
	cases := []struct {
		kt       rules.KeyType
		in, want string
	}{
		{rules.KeyIP, "10.1.2.3/8", "10.0.0.0/8"},
		{rules.KeyIP, "10.0.0.1/32", "10.0.0.1"},
		{rules.KeyIP, "::ffff:10.0.0.1", "10.0.0.1"},
		{rules.KeyIP, "2001:DB8:0:0::1/48", "2001:db8::/48"},
		{rules.KeyIP, "2001:db8::1/128", "2001:db8::1"},
		{rules.KeyIP, "*", "*"},
		{rules.KeyRoute, "/api/chat/", "/api/chat"},
		{rules.KeyRoute, "/", "/"},
		{rules.KeyRoute, "*", "*"},
		{rules.KeyUserID, "10.1.2.3/8", "10.1.2.3/8"},
		{rules.KeyIP, "not an ip", "not an ip"}, // invalid: left for Validate
	}
	for _, c := range cases {
		r := rules.Rule{KeyType: c.kt, KeyValue: c.in}.Canonical()
		if r.KeyValue != c.want || r.Algorithm != "sliding_window" {
			t.Errorf("Canonical(%s %q) = %q (algorithm %q), want %q", c.kt, c.in, r.KeyValue, r.Algorithm, c.want)
		}
		if again := r.Canonical(); again != r {
			t.Errorf("Canonical not idempotent on %q", c.in)
		}
	}
	id := rules.Rule{ID: "0190B1C2-7E4A-7C3D-9F00-6B1D2E3F4A5B"}.Canonical().ID
	if id != "0190b1c2-7e4a-7c3d-9f00-6b1d2e3f4a5b" {
		t.Errorf("canonical id %q", id)
	}
}

func TestAlgorithmLimit(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		r    rules.Rule
		want algorithm.Limit
	}{
		{rules.Rule{Limit: 100, WindowSeconds: 900}, algorithm.Limit{Requests: 100, Window: 15 * time.Minute}},
		{rules.Rule{Limit: 10, WindowSeconds: 1, Algorithm: "token_bucket", Burst: 20},
			algorithm.Limit{Requests: 10, Window: time.Second, Algorithm: algorithm.TokenBucket, Burst: 20}},
		{rules.Rule{Limit: 3, WindowSeconds: 900, Algorithm: "counter"}, algorithm.Limit{Requests: 3, Window: 15 * time.Minute, Algorithm: algorithm.Counter}},
		{rules.Rule{Limit: 1000, WindowSeconds: 86400, Algorithm: "quota"}, algorithm.Limit{Requests: 1000, Algorithm: algorithm.Quota, Period: algorithm.Day}},
		{rules.Rule{Limit: 1000, WindowSeconds: 604800, Algorithm: "quota"}, algorithm.Limit{Requests: 1000, Algorithm: algorithm.Quota, Period: algorithm.Week}},
		{rules.Rule{Limit: 5000, WindowSeconds: 2592000, Algorithm: "quota"}, algorithm.Limit{Requests: 5000, Algorithm: algorithm.Quota, Period: algorithm.Month}},
		{rules.Rule{Limit: 5000, WindowSeconds: 2592000, Algorithm: "quota", TimeZone: "UTC"}, algorithm.Limit{Requests: 5000, Algorithm: algorithm.Quota, Period: algorithm.Month}},
		{rules.Rule{Limit: 5000, WindowSeconds: 2592000, Algorithm: "quota", TimeZone: "Europe/Berlin"},
			algorithm.Limit{Requests: 5000, Algorithm: algorithm.Quota, Period: algorithm.Month, Location: berlin}},
	}
	for _, c := range cases {
		c.r.KeyType, c.r.KeyValue = rules.KeyGlobal, "*"
		got, err := c.r.AlgorithmLimit()
		if got.Location != nil && c.want.Location != nil && got.Location.String() == c.want.Location.String() {
			got.Location = c.want.Location // the same zone, loaded separately
		}
		if err != nil || got != c.want {
			t.Errorf("AlgorithmLimit(%+v) = %+v, %v; want %+v", c.r, got, err, c.want)
		}
	}
}

func TestValidateActor(t *testing.T) {
	for _, ok := range []string{"", "admin", "token:ci-deploy"} {
		if err := rules.ValidateActor(ok); err != nil {
			t.Errorf("ValidateActor(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"a\nb", strings.Repeat("a", rules.MaxActorLen+1), "\xff"} {
		if err := rules.ValidateActor(bad); !errors.Is(err, rules.ErrInvalid) {
			t.Errorf("ValidateActor(%q): %v, want ErrInvalid", bad, err)
		}
	}
}

// FuzzValidate checks that validation never panics, that a valid rule's
// canonical form is valid and stable, and that a valid rule converts to a
// valid algorithm.Limit.
func FuzzValidate(f *testing.F) {
	seeds := []struct {
		id, kt, kv, method, plan, alg, desc, tz string
		limit, window, burst                    int64
	}{
		{"", "user_id", "user_123", "", "", "", "", "", 100, 900, 0},
		{"0190b1c2-7e4a-7c3d-9f00-6b1d2e3f4a5b", "ip", "10.1.2.3/8", "", "pro", "fixed_window", "x", "", 5, 60, 0},
		{"", "ip", "2001:db8::1/64", "", "", "gcra", "", "", 10, 1, 20},
		{"", "route", "/api/users/{id}/*", "POST", "", "token_bucket", "", "", 10, 1, 5},
		{"", "route", "/api/**", "", "", "sliding_window", "", "", 1, 1, 0},
		{"", "global", "*", "", "", "quota", "", "", 1000, 2592000, 0},
		{"", "plan", "free", "", "", "counter", "", "", 3, 900, 0},
		{"", "api_key", "*", "", "", "quota", "", "", 1, 3600, 0},
		{"x", "route", "/a//b", "get", "p", "nope", "\x00", "", -1, -1, -1},
		{"", "route", "/{a}/{a}", "", "", "", "", "", 1 << 50, 315360000, 1 << 50},
		{"", "ip", "::ffff:1.2.3.4/120", "", "", "", "", "", 1, 1, 0},
		{"", "user_id", "*", "", "", "quota", "", "Europe/Berlin", 5000, 2592000, 0},
		{"", "user_id", "*", "", "", "quota", "", "UTC", 5000, 604800, 0},
		{"", "user_id", "*", "", "", "gcra", "", "Asia/Tokyo", 5, 1, 0},
		{"", "user_id", "*", "", "", "quota", "", "Local", 5, 86400, 0},
	}
	for _, s := range seeds {
		f.Add(s.id, s.kt, s.kv, s.method, s.plan, s.alg, s.desc, s.tz, s.limit, s.window, s.burst)
	}
	f.Fuzz(func(t *testing.T, id, kt, kv, method, plan, alg, desc, tz string, limit, window, burst int64) {
		r := rules.Rule{ID: id, KeyType: rules.KeyType(kt), KeyValue: kv, Method: method, Plan: plan,
			Algorithm: alg, Description: desc, TimeZone: tz, Limit: limit, WindowSeconds: window, Burst: burst}
		err := r.Validate()
		c := r.Canonical()
		if c.Canonical() != c {
			t.Fatalf("Canonical not idempotent: %+v → %+v", c, c.Canonical())
		}
		if err != nil {
			var ve *rules.ValidationError
			if !errors.As(err, &ve) || len(ve.Fields) == 0 || !errors.Is(err, rules.ErrInvalid) {
				t.Fatalf("error %v is not a *ValidationError with fields", err)
			}
			if _, lerr := r.AlgorithmLimit(); lerr == nil {
				t.Fatal("AlgorithmLimit accepted an invalid rule")
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("valid rule %+v has an invalid canonical form %+v: %v", r, c, err)
		}
		l, err := r.AlgorithmLimit()
		if err != nil {
			t.Fatalf("AlgorithmLimit of a valid rule: %v", err)
		}
		if err := l.Validate(); err != nil {
			t.Fatalf("AlgorithmLimit gave an invalid limit %+v: %v", l, err)
		}
		if r.KeyType == rules.KeyRoute && r.KeyValue != "*" {
			p, err := rules.ParsePattern(c.KeyValue)
			if err != nil || p.String() != c.KeyValue {
				t.Fatalf("canonical route %q does not parse back: %v", c.KeyValue, err)
			}
		}
	})
}
