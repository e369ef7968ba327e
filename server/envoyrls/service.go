// Package envoyrls serves Envoy's rate-limit protocol,
// envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit, so that
// Envoy and everything built on it (Istio, Contour, Gloo, Emissary) can ask
// Sluice whether a request may pass.
//
// Domains and their descriptor trees are configured in YAML in the shape
// of envoyproxy/ratelimit (see Domain). A request descriptor's entries are
// matched against its domain's tree (exact value, then value prefix, then
// key only, at each depth); when no configured descriptor matches, the
// descriptor's entries are mapped to request attributes and resolved
// against the stored rules (see the Resolver). All of a request's
// descriptors are decided at once, all-or-nothing. docs/envoy.md shows an
// Envoy configuration.
package envoyrls

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	rlsv3 "github.com/envoyproxy/go-control-plane/envoy/service/ratelimit/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/rules"
	"github.com/sluicehq/sluice/server/metrics"
)

// Bounds of one request.
const (
	// MaxDescriptors is the most descriptors one request may carry.
	MaxDescriptors = 64
	// MaxEntries is the most entries one descriptor may carry.
	MaxEntries = 32
)

// Config configures a Service.
type Config struct {
	// Domains are the configured domains; they are validated by New.
	Domains []Domain
	// Limiter decides. Required.
	Limiter *sluice.Limiter
	// Resolver resolves the stored rules for descriptors no configured
	// descriptor matches; nil means such descriptors are not limited.
	Resolver *rules.Resolver
	// Metrics records every decision; nil records nothing.
	Metrics *metrics.Metrics
	// Headers adds x-ratelimit-limit, x-ratelimit-remaining and
	// x-ratelimit-reset (and retry-after when over the limit) to the
	// response's response_headers_to_add, for the binding descriptor.
	Headers bool
	// Logger receives store failures; nil discards.
	Logger *slog.Logger
}

// Service implements envoy.service.ratelimit.v3.RateLimitService. It is
// safe for concurrent use; Update swaps in new domains atomically.
type Service struct {
	rlsv3.UnimplementedRateLimitServiceServer

	lim     *sluice.Limiter
	res     *rules.Resolver
	m       *metrics.Metrics
	headers bool
	log     *slog.Logger
	tree    atomic.Pointer[tree]
}

var _ rlsv3.RateLimitServiceServer = (*Service)(nil)

// New returns a Service over cfg. It fails when cfg.Limiter is nil or the
// domains are invalid (the error lists every FieldError).
func New(cfg Config) (*Service, error) {
	if cfg.Limiter == nil {
		return nil, errors.New("envoyrls: nil Limiter")
	}
	s := &Service{lim: cfg.Limiter, res: cfg.Resolver, m: cfg.Metrics, headers: cfg.Headers, log: cfg.Logger}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if err := s.Update(cfg.Domains); err != nil {
		return nil, err
	}
	return s, nil
}

// Update validates domains, compiles them and swaps them in for the
// requests that follow. On error the current domains stay in force.
func (s *Service) Update(domains []Domain) error {
	t, err := compile(domains)
	if err != nil {
		return fmt.Errorf("envoyrls: %w", err)
	}
	s.tree.Store(t)
	return nil
}

// Register registers the Service on a gRPC server.
func (s *Service) Register(g grpc.ServiceRegistrar) {
	rlsv3.RegisterRateLimitServiceServer(g, s)
}

// target is what one request descriptor is decided by.
type target struct {
	entries []entry
	cost    int64
	refund  bool
	name    string // current_limit name
	// Exactly one of the following holds, or none (not limited).
	unlimited bool
	blocked   *sluice.Limit // requests_per_unit 0: always over the limit
	enforced  []int         // indices into the enforced requests
	shadow    []int         // indices into the shadow requests
	limits    []sluice.Limit
	names     []string
}

// shadowReq is a limit evaluated on its own, never denying.
type shadowReq struct {
	req  sluice.Request
	stat string
}

// ShouldRateLimit decides a request's descriptors at once, all-or-nothing.
// A denial is OVER_LIMIT, never an error. Errors: InvalidArgument for a
// malformed request, Unavailable when the store failed and the limiter is
// fail-closed (Envoy then applies its failure_mode_deny).
func (s *Service) ShouldRateLimit(ctx context.Context, req *rlsv3.RateLimitRequest) (*rlsv3.RateLimitResponse, error) {
	domain := req.GetDomain()
	switch n := len(req.GetDescriptors()); {
	case domain == "":
		return nil, status.Error(codes.InvalidArgument, "domain must not be empty")
	case n == 0:
		return nil, status.Error(codes.InvalidArgument, "descriptors must not be empty")
	case n > MaxDescriptors:
		return nil, status.Errorf(codes.InvalidArgument, "%d descriptors; at most %d are accepted", n, MaxDescriptors)
	}
	t := s.tree.Load()
	p := planner{svc: s, domain: domain, tree: t, keys: map[string]int{}}
	for i, d := range req.GetDescriptors() {
		if err := p.add(d, req.GetHitsAddend()); err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "descriptors[%d]: %v", i, err)
		}
	}
	return s.decide(ctx, &p)
}

// policyLabel is the policy label of metrics: the domain if configured.
func (p *planner) policyLabel() string {
	if p.tree.hasDomain(p.domain) {
		return p.domain
	}
	return metrics.Other
}

// decide asks the limiter and builds the response.
func (s *Service) decide(ctx context.Context, p *planner) (*rlsv3.RateLimitResponse, error) {
	blocked := false
	for _, t := range p.targets {
		blocked = blocked || (t.blocked != nil && !t.refund)
	}
	reqs := p.enforced
	if blocked { // the request is denied anyway: only read the other counters
		reqs = make([]sluice.Request, len(p.enforced))
		for i, r := range p.enforced {
			r.Cost = 0
			reqs[i] = r
		}
	}
	each := make([]sluice.Decision, len(reqs))
	policy := p.policyLabel()
	if len(reqs) > 0 {
		start := time.Now()
		comb, got, err := s.lim.AllowAll(ctx, reqs...)
		elapsed := time.Since(start)
		if err != nil {
			return nil, s.storeError(err, elapsed)
		}
		copy(each, got)
		lat := elapsed
		if comb.Reason == sluice.ReasonCacheBlock {
			lat = 0
		}
		for i, d := range each {
			s.m.Observe(metrics.ProtocolEnvoy, policy, p.stats[i], d, lat)
			lat = 0
		}
	}
	resp := &rlsv3.RateLimitResponse{OverallCode: rlsv3.RateLimitResponse_OK}
	resp.Statuses = make([]*rlsv3.RateLimitResponse_DescriptorStatus, len(p.targets))
	binding := -1
	var bindingDec sluice.Decision
	for i := range p.targets {
		t := &p.targets[i]
		st, dec, limited := s.status(t, each)
		resp.Statuses[i] = st
		if st.Code == rlsv3.RateLimitResponse_OVER_LIMIT {
			resp.OverallCode = rlsv3.RateLimitResponse_OVER_LIMIT
		}
		if limited && (binding < 0 || outranks(dec, bindingDec)) {
			binding, bindingDec = i, dec
		}
	}
	s.evaluateShadows(ctx, p, resp, policy)
	s.refund(ctx, p)
	if s.headers && binding >= 0 {
		resp.ResponseHeadersToAdd = headers(bindingDec, resp.Statuses[binding])
	}
	return resp, nil
}

// outranks reports whether a is the more binding decision: a denial over
// an allowance, the longer wait among denials, the least remaining among
// allowances.
func outranks(a, b sluice.Decision) bool {
	switch {
	case !a.Allowed && b.Allowed:
		return true
	case a.Allowed && !b.Allowed:
		return false
	case !a.Allowed:
		return a.RetryAfter > b.RetryAfter
	}
	return a.Remaining < b.Remaining
}

// status is one descriptor's status, the decision that stands for it, and
// whether it is limited at all.
func (s *Service) status(t *target, each []sluice.Decision) (*rlsv3.RateLimitResponse_DescriptorStatus, sluice.Decision, bool) {
	st := &rlsv3.RateLimitResponse_DescriptorStatus{Code: rlsv3.RateLimitResponse_OK}
	switch {
	case t.refund || t.unlimited:
		return st, sluice.Decision{}, false
	case t.blocked != nil:
		st.Code = rlsv3.RateLimitResponse_OVER_LIMIT
		st.CurrentLimit = currentLimit(t.name, *t.blocked)
		st.CurrentLimit.RequestsPerUnit = 0
		d := sluice.Decision{Reason: sluice.ReasonDenied}
		return st, d, true
	case len(t.enforced) == 0:
		return st, sluice.Decision{}, false
	}
	best, bestIdx := each[t.enforced[0]], 0
	for k, idx := range t.enforced[1:] {
		if outranks(each[idx], best) {
			best, bestIdx = each[idx], k+1
		}
	}
	if !best.Allowed {
		st.Code = rlsv3.RateLimitResponse_OVER_LIMIT
	}
	st.CurrentLimit = currentLimit(t.names[bestIdx], t.limits[bestIdx])
	st.LimitRemaining = clampUint32(best.Remaining)
	st.DurationUntilReset = untilReset(best)
	return st, best, true
}

// evaluateShadows decides the shadow limits one by one, each on its own:
// with their cost when the request passes, as reads when it is denied.
// They never change a status's code; a shadow-only descriptor's status
// shows its limit and remaining.
func (s *Service) evaluateShadows(ctx context.Context, p *planner, resp *rlsv3.RateLimitResponse, policy string) {
	over := resp.OverallCode == rlsv3.RateLimitResponse_OVER_LIMIT
	decided := make([]sluice.Decision, len(p.shadows))
	for i, sh := range p.shadows {
		r := sh.req
		if over {
			r.Cost = 0
		}
		start := time.Now()
		d, err := s.lim.AllowN(ctx, r.Key, r.Limit, r.Cost)
		elapsed := time.Since(start)
		if err != nil {
			s.log.Warn("envoy: shadow limit not evaluated: store failed", "err", err)
			d = sluice.Decision{Limit: r.Limit.Capacity(), Reason: sluice.ReasonStoreError}
		}
		if d.Reason == sluice.ReasonCacheBlock {
			elapsed = 0
		}
		s.m.Observe(metrics.ProtocolEnvoy, policy, sh.stat, d, elapsed)
		decided[i] = d
	}
	for i := range p.targets {
		t := &p.targets[i]
		if len(t.shadow) == 0 || resp.Statuses[i].CurrentLimit != nil {
			continue
		}
		idx := t.shadow[0]
		d := decided[idx]
		resp.Statuses[i].CurrentLimit = currentLimit(t.name, p.shadows[idx].req.Limit)
		resp.Statuses[i].LimitRemaining = clampUint32(d.Remaining)
		resp.Statuses[i].DurationUntilReset = untilReset(d)
	}
}

// refund gives back the hits of descriptors with is_negative_hits.
func (s *Service) refund(ctx context.Context, p *planner) {
	for _, r := range p.refunds {
		if _, err := s.lim.Refund(ctx, r.Key, r.Limit, r.Cost); err != nil {
			s.log.Warn("envoy: refund of negative hits failed", "err", err)
		}
	}
}

// storeError turns a limiter error into a gRPC status.
func (s *Service) storeError(err error, elapsed time.Duration) error {
	switch {
	case errors.Is(err, sluice.ErrStoreUnavailable):
		s.m.StoreError(metrics.ProtocolEnvoy, err)
		s.m.StoreLatency(metrics.ProtocolEnvoy, elapsed)
		s.log.Warn("envoy: rate-limit store unavailable (fail-closed)", "err", err)
		return status.Error(codes.Unavailable, "rate-limit store unavailable")
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return status.FromContextError(err).Err()
	case errors.Is(err, sluice.ErrInvalidKey), errors.Is(err, sluice.ErrInvalidLimit), errors.Is(err, sluice.ErrInvalidCost):
		return status.Error(codes.InvalidArgument, err.Error())
	}
	s.log.Error("envoy: decision failed", "err", err)
	return status.Error(codes.Internal, "decision failed")
}

// counterKey is the counter of a descriptor in a domain:
// sluice.Key("envoy", domain, key1, value1, key2, value2, ...). Keys
// longer than sluice.MaxKeyLength are replaced by a SHA-256 of the same
// parts under the first part "envoy#", which no unhashed key has.
func counterKey(domain string, entries []entry) string {
	parts := make([]string, 0, 2+2*len(entries))
	parts = append(parts, "envoy", domain)
	for _, e := range entries {
		parts = append(parts, e.key, e.value)
	}
	k := sluice.Key(parts...)
	if len(k) <= sluice.MaxKeyLength {
		return k
	}
	sum := sha256.Sum256([]byte(k))
	return sluice.Key("envoy#", hex.EncodeToString(sum[:]))
}
