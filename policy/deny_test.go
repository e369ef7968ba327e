package policy_test

import (
	"encoding/json"
	"net/http"
	"net/netip"
	"testing"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/policy"
)

func TestDenyLists(t *testing.T) {
	clk := newClock(epoch)
	rec := &recorder{}
	h := &handler{}
	set := newSet(t, newLimiter(t, clk), policy.Options{Observer: rec},
		&policy.Policy{Name: "api", By: policy.ByUser, Limit: sluice.MustParseLimit("100/1m"), Deny: policy.Deny{
			IPs:           []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24"), netip.MustParsePrefix("2001:db8:bad::/48")},
			Identifiers:   []string{"mallory"},
			UserAgents:    []string{"BadBot"},
			Countries:     []string{"kp"},
			CountryHeader: "CF-IPCountry",
		}})
	mw := policy.Middleware(set)(h)
	alice := withUser("alice", nil)
	for _, tc := range []struct {
		name   string
		remote string
		setup  []func(*http.Request)
		list   string
	}{
		{"ip", "198.51.100.7:1", nil, policy.DenyIP},
		{"mapped ip", "[::ffff:198.51.100.7]:1", nil, policy.DenyIP},
		{"ipv6 network", "[2001:db8:bad:1::1]:1", nil, policy.DenyIP},
		{"identifier", "192.0.2.1:1", []func(*http.Request){withUser("mallory", nil)}, policy.DenyIdentifier},
		{"user agent", "192.0.2.1:1", []func(*http.Request){withHeader("User-Agent", "Mozilla/5.0 (compatible; badbot/2.1)")}, policy.DenyUserAgent},
		{"country", "192.0.2.1:1", []func(*http.Request){withHeader("CF-IPCountry", "KP")}, policy.DenyCountry},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := h.calls.Load()
			w := do(mw, tc.remote, append([]func(*http.Request){alice}, tc.setup...)...)
			if tc.list == policy.DenyIdentifier {
				w = do(mw, tc.remote, tc.setup...)
			}
			var p policy.Problem
			if w.Code != 403 || json.Unmarshal(w.Body.Bytes(), &p) != nil || p.Type != policy.ProblemDenied || p.Reason != "denied" {
				t.Fatalf("got %d %s, want 403 denied", w.Code, w.Body)
			}
			if h.calls.Load() != before {
				t.Error("the handler ran for a denied caller")
			}
			ev := rec.all()
			last := ev[len(ev)-1]
			if last.Decision.Reason != sluice.ReasonDenied || last.DenyList != tc.list || last.Policy != "api" {
				t.Errorf("event %+v, want denied on %s", last, tc.list)
			}
		})
	}
	if got := do(mw, "192.0.2.1:1", alice, withHeader("CF-IPCountry", "DE")).Code; got != 200 {
		t.Errorf("allowed caller: %d", got)
	}
}
