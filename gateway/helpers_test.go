package gateway

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/policy"
	"github.com/sluicehq/sluice/store/memory"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// clock is a fake clock tests move by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// epoch is on a minute boundary, so fixed windows of a minute end 60s on.
var epoch = time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)

// newLimiter returns a Limiter over a memory store, both on clk.
func newLimiter(t testing.TB, clk *clock) *sluice.Limiter {
	t.Helper()
	st := memory.New(memory.Config{Now: clk.Now, SweepInterval: -1})
	lim := sluice.New(st, sluice.Config{Now: clk.Now})
	t.Cleanup(func() {
		_ = lim.Close()
		_ = st.Close()
	})
	return lim
}

// upstream is a real HTTP server on 127.0.0.1 that records what reached it.
type upstream struct {
	*httptest.Server
	hits atomic.Int64
	mu   sync.Mutex
	last *http.Request // a clone of the last request
}

// newUpstream starts an upstream that answers with h (nil: 200 "ok" and
// the request's path).
func newUpstream(t testing.TB, h http.HandlerFunc) *upstream {
	t.Helper()
	u := &upstream{}
	if h == nil {
		h = func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, "ok "+r.URL.RequestURI())
		}
	}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.hits.Add(1)
		u.mu.Lock()
		u.last = r.Clone(r.Context())
		u.mu.Unlock()
		h(w, r)
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *upstream) lastRequest() *http.Request {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.last
}

// front serves g on 127.0.0.1 and returns its URL and a client with its
// own connections, closed at the end of the test.
func front(t testing.TB, g *Gateway) (string, *http.Client) {
	t.Helper()
	srv := httptest.NewServer(g)
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		srv.Close()
		_ = g.Close()
	})
	return srv.URL, &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// newGateway builds a Gateway or fails the test.
func newGateway(t testing.TB, cfg Config) *Gateway {
	t.Helper()
	g, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return g
}

// get sends a request and returns the response with its body read.
func get(t testing.TB, c *http.Client, method, url string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, url, err)
	}
	return resp, string(b)
}

// codes sends n GETs and returns the status codes.
func codes(t testing.TB, c *http.Client, url string, n int, hdr ...string) []int {
	t.Helper()
	out := make([]int, n)
	for i := range out {
		resp, _ := get(t, c, http.MethodGet, url, hdr...)
		out[i] = resp.StatusCode
	}
	return out
}

// problemOf decodes a problem+json body, failing the test if it is not one.
func problemOf(t testing.TB, resp *http.Response, body string) problem {
	t.Helper()
	if ct := resp.Header.Get("Content-Type"); ct != policy.ProblemContentType {
		t.Fatalf("status %d: Content-Type %q, want %q; body %s", resp.StatusCode, ct, policy.ProblemContentType, body)
	}
	var p problem
	if err := json.NewDecoder(strings.NewReader(body)).Decode(&p); err != nil {
		t.Fatalf("problem body %q: %v", body, err)
	}
	if p.Status != resp.StatusCode {
		t.Errorf("problem status %d, response %d", p.Status, resp.StatusCode)
	}
	return p
}

func limit(s string) sluice.Limit { return sluice.MustParseLimit(s) }

// policyOptionsTrusting returns policy options trusting the given CIDRs as
// proxies.
func policyOptionsTrusting(cidrs ...string) policy.Options {
	var o policy.Options
	for _, c := range cidrs {
		o.TrustedProxies = append(o.TrustedProxies, netip.MustParsePrefix(c))
	}
	return o
}

func decodeJSON(t testing.TB, body string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(body), v); err != nil {
		t.Fatalf("body %q: %v", body, err)
	}
}

func atoi(t testing.TB, s string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
