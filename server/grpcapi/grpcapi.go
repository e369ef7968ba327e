// Package grpcapi serves Sluice's decision API over gRPC: the service
// sluice.v1.Limiter (proto/sluice/v1/sluice.proto) with the operations of
// the HTTP decision API (Limit, LimitBatch, Peek, Reset, CheckRules), and
// the standard gRPC health service.
//
// A denial is a normal response with allowed = false, never an error.
// Errors: InvalidArgument for bad input (with google.rpc.BadRequest field
// violations naming each field), Unavailable when the counter store failed
// and the limiter is fail-closed, Unimplemented for CheckRules on a server
// without rules, and the context's status when the caller gave up.
package grpcapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/sluicehq/sluice"
	sluicev1 "github.com/sluicehq/sluice/proto/sluice/v1"
	"github.com/sluicehq/sluice/rules"
	"github.com/sluicehq/sluice/server/httpapi"
	"github.com/sluicehq/sluice/server/metrics"
)

// Config configures the gRPC decision service.
type Config struct {
	// Limiter decides. Required.
	Limiter *sluice.Limiter
	// Resolver resolves the stored rules for CheckRules; nil makes
	// CheckRules answer Unimplemented.
	Resolver *rules.Resolver
	// Metrics records every decision; nil records nothing.
	Metrics *metrics.Metrics
	// Shadow is the global shadow mode: evaluate and count, never deny.
	Shadow bool
	// MaxBatch bounds the limits of one LimitBatch; 0 means
	// httpapi.DefaultMaxBatch.
	MaxBatch int
	// Logger receives store failures; nil discards.
	Logger *slog.Logger
}

// Service implements sluice.v1.Limiter over the decision API's Decider.
// It is safe for concurrent use.
type Service struct {
	sluicev1.UnimplementedLimiterServer
	dec *httpapi.Decider
}

var _ sluicev1.LimiterServer = (*Service)(nil)

// New returns the sluice.v1.Limiter service. It fails when cfg.Limiter is
// nil or MaxBatch is negative.
func New(cfg Config) (*Service, error) {
	d, err := httpapi.NewDecider(httpapi.Config{
		Limiter: cfg.Limiter, Resolver: cfg.Resolver, Metrics: cfg.Metrics,
		Shadow: cfg.Shadow, MaxBatch: cfg.MaxBatch, Logger: cfg.Logger,
	})
	if err != nil {
		return nil, fmt.Errorf("grpcapi: %w", err)
	}
	return &Service{dec: d}, nil
}

// Register registers the service (only sluice.v1.Limiter) on r: the form
// a server that registers gRPC health itself takes.
func (s *Service) Register(r grpc.ServiceRegistrar) {
	sluicev1.RegisterLimiterServer(r, s)
}

// Register registers sluice.v1.Limiter and the gRPC health service
// (grpc.health.v1.Health) on s, for a gRPC server that has no health
// service yet (registering a second one panics: with one, use New and
// Service.Register). It returns the health server: the overall status ("")
// and every service registered on s so far (register envoyrls first to
// have it covered) are SERVING; call its Shutdown when the server stops.
// It fails when cfg.Limiter is nil.
func Register(s *grpc.Server, cfg Config) (*health.Server, error) {
	svc, err := New(cfg)
	if err != nil {
		return nil, err
	}
	svc.Register(s)
	hs := health.NewServer()
	for name := range s.GetServiceInfo() {
		hs.SetServingStatus(name, healthpb.HealthCheckResponse_SERVING)
	}
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(s, hs)
	return hs, nil
}

// Limit decides one call.
func (s *Service) Limit(ctx context.Context, req *sluicev1.LimitRequest) (*sluicev1.LimitResponse, error) {
	res, _, err := s.dec.Limit(ctx, metrics.ProtocolGRPC, specFromProto(req.GetSpec()))
	if err != nil {
		return nil, toStatus(err, "spec.")
	}
	return &sluicev1.LimitResponse{Decision: decisionToProto(res)}, nil
}

// LimitBatch decides several calls, all-or-nothing.
func (s *Service) LimitBatch(ctx context.Context, req *sluicev1.LimitBatchRequest) (*sluicev1.LimitBatchResponse, error) {
	specs := make([]httpapi.LimitSpec, len(req.GetLimits()))
	for i, l := range req.GetLimits() {
		specs[i] = specFromProto(l)
	}
	res, err := s.dec.Batch(ctx, metrics.ProtocolGRPC, specs)
	if err != nil {
		return nil, toStatus(err, "")
	}
	out := &sluicev1.LimitBatchResponse{Decision: decisionToProto(res.Combined), Decisions: make([]*sluicev1.Decision, len(res.Each))}
	for i, e := range res.Each {
		out.Decisions[i] = decisionToProto(e)
	}
	return out, nil
}

// Peek reads a counter without consuming.
func (s *Service) Peek(ctx context.Context, req *sluicev1.PeekRequest) (*sluicev1.LimitResponse, error) {
	res, _, err := s.dec.Peek(ctx, metrics.ProtocolGRPC, specFromProto(req.GetSpec()))
	if err != nil {
		return nil, toStatus(err, "spec.")
	}
	d := decisionToProto(res)
	d.Allowed = res.Decision.Allowed
	return &sluicev1.LimitResponse{Decision: d}, nil
}

// Reset forgets a counter.
func (s *Service) Reset(ctx context.Context, req *sluicev1.ResetRequest) (*sluicev1.ResetResponse, error) {
	err := s.dec.Reset(ctx, metrics.ProtocolGRPC, httpapi.ResetSpec{Key: req.GetKey(), Action: req.GetAction(), Identity: req.GetIdentity()})
	if err != nil {
		return nil, toStatus(err, "")
	}
	return &sluicev1.ResetResponse{}, nil
}

// CheckRules decides a call by the stored rules.
func (s *Service) CheckRules(ctx context.Context, req *sluicev1.CheckRulesRequest) (*sluicev1.CheckRulesResponse, error) {
	q := httpapi.RulesRequest{
		UserID: req.GetUserId(), IP: req.GetIp(), APIKey: req.GetApiKey(),
		Route: req.GetRoute(), Method: req.GetMethod(), Plan: req.GetPlan(), Cost: optional(req != nil && req.Cost != nil, req.GetCost()),
	}
	res, err := s.dec.CheckRules(ctx, metrics.ProtocolGRPC, q)
	if err != nil {
		return nil, toStatus(err, "")
	}
	out := &sluicev1.CheckRulesResponse{Decision: decisionToProto(res.Combined), Fallback: res.Fallback,
		Rules: make([]*sluicev1.RuleDecision, len(res.Rules))}
	for i, r := range res.Rules {
		out.Rules[i] = &sluicev1.RuleDecision{
			RuleId: r.Match.Rule.ID, KeyType: string(r.Match.KeyType), KeyValue: r.Match.Rule.KeyValue,
			Shadow: r.Match.Shadow, Decision: decisionToProto(r.Result),
		}
	}
	if res.DeniedBy >= 0 {
		out.DeniedBy = out.Rules[res.DeniedBy]
	}
	return out, nil
}

// toStatus turns a Decider error into a gRPC status; prefix begins the
// field names of validation errors ("spec.").
func toStatus(err error, prefix string) error {
	var ve *httpapi.ValidationError
	switch {
	case errors.As(err, &ve):
		br := &errdetails.BadRequest{}
		for _, f := range ve.Errors {
			br.FieldViolations = append(br.FieldViolations, &errdetails.BadRequest_FieldViolation{Field: prefix + f.Field, Description: f.Rule})
		}
		st := status.New(codes.InvalidArgument, ve.Error())
		if withDetails, derr := st.WithDetails(br); derr == nil {
			st = withDetails
		}
		return st.Err()
	case errors.Is(err, sluice.ErrStoreUnavailable):
		return status.Error(codes.Unavailable, "the rate-limit store is unavailable and the limiter is fail-closed; retry later")
	case errors.Is(err, httpapi.ErrRulesNotConfigured):
		return status.Error(codes.Unimplemented, err.Error())
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return status.FromContextError(err).Err()
	case errors.Is(err, sluice.ErrInvalidKey), errors.Is(err, sluice.ErrInvalidLimit), errors.Is(err, sluice.ErrInvalidCost):
		return status.Error(codes.InvalidArgument, err.Error())
	}
	return status.Error(codes.Internal, "the decision failed")
}
