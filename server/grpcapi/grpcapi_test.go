package grpcapi_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/algorithm"
	sluicev1 "github.com/sluicehq/sluice/proto/sluice/v1"
	"github.com/sluicehq/sluice/rules"
	"github.com/sluicehq/sluice/server/grpcapi"
	"github.com/sluicehq/sluice/store"
)

// serve starts the service on 127.0.0.1:0 and returns a client connection.
func serve(t *testing.T, cfg grpcapi.Config) *grpc.ClientConn {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer()
	hs, err := grpcapi.Register(g, cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = g.Serve(lis) }()
	t.Cleanup(func() { hs.Shutdown(); g.Stop(); <-done })
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return c
}

func uniq(t *testing.T, s string) string {
	return s + "-" + t.Name() + "-" + time.Now().Format("150405.000000000")
}

func TestLimiterService(t *testing.T) {
	for _, sc := range stores {
		t.Run(sc.Name, func(t *testing.T) {
			conn := serve(t, grpcapi.Config{Limiter: sc.New(t)})
			c := sluicev1.NewLimiterClient(conn)
			identity := uniq(t, "someone@example.com")
			spec := &sluicev1.LimitSpec{Action: "login", Identity: identity, Requests: 1, WindowMs: 60000}

			r, err := c.Limit(ctx(t), &sluicev1.LimitRequest{Spec: spec})
			if err != nil || !r.GetDecision().GetAllowed() || r.GetDecision().GetRemaining() != 0 || r.GetDecision().GetReason() != "allowed" {
				t.Fatalf("first: %v %v", r, err)
			}
			// A denial is a response, not an error.
			r, err = c.Limit(ctx(t), &sluicev1.LimitRequest{Spec: spec})
			if err != nil || r.GetDecision().GetAllowed() || r.GetDecision().GetReason() != "rate_limited" || r.GetDecision().GetRetryAfter().AsDuration() <= 0 {
				t.Fatalf("second: %v %v", r, err)
			}
			// Peek reads without consuming; Reset forgets.
			p, err := c.Peek(ctx(t), &sluicev1.PeekRequest{Spec: spec})
			if err != nil || p.GetDecision().GetAllowed() {
				t.Fatalf("peek: %v %v", p, err)
			}
			if _, err := c.Reset(ctx(t), &sluicev1.ResetRequest{Action: "login", Identity: identity}); err != nil {
				t.Fatal(err)
			}
			p, err = c.Peek(ctx(t), &sluicev1.PeekRequest{Spec: spec})
			if err != nil || !p.GetDecision().GetAllowed() || p.GetDecision().GetRemaining() != 1 {
				t.Fatalf("peek after reset: %v %v", p, err)
			}

			// A batch is all-or-nothing.
			a, b := uniq(t, "a"), uniq(t, "b")
			batch := &sluicev1.LimitBatchRequest{Limits: []*sluicev1.LimitSpec{
				{Key: a, Limit: "10/1m", Name: "a"}, {Key: b, Limit: "1/1m", Name: "b", Cost: proto.Int64(1)},
			}}
			br, err := c.LimitBatch(ctx(t), batch)
			if err != nil || !br.GetDecision().GetAllowed() || len(br.GetDecisions()) != 2 || br.GetDecisions()[0].GetName() != "a" {
				t.Fatalf("batch: %v %v", br, err)
			}
			br, err = c.LimitBatch(ctx(t), batch)
			if err != nil || br.GetDecision().GetAllowed() || br.GetDecisions()[0].GetRemaining() != 9 {
				t.Fatalf("denied batch: %v %v", br, err)
			}
		})
	}
}

func TestInvalidArgument(t *testing.T) {
	conn := serve(t, grpcapi.Config{Limiter: stores[0].New(t)})
	c := sluicev1.NewLimiterClient(conn)
	tests := []struct {
		name  string
		call  func() error
		field string
	}{
		{"no spec", func() error { _, err := c.Limit(ctx(t), &sluicev1.LimitRequest{}); return err }, "spec.key"},
		{"bad limit", func() error {
			_, err := c.Limit(ctx(t), &sluicev1.LimitRequest{Spec: &sluicev1.LimitSpec{Key: "k", Limit: "fast"}})
			return err
		}, "spec.limit"},
		{"negative cost", func() error {
			_, err := c.Limit(ctx(t), &sluicev1.LimitRequest{Spec: &sluicev1.LimitSpec{Key: "k", Limit: "1/s", Cost: proto.Int64(-1)}})
			return err
		}, "spec.cost"},
		{"batch item", func() error {
			_, err := c.LimitBatch(ctx(t), &sluicev1.LimitBatchRequest{Limits: []*sluicev1.LimitSpec{{Key: "k"}}})
			return err
		}, "limits[0].limit"},
		{"reset", func() error { _, err := c.Reset(ctx(t), &sluicev1.ResetRequest{}); return err }, "key"},
		{"rules ip", func() error { _, err := c.CheckRules(ctx(t), &sluicev1.CheckRulesRequest{Ip: "nope"}); return err }, ""},
	}
	for _, tt := range tests {
		err := tt.call()
		st := status.Convert(err)
		if tt.name == "rules ip" { // no resolver configured
			if st.Code() != codes.Unimplemented {
				t.Errorf("%s: %v", tt.name, err)
			}
			continue
		}
		if st.Code() != codes.InvalidArgument {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		var br *errdetails.BadRequest
		for _, d := range st.Details() {
			if b, ok := d.(*errdetails.BadRequest); ok {
				br = b
			}
		}
		if br == nil || len(br.GetFieldViolations()) == 0 || br.GetFieldViolations()[0].GetField() != tt.field {
			t.Errorf("%s: details %v, want field %s", tt.name, st.Details(), tt.field)
		}
	}
}

// fakeRepo is a rules.Repository that only lists its rules.
type fakeRepo struct {
	rules.Repository
	rs []rules.Rule
}

func (r *fakeRepo) Enabled(context.Context) ([]rules.Rule, error) { return r.rs, nil }

func TestCheckRules(t *testing.T) {
	res, err := rules.NewResolver(&fakeRepo{rs: []rules.Rule{
		{ID: "0190b1c2-0000-7000-8000-000000000001", KeyType: rules.KeyUserID, KeyValue: "*", Limit: 1, WindowSeconds: 60, Enabled: true},
		{ID: "0190b1c2-0000-7000-8000-000000000002", KeyType: rules.KeyPlan, KeyValue: "free", Limit: 1, WindowSeconds: 60, Enabled: true, Shadow: true},
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
			c := sluicev1.NewLimiterClient(serve(t, grpcapi.Config{Limiter: sc.New(t), Resolver: res}))
			q := &sluicev1.CheckRulesRequest{UserId: uniq(t, "u"), Plan: uniq(t, "free")}
			q.Plan = "free"
			r, err := c.CheckRules(ctx(t), q)
			if err != nil || !r.GetDecision().GetAllowed() || len(r.GetRules()) != 2 || !r.GetRules()[1].GetShadow() {
				t.Fatalf("first: %v %v", r, err)
			}
			r, err = c.CheckRules(ctx(t), q)
			if err != nil || r.GetDecision().GetAllowed() || r.GetDeniedBy().GetRuleId() != "0190b1c2-0000-7000-8000-000000000001" {
				t.Fatalf("second: %v %v", r, err)
			}
		})
	}
}

func TestUnavailableAndHealth(t *testing.T) {
	lim := sluice.New(failing{}, sluice.Config{OnStoreError: sluice.FailClosed})
	conn := serve(t, grpcapi.Config{Limiter: lim})
	_, err := sluicev1.NewLimiterClient(conn).Limit(ctx(t), &sluicev1.LimitRequest{Spec: &sluicev1.LimitSpec{Key: "k", Limit: "1/s"}})
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("fail-closed: %v", err)
	}
	h := healthpb.NewHealthClient(conn)
	for _, svc := range []string{"", "sluice.v1.Limiter"} {
		r, err := h.Check(ctx(t), &healthpb.HealthCheckRequest{Service: svc})
		if err != nil || r.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("health %q: %v %v", svc, r, err)
		}
	}
	if _, err := grpcapi.Register(grpc.NewServer(), grpcapi.Config{}); err == nil {
		t.Error("Register without a Limiter succeeded")
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

func TestNewAndServiceRegister(t *testing.T) {
	if _, err := grpcapi.New(grpcapi.Config{}); err == nil {
		t.Fatal("New without a Limiter succeeded")
	}
	svc, err := grpcapi.New(grpcapi.Config{Limiter: stores[0].New(t)})
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer()
	svc.Register(g) // a server with its own health service registers only the Limiter
	done := make(chan struct{})
	go func() { defer close(done); _ = g.Serve(lis) }()
	defer func() { g.Stop(); <-done }()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	r, err := sluicev1.NewLimiterClient(conn).Limit(ctx(t), &sluicev1.LimitRequest{Spec: &sluicev1.LimitSpec{Key: "k", Limit: "1/s"}})
	if err != nil || !r.GetDecision().GetAllowed() {
		t.Fatalf("%v %v", r, err)
	}
}
