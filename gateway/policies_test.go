package gateway

import (
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/sluicehq/sluice/policy"
	"github.com/sluicehq/sluice/policy/auth"
	"github.com/sluicehq/sluice/rules"
	"github.com/sluicehq/sluice/rules/sqlite"
)

var hmacSecret = []byte("0123456789abcdef0123456789abcdef")

// jwtAuth returns an HS256 JWT authenticator on clk, for audience
// "sluice-api".
func jwtAuth(t testing.TB, clk *clock) *auth.JWTAuth {
	t.Helper()
	k, err := auth.NewKey("k1", auth.HS256, hmacSecret)
	if err != nil {
		t.Fatal(err)
	}
	ks, err := auth.NewStaticKeys(k)
	if err != nil {
		t.Fatal(err)
	}
	a, err := auth.NewJWT(auth.JWTConfig{Keys: ks, Audience: []string{"sluice-api"}, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// token returns "Bearer <jwt>" for sub, valid for an hour from now, with
// extra claims.
func token(t testing.TB, now time.Time, sub string, kv ...any) string {
	t.Helper()
	c := jwt.MapClaims{"sub": sub, "aud": "sluice-api", "exp": now.Add(time.Hour).Unix(), "plan": "pro"}
	for i := 0; i+1 < len(kv); i += 2 {
		c[kv[i].(string)] = kv[i+1]
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, c)
	tok.Header["kid"] = "k1"
	s, err := tok.SignedString(hmacSecret)
	if err != nil {
		t.Fatal(err)
	}
	return "Bearer " + s
}

// rulesResolver returns a resolver over a fresh SQLite repository holding
// rules.
func rulesResolver(t testing.TB, rs ...rules.Rule) *rules.Resolver {
	t.Helper()
	repo, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "rules.db"), sqlite.Options{Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = repo.Close() })
	for _, r := range rs {
		if _, err := repo.Create(t.Context(), r, "test"); err != nil {
			t.Fatal(err)
		}
	}
	res, err := rules.NewResolver(repo, rules.ResolverConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = res.Close() })
	if err := res.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	return res
}

// TestRateLimitByThroughProxy runs each rateLimitBy mode through the proxy
// to a real upstream: two callers, a limit of 2 per minute each (or in
// all, for "all").
func TestRateLimitByThroughProxy(t *testing.T) {
	clk := &clock{t: epoch}
	alice, bob := token(t, epoch, "alice"), token(t, epoch, "bob")
	for _, tc := range []struct {
		name     string
		pol      policy.Policy
		auth     bool
		a, b     []string // headers of the two callers
		aCodes   []int
		bCodes   []int
		headerAs string // the RateLimit name
	}{
		{
			name: "ip", pol: policy.Policy{By: policy.ByIP, Limit: limit("2/1m fixed_window")},
			// Both callers are 127.0.0.1 (an untrusted X-Forwarded-For is ignored).
			a: []string{"X-Forwarded-For", "198.51.100.1"}, b: []string{"X-Forwarded-For", "198.51.100.2"},
			aCodes: []int{200, 200, 429}, bCodes: []int{429},
		},
		{
			name: "user", auth: true, pol: policy.Policy{By: policy.ByUser, Limit: limit("2/1m fixed_window")},
			a: []string{"Authorization", alice}, b: []string{"Authorization", bob},
			aCodes: []int{200, 200, 429}, bCodes: []int{200},
		},
		{
			name: "function", pol: policy.Policy{By: policy.ByFunction, Limit: limit("2/1m fixed_window"),
				Func: func(r *http.Request) (*policy.Details, error) {
					if k := r.Header.Get("X-Customer"); k != "" {
						return &policy.Details{Key: k}, nil
					}
					return nil, nil // skipped
				}},
			a: []string{"X-Customer", "c1"}, b: []string{"X-Customer", "c2"},
			aCodes: []int{200, 200, 429}, bCodes: []int{200},
		},
		{
			name: "all", auth: true, pol: policy.Policy{By: policy.ByAll, Limit: limit("2/1m fixed_window")},
			a: []string{"Authorization", alice}, b: []string{"Authorization", bob},
			aCodes: []int{200, 200, 429}, bCodes: []int{429},
		},
		{
			name: "rules", auth: true, pol: policy.Policy{By: policy.ByRules, Rules: rulesResolver(t,
				rules.Rule{KeyType: rules.KeyUserID, KeyValue: "alice", Limit: 2, WindowSeconds: 60, Algorithm: "fixed_window", Enabled: true},
				rules.Rule{KeyType: rules.KeyUserID, KeyValue: "*", Limit: 5, WindowSeconds: 60, Algorithm: "fixed_window", Enabled: true},
			)},
			a: []string{"Authorization", alice}, b: []string{"Authorization", bob},
			aCodes: []int{200, 200, 429}, bCodes: []int{200},
			headerAs: "/user_id",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up := newUpstream(t, nil)
			pol := tc.pol
			pol.Name = "by-" + tc.name
			rt := Route{Path: "/api/**", Upstream: up.URL, Policies: []*policy.Policy{&pol}}
			if tc.auth {
				rt.Auth = jwtAuth(t, clk)
			}
			g := newGateway(t, Config{Routes: []Route{rt}, Limiter: newLimiter(t, clk), Policy: policy.Options{Now: clk.Now}})
			url, c := front(t, g)
			var first *http.Response
			var got []int
			for range tc.aCodes {
				resp, _ := get(t, c, "GET", url+"/api/x", tc.a...)
				if first == nil {
					first = resp
				}
				got = append(got, resp.StatusCode)
			}
			if !slices.Equal(got, tc.aCodes) {
				t.Errorf("first caller %v, want %v", got, tc.aCodes)
			}
			if got := codes(t, c, url+"/api/x", len(tc.bCodes), tc.b...); !slices.Equal(got, tc.bCodes) {
				t.Errorf("second caller %v, want %v", got, tc.bCodes)
			}
			if want := int64(2 + countOK(tc.bCodes)); up.hits.Load() != want {
				t.Errorf("upstream reached %d times, want %d", up.hits.Load(), want)
			}
			name := pol.Name + tc.headerAs
			if got, want := first.Header.Get("RateLimit"), `"`+name+`";r=1;t=60`; got != want {
				t.Errorf("RateLimit %q, want %q", got, want)
			}
			if got, want := first.Header.Get("RateLimit-Policy"), `"`+name+`";q=2;w=60`; got != want {
				t.Errorf("RateLimit-Policy %q, want %q", got, want)
			}
		})
	}
}

func countOK(cs []int) int {
	n := 0
	for _, c := range cs {
		if c == 200 {
			n++
		}
	}
	return n
}

// TestHeadersAndRetryAfter checks the exact headers and body of allowed
// and refused answers as the window runs.
func TestHeadersAndRetryAfter(t *testing.T) {
	clk := &clock{t: epoch}
	up := newUpstream(t, nil)
	g := newGateway(t, Config{
		Routes: []Route{
			{Path: "/a", Upstream: up.URL, Policies: []*policy.Policy{{Name: "api", By: policy.ByIP, Limit: limit("2/1m fixed_window")}}},
			{Path: "/quiet", Upstream: up.URL, Policies: []*policy.Policy{{Name: "quiet", By: policy.ByIP, Limit: limit("1/1m fixed_window"), HeaderMode: policy.HeaderModeNone}}},
		},
		Limiter: newLimiter(t, clk), Policy: policy.Options{Now: clk.Now},
	})
	url, c := front(t, g)
	check := func(wantCode int, wantRL, wantRetry string) {
		t.Helper()
		resp, body := get(t, c, "GET", url+"/a")
		if resp.StatusCode != wantCode || resp.Header.Get("RateLimit") != wantRL || resp.Header.Get("Retry-After") != wantRetry ||
			resp.Header.Get("RateLimit-Policy") != `"api";q=2;w=60` {
			t.Errorf("got %d RateLimit %q Retry-After %q Policy %q, want %d %q %q", resp.StatusCode,
				resp.Header.Get("RateLimit"), resp.Header.Get("Retry-After"), resp.Header.Get("RateLimit-Policy"), wantCode, wantRL, wantRetry)
		}
		if wantCode == 429 {
			var p struct {
				Type       string `json:"type"`
				Policy     string `json:"policy"`
				RetryAfter int64  `json:"retry_after"`
			}
			pr := problemOf(t, resp, body)
			_ = pr
			decodeJSON(t, body, &p)
			if p.Type != policy.ProblemRateLimited || p.Policy != "api" || wantRetry != "" && p.RetryAfter != atoi(t, wantRetry) {
				t.Errorf("429 body %s", body)
			}
		}
	}
	check(200, `"api";r=1;t=60`, "")
	check(200, `"api";r=0;t=60`, "")
	check(429, `"api";r=0;t=60`, "60")
	clk.Advance(45 * time.Second)
	check(429, `"api";r=0;t=15`, "15")
	clk.Advance(15 * time.Second)
	check(200, `"api";r=1;t=60`, "")
	if up.hits.Load() != 3 {
		t.Errorf("upstream reached %d times, want 3", up.hits.Load())
	}

	get(t, c, "GET", url+"/quiet")
	resp, _ := get(t, c, "GET", url+"/quiet")
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "" {
		t.Errorf("headerMode none: %d Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
}

// TestStrictVersusAsync: in strict mode the call over the limit never
// reaches the upstream; in async mode it does (the check runs beside it),
// and the caller's next call is refused without reaching it.
func TestStrictVersusAsync(t *testing.T) {
	for _, tc := range []struct {
		mode  policy.Mode
		codes []int
		hits  int64
	}{
		{policy.Strict, []int{200, 429, 429, 429}, 1},
		{policy.Async, []int{200, 200, 429, 429}, 2},
	} {
		t.Run(tc.mode.String(), func(t *testing.T) {
			clk := &clock{t: epoch}
			up := newUpstream(t, nil)
			g := newGateway(t, Config{
				Routes:  []Route{{Path: "*", Upstream: up.URL, Policies: []*policy.Policy{{Name: "p", By: policy.ByIP, Limit: limit("1/1m fixed_window"), Mode: tc.mode}}}},
				Limiter: newLimiter(t, clk), Policy: policy.Options{Now: clk.Now},
			})
			url, c := front(t, g)
			if got := codes(t, c, url+"/x", len(tc.codes)); !slices.Equal(got, tc.codes) {
				t.Errorf("codes %v, want %v", got, tc.codes)
			}
			if up.hits.Load() != tc.hits {
				t.Errorf("upstream reached %d times, want %d", up.hits.Load(), tc.hits)
			}
		})
	}
}

// TestSpoofedForwardedFor: an untrusted peer's X-Forwarded-For neither
// changes its counter nor reaches the upstream; a trusted proxy's does.
func TestSpoofedForwardedFor(t *testing.T) {
	for _, trusted := range []bool{false, true} {
		t.Run(map[bool]string{false: "untrusted", true: "trusted"}[trusted], func(t *testing.T) {
			clk := &clock{t: epoch}
			up := newUpstream(t, nil)
			opts := policy.Options{Now: clk.Now}
			if trusted {
				opts = policyOptionsTrusting("127.0.0.1/32")
				opts.Now = clk.Now
			}
			g := newGateway(t, Config{
				Routes:  []Route{{Path: "*", Upstream: up.URL, Policies: []*policy.Policy{{Name: "p", By: policy.ByIP, Limit: limit("1/1m")}}}},
				Limiter: newLimiter(t, clk), Policy: opts,
			})
			url, c := front(t, g)
			var got []int
			for i := range 3 {
				resp, _ := get(t, c, "GET", url+"/x", "X-Forwarded-For", "198.51.100."+string(rune('1'+i)))
				got = append(got, resp.StatusCode)
			}
			want := []int{200, 429, 429}
			wantXFF := "127.0.0.1"
			if trusted {
				want = []int{200, 200, 200}
				wantXFF = "198.51.100.3, 127.0.0.1"
			}
			if !slices.Equal(got, want) {
				t.Errorf("codes %v, want %v", got, want)
			}
			if xff := up.lastRequest().Header.Get("X-Forwarded-For"); xff != wantXFF {
				t.Errorf("upstream X-Forwarded-For %q, want %q", xff, wantXFF)
			}
		})
	}
}

// TestIPv6Grouping: IPv6 clients (behind a trusted proxy on loopback) are
// counted per /64 by default, or per the configured prefix.
func TestIPv6Grouping(t *testing.T) {
	for _, tc := range []struct {
		prefix int
		second string
		want   int
	}{
		{0, "2001:db8:1:2:ffff::9", 429}, // the same /64
		{0, "2001:db8:1:3::1", 200},      // another /64
		{48, "2001:db8:1:3::1", 429},     // the same /48
		{128, "2001:db8:1:2::2", 200},    // every address alone
	} {
		clk := &clock{t: epoch}
		up := newUpstream(t, nil)
		opts := policyOptionsTrusting("127.0.0.1/32", "::1/128")
		opts.Now, opts.IPv6Prefix = clk.Now, tc.prefix
		g := newGateway(t, Config{
			Routes:  []Route{{Path: "*", Upstream: up.URL, Policies: []*policy.Policy{{Name: "p", By: policy.ByIP, Limit: limit("1/1m")}}}},
			Limiter: newLimiter(t, clk), Policy: opts,
		})
		url, c := front(t, g)
		if resp, _ := get(t, c, "GET", url+"/x", "X-Forwarded-For", "2001:db8:1:2::1"); resp.StatusCode != 200 {
			t.Fatalf("first: %d", resp.StatusCode)
		}
		if resp, _ := get(t, c, "GET", url+"/x", "X-Forwarded-For", tc.second); resp.StatusCode != tc.want {
			t.Errorf("prefix %d, %s: %d, want %d", tc.prefix, tc.second, resp.StatusCode, tc.want)
		}
	}
}

// TestAuthThroughProxy: bad credentials get 401 and never reach the
// upstream.
func TestAuthThroughProxy(t *testing.T) {
	clk := &clock{t: epoch}
	up := newUpstream(t, nil)
	keys, err := auth.NewMemoryKeyStore([]auth.APIKey{{Consumer: "acme", Key: "acme-key-0123456789abcdef", Metadata: map[string]any{"plan": "pro"}}})
	if err != nil {
		t.Fatal(err)
	}
	apiKeys, err := auth.NewAPIKey(auth.APIKeyConfig{Keys: keys, Header: "X-API-Key"})
	if err != nil {
		t.Fatal(err)
	}
	users := []*policy.Policy{{Name: "per-user", By: policy.ByUser, Limit: limit("100/1m")}}
	g := newGateway(t, Config{
		Routes: []Route{
			{Path: "/jwt/**", Upstream: up.URL, Auth: jwtAuth(t, clk), Policies: users},
			{Path: "/key/**", Upstream: up.URL, Auth: apiKeys, Policies: users},
		},
		Limiter: newLimiter(t, clk), Policy: policy.Options{Now: clk.Now},
	})
	url, c := front(t, g)

	sign := func(m jwt.SigningMethod, key any, claims jwt.MapClaims) string {
		tok := jwt.NewWithClaims(m, claims)
		tok.Header["kid"] = "k1"
		s, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return "Bearer " + s
	}
	good := token(t, epoch, "alice")
	parts := strings.Split(good, ".")
	badSig := parts[0] + "." + parts[1] + "." + strings.Split(token(t, epoch, "mallory"), ".")[2]
	for _, tc := range []struct {
		name, path, header, value string
		want                      int
	}{
		{"good jwt", "/jwt/x", "Authorization", good, 200},
		{"jwt bad signature", "/jwt/x", "Authorization", badSig, 401},
		{"jwt wrong audience", "/jwt/x", "Authorization", sign(jwt.SigningMethodHS256, hmacSecret, jwt.MapClaims{"sub": "a", "aud": "other", "exp": epoch.Add(time.Hour).Unix()}), 401},
		{"jwt expired", "/jwt/x", "Authorization", sign(jwt.SigningMethodHS256, hmacSecret, jwt.MapClaims{"sub": "a", "aud": "sluice-api", "exp": epoch.Add(-time.Minute).Unix()}), 401},
		{"jwt missing", "/jwt/x", "", "", 401},
		{"good api key", "/key/x", "X-API-Key", "acme-key-0123456789abcdef", 200},
		{"unknown api key", "/key/x", "X-API-Key", "nope-key-0123456789abcdef", 401},
	} {
		before := up.hits.Load()
		var hdr []string
		if tc.header != "" {
			hdr = []string{tc.header, tc.value}
		}
		resp, body := get(t, c, "GET", url+tc.path, hdr...)
		if resp.StatusCode != tc.want {
			t.Errorf("%s: %d, want %d: %s", tc.name, resp.StatusCode, tc.want, body)
			continue
		}
		if tc.want == 401 {
			p := problemOf(t, resp, body)
			if p.Type != policy.ProblemUnauthenticated || resp.Header.Get("WWW-Authenticate") == "" {
				t.Errorf("%s: %+v %v", tc.name, p, resp.Header)
			}
			if up.hits.Load() != before {
				t.Errorf("%s reached the upstream", tc.name)
			}
		}
	}
}

// TestDenyList: a denied caller gets 403 and never reaches the upstream.
func TestDenyList(t *testing.T) {
	clk := &clock{t: epoch}
	up := newUpstream(t, nil)
	g := newGateway(t, Config{
		Routes: []Route{{Path: "*", Upstream: up.URL, Policies: []*policy.Policy{{
			Name: "p", By: policy.ByIP, Limit: limit("100/1m"),
			Deny: policy.Deny{UserAgents: []string{"BadBot"}},
		}}}},
		Limiter: newLimiter(t, clk), Policy: policy.Options{Now: clk.Now},
	})
	url, c := front(t, g)
	resp, body := get(t, c, "GET", url+"/x", "User-Agent", "Mozilla/5.0 (compatible; badbot/2.1)")
	if p := problemOf(t, resp, body); resp.StatusCode != 403 || p.Type != policy.ProblemDenied {
		t.Errorf("denied: %d %+v", resp.StatusCode, p)
	}
	if up.hits.Load() != 0 {
		t.Error("a denied caller reached the upstream")
	}
	if resp, _ := get(t, c, "GET", url+"/x", "User-Agent", "curl/8"); resp.StatusCode != 200 {
		t.Errorf("allowed: %d", resp.StatusCode)
	}
}

// TestComplexIncrementsFromUpstream: the upstream charges a complex
// policy's counters with Sluice-Increments, which the client never sees.
func TestComplexIncrementsFromUpstream(t *testing.T) {
	for _, tc := range []struct {
		mode policy.Mode
		want []int
	}{
		// compute: 10 allowed, 4 per call: calls 1 and 2 take 8; call 3
		// passes (2 left) and is charged what is left; call 4 is refused.
		{policy.Strict, []int{200, 200, 200, 429, 429}},
		// Async: call 4 runs beside its check, which finds compute spent;
		// call 5 is refused at once.
		{policy.Async, []int{200, 200, 200, 200, 429}},
	} {
		mode := tc.mode
		t.Run(mode.String(), func(t *testing.T) {
			clk := &clock{t: epoch}
			up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set(policy.HeaderIncrements, "compute=4")
				_, _ = w.Write([]byte("done"))
			})
			g := newGateway(t, Config{
				Routes: []Route{{Path: "*", Upstream: up.URL, Policies: []*policy.Policy{{
					Name: "usage", By: policy.ByIP, Mode: mode,
					Counters: []policy.Counter{{Name: "requests", Limit: limit("100/1m fixed_window")}, {Name: "compute", Limit: limit("10/1m fixed_window")}},
				}}}},
				Limiter: newLimiter(t, clk), Policy: policy.Options{Now: clk.Now},
			})
			url, c := front(t, g)
			var got []int
			for range tc.want {
				resp, body := get(t, c, "GET", url+"/x")
				got = append(got, resp.StatusCode)
				if v := resp.Header.Get(policy.HeaderIncrements); v != "" {
					t.Errorf("client got %s: %q", policy.HeaderIncrements, v)
				}
				if resp.StatusCode == 200 && body != "done" {
					t.Errorf("body %q", body)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("codes %v, want %v", got, tc.want)
			}
		})
	}
}
