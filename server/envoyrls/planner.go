package envoyrls

import (
	"fmt"
	"strings"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	ratelimitv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/common/ratelimit/v3"
	rlsv3 "github.com/envoyproxy/go-control-plane/envoy/service/ratelimit/v3"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/algorithm"
	"github.com/sluicehq/sluice/server/metrics"
)

// maxAttribute bounds a descriptor value used as a rule attribute, so that
// rule counter keys stay under sluice.MaxKeyLength; longer values are
// left out of the attributes.
const maxAttribute = 512

// planner turns a request's descriptors into targets and the limiter
// requests that decide them.
type planner struct {
	svc      *Service
	domain   string
	tree     *tree
	targets  []target
	enforced []sluice.Request
	stats    []string       // the metrics rule label of each enforced request
	keys     map[string]int // enforced request by key, to count a counter once
	shadows  []shadowReq
	refunds  []sluice.Request
}

// add plans one request descriptor; hits is the request's hits_addend.
func (p *planner) add(d *ratelimitv3.RateLimitDescriptor, hits uint32) error {
	es := d.GetEntries()
	if len(es) > MaxEntries {
		return fmt.Errorf("%d entries; at most %d are accepted", len(es), MaxEntries)
	}
	t := target{entries: make([]entry, len(es)), cost: int64(hits), refund: d.GetIsNegativeHits()}
	for i, e := range es {
		t.entries[i] = entry{key: e.GetKey(), value: e.GetValue()}
	}
	if h := d.GetHitsAddend(); h != nil {
		t.cost = int64(min(h.GetValue(), algorithm.MaxRequests))
	}
	if t.cost == 0 {
		t.cost = 1 // as Envoy does
	}
	n := p.tree.lookup(p.domain, t.entries)
	var cl *compiledLimit
	if n != nil {
		cl = n.limit
	}
	shadow := n != nil && n.shadow
	if o := d.GetLimit(); o != nil {
		alg := sluice.SlidingWindow
		if cl != nil && !cl.unlimited && !cl.blockAll && cl.limit.Algorithm != sluice.Quota {
			alg = cl.limit.Algorithm
		}
		if l, ok := overrideLimit(o.GetUnit(), o.GetRequestsPerUnit(), o.GetUnitMultiplier().GetValue(), alg); ok {
			name := ""
			if cl != nil {
				name = cl.name
			}
			cl = &compiledLimit{limit: l, name: name}
		}
	}
	switch {
	case cl == nil:
		p.addRules(&t)
	case cl.unlimited:
		t.unlimited = true
	case cl.blockAll && shadow:
		p.svc.m.Observe(metrics.ProtocolEnvoy, p.policyLabel(), p.stat(n, cl, t.entries),
			sluice.Decision{Limit: 0, Reason: sluice.ReasonDenied}, 0)
	case cl.blockAll:
		if !t.refund {
			t.blocked = &cl.limit
			t.name = cl.name
			p.svc.m.Observe(metrics.ProtocolEnvoy, p.policyLabel(), p.stat(n, cl, t.entries),
				sluice.Decision{Limit: 0, Reason: sluice.ReasonDenied}, 0)
		}
	default:
		t.name = cl.name
		r := sluice.Request{Key: counterKey(p.domain, t.entries), Limit: cl.limit, Cost: t.cost}
		switch {
		case t.refund:
			p.refunds = append(p.refunds, r)
		case shadow:
			t.shadow = append(t.shadow, len(p.shadows))
			p.shadows = append(p.shadows, shadowReq{req: r, stat: p.stat(n, cl, t.entries)})
		default:
			p.addEnforced(&t, r, cl.name, p.stat(n, cl, t.entries))
		}
	}
	p.targets = append(p.targets, t)
	return nil
}

// addRules plans a descriptor no configured descriptor limits: its
// entries become rule attributes, and every matching rule applies.
func (p *planner) addRules(t *target) {
	if p.svc.res == nil {
		return
	}
	for _, e := range t.entries {
		if len(e.value) > maxAttribute {
			return
		}
	}
	attrs, ok := attributes(t.entries)
	if !ok {
		return
	}
	for _, m := range p.svc.res.Resolve(attrs, nil) {
		r := sluice.Request{Key: m.Key, Limit: m.Limit, Cost: t.cost}
		switch {
		case t.refund:
			if !m.Shadow {
				p.refunds = append(p.refunds, r)
			}
		case m.Shadow:
			t.shadow = append(t.shadow, len(p.shadows))
			p.shadows = append(p.shadows, shadowReq{req: r, stat: m.Rule.ID})
		default:
			p.addEnforced(t, r, m.Rule.ID, m.Rule.ID)
		}
	}
	if t.name == "" && len(t.names) > 0 {
		t.name = t.names[0]
	}
}

// addEnforced adds an enforced limit to a target, counting a counter that
// an earlier descriptor already counts under the same limit only once.
func (p *planner) addEnforced(t *target, r sluice.Request, name, stat string) {
	idx, seen := p.keys[r.Key]
	if !seen || p.enforced[idx].Limit != r.Limit {
		idx = len(p.enforced)
		p.enforced = append(p.enforced, r)
		p.stats = append(p.stats, stat)
		p.keys[r.Key] = idx
	}
	t.enforced = append(t.enforced, idx)
	t.limits = append(t.limits, r.Limit)
	t.names = append(t.names, name)
}

// stat is the metrics rule label of a configured descriptor: its rate
// limit's name, else its path ("remote_address", "path_/login",
// "client_id_foo.path"); with detailed_metric, the request's values of
// key-only descriptors too (bounded by the metrics' label cap).
func (p *planner) stat(n *node, cl *compiledLimit, entries []entry) string {
	switch {
	case cl.name != "":
		return cl.name
	case n == nil:
		return "override"
	case !n.detailed:
		return n.stat
	}
	var b strings.Builder
	for i, e := range entries {
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(e.key)
		if e.value != "" {
			b.WriteString("_" + e.value)
		}
	}
	return b.String()
}

// untilReset is a decision's duration_until_reset: for a denial, how long
// until the call could pass (RetryAfter, when known); else how long until
// the allowance is whole again.
func untilReset(d sluice.Decision) *durationpb.Duration {
	if !d.Allowed && d.RetryAfter > 0 {
		return durationpb.New(d.RetryAfter)
	}
	return durationpb.New(d.Reset)
}

// headers are the rate-limit response headers of the binding decision.
func headers(d sluice.Decision, st *rlsv3.RateLimitResponse_DescriptorStatus) []*corev3.HeaderValue {
	reset := st.GetDurationUntilReset().AsDuration()
	out := []*corev3.HeaderValue{
		{Key: "x-ratelimit-limit", Value: fmt.Sprint(d.Limit)},
		{Key: "x-ratelimit-remaining", Value: fmt.Sprint(st.GetLimitRemaining())},
		{Key: "x-ratelimit-reset", Value: fmt.Sprint(ceilSeconds(reset))},
	}
	if st.GetCode() == rlsv3.RateLimitResponse_OVER_LIMIT {
		out = append(out, &corev3.HeaderValue{Key: "retry-after", Value: fmt.Sprint(max(ceilSeconds(reset), 1))})
	}
	return out
}

// ceilSeconds is d in whole seconds, rounded up.
func ceilSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Second - 1) / time.Second)
}
