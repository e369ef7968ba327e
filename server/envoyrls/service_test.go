package envoyrls_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	ratelimitv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/common/ratelimit/v3"
	rlsv3 "github.com/envoyproxy/go-control-plane/envoy/service/ratelimit/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/algorithm"
	"github.com/sluicehq/sluice/rules"
	"github.com/sluicehq/sluice/server/envoyrls"
	"github.com/sluicehq/sluice/store"
)

const (
	ok   = rlsv3.RateLimitResponse_OK
	over = rlsv3.RateLimitResponse_OVER_LIMIT
)

// serve starts svc on a gRPC server on 127.0.0.1:0 and returns a client.
func serve(t *testing.T, svc *envoyrls.Service) rlsv3.RateLimitServiceClient {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer()
	svc.Register(g)
	done := make(chan struct{})
	go func() { defer close(done); _ = g.Serve(lis) }()
	t.Cleanup(func() { g.Stop(); <-done })
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return rlsv3.NewRateLimitServiceClient(conn)
}

// desc builds a descriptor from key, value pairs.
func desc(kv ...string) *ratelimitv3.RateLimitDescriptor {
	d := &ratelimitv3.RateLimitDescriptor{}
	for i := 0; i+1 < len(kv); i += 2 {
		d.Entries = append(d.Entries, &ratelimitv3.RateLimitDescriptor_Entry{Key: kv[i], Value: kv[i+1]})
	}
	return d
}

func ask(t *testing.T, c rlsv3.RateLimitServiceClient, domain string, hits uint32, ds ...*ratelimitv3.RateLimitDescriptor) *rlsv3.RateLimitResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := c.ShouldRateLimit(ctx, &rlsv3.RateLimitRequest{Domain: domain, Descriptors: ds, HitsAddend: hits})
	if err != nil {
		t.Fatalf("ShouldRateLimit: %v", err)
	}
	if len(resp.GetStatuses()) != len(ds) {
		t.Fatalf("%d statuses for %d descriptors", len(resp.GetStatuses()), len(ds))
	}
	return resp
}

// uniq makes values unique per test run, so Redis counters never meet.
func uniq(t *testing.T, s string) string {
	return s + "-" + t.Name() + "-" + time.Now().Format("150405.000000000")
}

func newService(t testing.TB, lim *sluice.Limiter, res *rules.Resolver, headers bool) *envoyrls.Service {
	t.Helper()
	ds := decodeDomains(t, sampleDomains)
	svc, err := envoyrls.New(envoyrls.Config{Domains: ds, Limiter: lim, Resolver: res, Headers: headers})
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

func TestShouldRateLimit(t *testing.T) {
	for _, sc := range stores {
		t.Run(sc.Name, func(t *testing.T) {
			c := serve(t, newService(t, sc.New(t), nil, true))
			ip := uniq(t, "10.0.0.1")

			t.Run("key only, per value", func(t *testing.T) {
				for i := range 2 {
					r := ask(t, c, "edge", 0, desc("remote_address", ip))
					st := r.Statuses[0]
					if r.OverallCode != ok || st.GetCurrentLimit().GetRequestsPerUnit() != 2 ||
						st.GetCurrentLimit().GetUnit() != rlsv3.RateLimitResponse_RateLimit_MINUTE || st.LimitRemaining != uint32(1-i) {
						t.Fatalf("call %d: %v", i, r)
					}
				}
				r := ask(t, c, "edge", 0, desc("remote_address", ip))
				if r.OverallCode != over || r.Statuses[0].Code != over || r.Statuses[0].GetDurationUntilReset().AsDuration() <= 0 {
					t.Fatalf("third call: %v", r)
				}
				if h := headerMap(r); h["x-ratelimit-limit"] != "2" || h["x-ratelimit-remaining"] != "0" || h["retry-after"] == "" {
					t.Errorf("headers %v", h)
				}
				if r := ask(t, c, "edge", 0, desc("remote_address", ip+"-other")); r.OverallCode != ok {
					t.Fatalf("another address: %v", r)
				}
			})

			t.Run("value before key, limit text, all or nothing", func(t *testing.T) {
				user := uniq(t, "10.9.9.9")
				r := ask(t, c, "edge", 0, desc("remote_address", user), desc("path", "/login"))
				if r.OverallCode != ok || r.Statuses[1].GetCurrentLimit().GetName() != "login" ||
					r.Statuses[1].GetCurrentLimit().GetRequestsPerUnit() != 4 || r.Statuses[1].GetCurrentLimit().GetUnit() != rlsv3.RateLimitResponse_RateLimit_HOUR {
					t.Fatalf("first: %v", r)
				}
				r = ask(t, c, "edge", 0, desc("remote_address", user), desc("path", "/login"))
				if r.OverallCode != over || r.Statuses[0].Code != ok || r.Statuses[1].Code != over {
					t.Fatalf("second: %v", r)
				}
				// The denied request took nothing from the address's limit.
				if r.Statuses[0].LimitRemaining != 1 {
					t.Errorf("address remaining %d after a denied request", r.Statuses[0].LimitRemaining)
				}
			})

			t.Run("prefix, unlimited, key only", func(t *testing.T) {
				r := ask(t, c, "edge", 0, desc("path", "/static/app.js"))
				if r.OverallCode != ok || r.Statuses[0].CurrentLimit != nil {
					t.Fatalf("unlimited: %v", r)
				}
				r = ask(t, c, "edge", 0, desc("path", uniq(t, "/api")))
				if cl := r.Statuses[0].GetCurrentLimit(); cl.GetRequestsPerUnit() != 100 || cl.GetUnit() != rlsv3.RateLimitResponse_RateLimit_MINUTE {
					t.Fatalf("key only: %v", r)
				}
			})

			t.Run("hits_addend", func(t *testing.T) {
				path := uniq(t, "/bulk")
				r := ask(t, c, "edge", 60, desc("path", path))
				if r.OverallCode != ok || r.Statuses[0].LimitRemaining != 40 {
					t.Fatalf("hits 60: %v", r)
				}
				d := desc("path", path)
				d.HitsAddend = wrapperspb.UInt64(50)
				if r := ask(t, c, "edge", 1, d); r.OverallCode != over {
					t.Fatalf("descriptor hits 50: %v", r)
				}
				d.HitsAddend, d.IsNegativeHits = wrapperspb.UInt64(30), true
				ask(t, c, "edge", 0, d)
				if r := ask(t, c, "edge", 0, desc("path", path)); r.Statuses[0].LimitRemaining != 69 {
					t.Fatalf("after refunding 30: %v", r)
				}
			})

			t.Run("blocked and shadow", func(t *testing.T) {
				r := ask(t, c, "edge", 0, desc("client_id", "blocked"))
				if r.OverallCode != over || r.Statuses[0].GetCurrentLimit().GetRequestsPerUnit() != 0 {
					t.Fatalf("blocked: %v", r)
				}
				client := uniq(t, "c")
				for i := range 5 {
					r := ask(t, c, "edge", 0, desc("client_id", client, "path", "/x"))
					if r.OverallCode != ok || r.Statuses[0].Code != ok || r.Statuses[0].GetCurrentLimit().GetRequestsPerUnit() != 3 {
						t.Fatalf("shadow call %d: %v", i, r)
					}
				}
			})

			t.Run("override", func(t *testing.T) {
				d := desc("path", uniq(t, "/o"))
				d.Limit = &ratelimitv3.RateLimitDescriptor_RateLimitOverride{RequestsPerUnit: 1, Unit: typev3.RateLimitUnit_HOUR}
				ask(t, c, "edge", 0, d)
				if r := ask(t, c, "edge", 0, d); r.OverallCode != over || r.Statuses[0].GetCurrentLimit().GetUnit() != rlsv3.RateLimitResponse_RateLimit_HOUR {
					t.Fatalf("override: %v", r)
				}
			})

			t.Run("nothing matches", func(t *testing.T) {
				r := ask(t, c, "edge", 0, desc("user_id", "alice"), desc("path", "/a", "extra", "x"))
				if r.OverallCode != ok || r.Statuses[0].CurrentLimit != nil || r.Statuses[1].CurrentLimit != nil || len(r.ResponseHeadersToAdd) != 0 {
					t.Fatalf("%v", r)
				}
				if r := ask(t, c, "unknown-domain", 0, desc("remote_address", "1.2.3.4")); r.OverallCode != ok {
					t.Fatalf("unknown domain: %v", r)
				}
			})
		})
	}
}

func headerMap(r *rlsv3.RateLimitResponse) map[string]string {
	m := map[string]string{}
	for _, h := range r.GetResponseHeadersToAdd() {
		m[h.GetKey()] = h.GetValue()
	}
	return m
}

// fakeRepo is a rules.Repository that only lists its rules.
type fakeRepo struct {
	rules.Repository
	rs []rules.Rule
}

func (r *fakeRepo) Enabled(context.Context) ([]rules.Rule, error) { return r.rs, nil }

func TestRulesFallback(t *testing.T) {
	res, err := rules.NewResolver(&fakeRepo{rs: []rules.Rule{
		{ID: "0190b1c2-0000-7000-8000-000000000001", KeyType: rules.KeyUserID, KeyValue: "*", Limit: 1, WindowSeconds: 60, Enabled: true},
		{ID: "0190b1c2-0000-7000-8000-000000000002", KeyType: rules.KeyIP, KeyValue: "10.0.0.0/8", Limit: 1, WindowSeconds: 60, Enabled: true, Shadow: true},
		{ID: "0190b1c2-0000-7000-8000-000000000003", KeyType: rules.KeyRoute, KeyValue: "/api/*", Limit: 100, WindowSeconds: 60, Enabled: true},
	}}, rules.ResolverConfig{TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer res.Close()
	if err := res.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, sc := range stores {
		t.Run(sc.Name, func(t *testing.T) {
			c := serve(t, newService(t, sc.New(t), res, false))
			user := uniq(t, "alice")
			// Both descriptors carry the same user: its counter is counted once.
			r := ask(t, c, "other", 0, desc("user_id", user), desc("user_id", user, "path", "/api/chat?x=1"))
			if r.OverallCode != ok || r.Statuses[0].GetCurrentLimit().GetName() != "0190b1c2-0000-7000-8000-000000000001" ||
				r.Statuses[1].GetCurrentLimit() == nil {
				t.Fatalf("first: %v", r)
			}
			r = ask(t, c, "other", 0, desc("user_id", user))
			if r.OverallCode != over {
				t.Fatalf("second: %v", r)
			}
			// The shadow ip rule is evaluated but never denies.
			for range 3 {
				if r := ask(t, c, "edge", 0, desc("remote_address", uniq(t, "10.1.1.1")), desc("x-user-id", uniq(t, "bob"))); r.OverallCode != ok {
					t.Fatalf("shadow rule denied: %v", r)
				}
			}
		})
	}
}

func TestUpdate(t *testing.T) {
	lim := stores[0].New(t)
	svc := newService(t, lim, nil, false)
	c := serve(t, svc)
	if r := ask(t, c, "fresh", 0, desc("k", "v")); r.Statuses[0].CurrentLimit != nil {
		t.Fatalf("before: %v", r)
	}
	good := []envoyrls.Domain{{Domain: "fresh", Descriptors: []envoyrls.Descriptor{{Key: "k", RateLimit: &envoyrls.RateLimit{Unit: "day", RequestsPerUnit: 7}}}}}
	if err := svc.Update(good); err != nil {
		t.Fatal(err)
	}
	if r := ask(t, c, "fresh", 0, desc("k", "v")); r.Statuses[0].GetCurrentLimit().GetRequestsPerUnit() != 7 {
		t.Fatalf("after: %v", r)
	}
	bad := []envoyrls.Domain{{Domain: "fresh", Descriptors: []envoyrls.Descriptor{{Key: "k", RateLimit: &envoyrls.RateLimit{Unit: "fortnight", RequestsPerUnit: 7}}}}}
	if err := svc.Update(bad); !errors.Is(err, envoyrls.ErrInvalidConfig) {
		t.Fatalf("bad update: %v", err)
	}
	if r := ask(t, c, "fresh", 0, desc("k", "v")); r.Statuses[0].GetCurrentLimit().GetRequestsPerUnit() != 7 {
		t.Fatalf("a bad update replaced the good domains: %v", r)
	}
}

func TestErrors(t *testing.T) {
	c := serve(t, newService(t, stores[0].New(t), nil, false))
	ctx := context.Background()
	for name, req := range map[string]*rlsv3.RateLimitRequest{
		"no domain":        {Descriptors: []*ratelimitv3.RateLimitDescriptor{desc("a", "b")}},
		"no descriptors":   {Domain: "edge"},
		"too many entries": {Domain: "edge", Descriptors: []*ratelimitv3.RateLimitDescriptor{desc(manyEntries(envoyrls.MaxEntries + 1)...)}},
	} {
		_, err := c.ShouldRateLimit(ctx, req)
		if status.Code(err) != codes.InvalidArgument {
			t.Errorf("%s: %v", name, err)
		}
	}
	// Fail-closed store failure: Unavailable, so that Envoy's
	// failure_mode_deny decides.
	lim := sluice.New(failing{}, sluice.Config{OnStoreError: sluice.FailClosed})
	c = serve(t, newService(t, lim, nil, false))
	if _, err := c.ShouldRateLimit(ctx, &rlsv3.RateLimitRequest{Domain: "edge", Descriptors: []*ratelimitv3.RateLimitDescriptor{desc("remote_address", "1.2.3.4")}}); status.Code(err) != codes.Unavailable {
		t.Errorf("fail-closed: %v", err)
	}
	if _, err := envoyrls.New(envoyrls.Config{}); err == nil {
		t.Error("New without a Limiter succeeded")
	}
}

// failing is a store whose every call fails.
type failing struct{}

var errDown = errors.New("store down")

func (failing) Take(context.Context, string, algorithm.Limit, int64) (algorithm.Decision, error) {
	return algorithm.Decision{}, errDown
}
func (failing) TakeAll(context.Context, []store.Request, []algorithm.Decision) (bool, error) {
	return false, errDown
}
func (failing) Refund(context.Context, string, algorithm.Limit, int64) (algorithm.Decision, error) {
	return algorithm.Decision{}, errDown
}
func (failing) Reset(context.Context, string) error { return errDown }

// manyEntries returns n key, value pairs.
func manyEntries(n int) []string {
	kv := make([]string, 0, 2*n)
	for i := range n {
		kv = append(kv, "k", string(rune('a'+i%26)))
	}
	return kv
}
