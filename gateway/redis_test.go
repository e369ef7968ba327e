package gateway

import (
	"slices"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/servicetest"
	"github.com/sluicehq/sluice/policy"
	"github.com/sluicehq/sluice/store/redis"
)

// TestRedisStopped: with the counters in Redis, a route whose policy fails
// open lets requests through once Redis is gone, and one whose policy
// throws on failure (fail-closed) answers 503, never reaching the upstream.
func TestRedisStopped(t *testing.T) {
	srv := servicetest.StartRedis(t)
	st, err := redis.New(redis.Config{URL: "redis://" + srv.Addr(), Prefix: "gwtest", Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	lim := sluice.New(st, sluice.Config{BlockCacheSize: -1})
	defer lim.Close()
	up := newUpstream(t, nil)
	g := newGateway(t, Config{
		Routes: []Route{
			{Path: "/open", Upstream: up.URL, Policies: []*policy.Policy{{Name: "open", By: policy.ByIP, Limit: limit("2/1h")}}},
			{Path: "/closed", Upstream: up.URL, Policies: []*policy.Policy{{Name: "closed", By: policy.ByIP, Limit: limit("2/1h"), ThrowOnFailure: true}}},
		},
		Limiter: lim,
	})
	url, c := front(t, g)

	// Redis up: both routes count.
	for _, path := range []string{"/open", "/closed"} {
		if got := codes(t, c, url+path, 3); !slices.Equal(got, []int{200, 200, 429}) {
			t.Fatalf("%s with Redis up: %v", path, got)
		}
	}
	srv.Kill()
	before := up.hits.Load()
	if got := codes(t, c, url+"/open", 3); !slices.Equal(got, []int{200, 200, 200}) {
		t.Errorf("fail-open with Redis stopped: %v", got)
	}
	if up.hits.Load() != before+3 {
		t.Errorf("fail-open: upstream reached %d times, want 3", up.hits.Load()-before)
	}
	before = up.hits.Load()
	for range 2 {
		resp, body := get(t, c, "GET", url+"/closed")
		if p := problemOf(t, resp, body); resp.StatusCode != 503 || p.Type != policy.ProblemStoreUnavailable {
			t.Errorf("fail-closed with Redis stopped: %d %+v", resp.StatusCode, p)
		}
	}
	if up.hits.Load() != before {
		t.Error("fail-closed: a request reached the upstream")
	}
}
