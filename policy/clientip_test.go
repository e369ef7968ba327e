package policy_test

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"testing"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/policy"
)

var trusted = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}

func TestClientIP(t *testing.T) {
	for _, tc := range []struct {
		name, remote string
		header       string // policy.HeaderXForwardedFor or policy.HeaderForwarded
		values       []string
		want         string
	}{
		{"no header", "192.0.2.1:5", "", nil, "192.0.2.1"},
		{"untrusted peer spoofs XFF", "192.0.2.1:5", "", []string{"203.0.113.9"}, "192.0.2.1"},
		{"trusted peer", "10.0.0.1:5", "", []string{"203.0.113.9"}, "203.0.113.9"},
		{"client prepends a fake", "10.0.0.1:5", "", []string{"1.1.1.1, 203.0.113.9"}, "203.0.113.9"},
		{"two trusted hops", "10.0.0.1:5", "", []string{"1.1.1.1, 203.0.113.9, 10.0.0.2"}, "203.0.113.9"},
		{"several lines", "10.0.0.1:5", "", []string{"1.1.1.1", "203.0.113.9, 10.0.0.2"}, "203.0.113.9"},
		{"all trusted", "10.0.0.1:5", "", []string{"10.0.0.3, 10.0.0.2"}, "10.0.0.3"},
		{"garbage hop", "10.0.0.1:5", "", []string{"203.0.113.9, bogus"}, "10.0.0.1"},
		{"empty members", "10.0.0.1:5", "", []string{"203.0.113.9, , "}, "203.0.113.9"},
		{"hop with port", "10.0.0.1:5", "", []string{"203.0.113.9:4711"}, "203.0.113.9"},
		{"mapped hop", "10.0.0.1:5", "", []string{"::ffff:203.0.113.9"}, "203.0.113.9"},
		{"mapped peer", "[::ffff:192.0.2.1]:5", "", nil, "192.0.2.1"},
		{"mapped trusted peer", "[::ffff:10.0.0.1]:5", "", []string{"203.0.113.9"}, "203.0.113.9"},
		{"ipv6 hop", "[fd00::1]:5", "", []string{"2001:db8::7"}, "2001:db8::7"},
		{"bracketed ipv6 hop", "[fd00::1]:5", "", []string{"[2001:db8::7]:80"}, "2001:db8::7"},
		{"zone dropped", "[fe80::1%eth0]:5", "", nil, "fe80::1"},
		{"no port", "192.0.2.1", "", nil, "192.0.2.1"},
		{"Forwarded", "10.0.0.1:5", policy.HeaderForwarded, []string{`for=1.1.1.1, for="[2001:db8:cafe::17]:4711";proto=https`}, "2001:db8:cafe::17"},
		{"Forwarded skips trusted", "10.0.0.1:5", policy.HeaderForwarded, []string{"for=203.0.113.9;proto=http, For=10.0.0.2"}, "203.0.113.9"},
		{"Forwarded unknown", "10.0.0.1:5", policy.HeaderForwarded, []string{"for=unknown"}, "10.0.0.1"},
		{"Forwarded not read by default", "10.0.0.1:5", "", nil, "10.0.0.1"},
		{"XFF not read when Forwarded is chosen", "10.0.0.1:5", policy.HeaderForwarded, nil, "10.0.0.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.RemoteAddr = tc.remote
			name := policy.HeaderXForwardedFor
			if tc.header == policy.HeaderForwarded {
				name = policy.HeaderForwarded
				r.Header.Set(policy.HeaderXForwardedFor, "198.51.100.66") // never read
			} else {
				r.Header.Set(policy.HeaderForwarded, "for=198.51.100.66") // never read
			}
			for _, v := range tc.values {
				r.Header.Add(name, v)
			}
			if got := policy.ClientIP(r, trusted, tc.header); got.String() != tc.want {
				t.Errorf("ClientIP = %v, want %s", got, tc.want)
			}
		})
	}
}

func TestSpoofedXForwardedForIgnored(t *testing.T) {
	clk := newClock(epoch)
	set := newSet(t, newLimiter(t, clk), policy.Options{TrustedProxies: trusted},
		&policy.Policy{Name: "per-ip", By: policy.ByIP, Limit: sluice.MustParseLimit("1/1m")})
	mw := policy.Middleware(set)(&handler{})
	// An untrusted client rotating X-Forwarded-For still has one counter.
	got := []int{
		do(mw, "192.0.2.1:1", withHeader("X-Forwarded-For", "203.0.113.1")).Code,
		do(mw, "192.0.2.1:1", withHeader("X-Forwarded-For", "203.0.113.2")).Code,
	}
	if !slices.Equal(got, []int{200, 429}) {
		t.Errorf("spoofed XFF: %v, want [200 429]", got)
	}
	// Behind a trusted proxy, two clients have two counters.
	got = []int{
		do(mw, "10.0.0.1:1", withHeader("X-Forwarded-For", "203.0.113.1")).Code,
		do(mw, "10.0.0.1:1", withHeader("X-Forwarded-For", "203.0.113.2")).Code,
		do(mw, "10.0.0.1:1", withHeader("X-Forwarded-For", "203.0.113.2")).Code,
	}
	if !slices.Equal(got, []int{200, 200, 429}) {
		t.Errorf("behind a trusted proxy: %v, want [200 200 429]", got)
	}
}

func FuzzClientIP(f *testing.F) {
	f.Add("10.0.0.1:5", "1.1.1.1, 203.0.113.9", `for="[2001:db8::1]:80";proto=http`, false)
	f.Add("[::ffff:10.0.0.1]:5", "::ffff:1.2.3.4,,", `for=unknown, for="_x"`, true)
	f.Add("garbage", "\"\",[", `for="\"`, true)
	f.Fuzz(func(t *testing.T, remote, xff, fwd string, useForwarded bool) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = remote
		r.Header.Set(policy.HeaderXForwardedFor, xff)
		r.Header.Set(policy.HeaderForwarded, fwd)
		header := ""
		if useForwarded {
			header = policy.HeaderForwarded
		}
		got := policy.ClientIP(r, trusted, header)
		if got.IsValid() && (got.Is4In6() || got.Zone() != "") {
			t.Errorf("ClientIP = %v: mapped or zoned", got)
		}
		// An untrusted peer is always the answer, whatever the headers say.
		r2 := httptest.NewRequest(http.MethodGet, "/", nil)
		r2.RemoteAddr = remote
		if bare := policy.ClientIP(r2, trusted, header); !isTrusted(bare) && got != bare {
			t.Errorf("untrusted peer %v, headers changed the answer to %v", bare, got)
		}
	})
}

func isTrusted(a netip.Addr) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
