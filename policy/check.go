package policy

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/rules"
)

// step is one policy's part of a call.
type step struct {
	e      *entry
	id     string
	async  bool
	shadow []rules.Match
}

// limitMeta describes one request of a group.
type limitMeta struct {
	step    int    // index into Call.steps
	name    string // the header member name
	counter string // the complex counter's name, "" for other limits
}

// group is the limits decided together in one AllowAll: the strict ones
// before the handler, or the async ones beside it.
type group struct {
	reqs    []sluice.Request
	meta    []limitMeta
	each    []sluice.Decision
	allowed bool // decided, allowed and not failed: the costs were taken
	failed  bool // the store failed (fail-open or fail-closed)
	err     error
}

// Check applies the set's policies to r. When ok is false, Check has
// written the whole answer to w (401, 403, 429 or 503, with a problem+json
// body) and the caller must stop. Otherwise the caller passes r2 (r with
// the call in its context, so that the handler can call SetIncrement) to
// its handler or upstream, and then calls call.Finish exactly once with the
// response's header, before the header is written out.
func (s *Set) Check(w http.ResponseWriter, r *http.Request) (call *Call, r2 *http.Request, ok bool) {
	ctx := r.Context()
	c := &Call{set: s, ctx: context.WithoutCancel(ctx)}
	c.steps, c.strict.reqs, c.strict.meta = c.stepBuf[:0], c.reqBuf[:0], c.metaBuf[:0]
	var ip netip.Addr
	ipKnown := false
	clientIP := func() netip.Addr {
		if !ipKnown {
			ip, ipKnown = s.ClientIP(r), true
		}
		return ip
	}
	for _, e := range s.entries {
		if list := e.deny.matchRequest(r, clientIP); list != "" {
			id := ""
			if list == DenyIP {
				id = clientIP().String()
			}
			s.deny(ctx, w, e, id, list)
			return nil, r, false
		}
		idn, err := s.identify(e, r, clientIP)
		if err == nil {
			err = c.plan(e, idn)
		}
		switch {
		case errors.Is(err, errNoUser):
			writeProblem(w, Problem{
				Type: ProblemUnauthenticated, Title: "Unauthorized", Status: http.StatusUnauthorized,
				Detail: fmt.Sprintf("policy %q limits per user, and the request has no authenticated user", e.Name), Policy: e.Name,
			})
			return nil, r, false
		case err != nil:
			s.log.WarnContext(ctx, "rate-limit policy failed to identify the caller", "policy", e.Name, "err", err)
			if e.ThrowOnFailure {
				s.unavailable(w, e.Name, "the policy could not identify the caller")
				return nil, r, false
			}
			s.observe(ctx, Event{Policy: e.Name, By: e.By, Decision: sluice.Decision{Allowed: true, Reason: sluice.ReasonStoreError}})
			continue
		case idn.skip:
			s.observe(ctx, Event{Policy: e.Name, By: e.By, Identity: idn.id, Decision: sluice.Decision{Allowed: true, Reason: sluice.ReasonSkipped}})
			continue
		}
		if e.deny.identifiers[idn.id] {
			s.deny(ctx, w, e, idn.id, DenyIdentifier)
			return nil, r, false
		}
	}
	if s.blocked != nil && s.blockedAsync(ctx, w, c) {
		return nil, r, false
	}
	if g := &c.strict; len(g.reqs) > 0 {
		s.decide(ctx, c, g)
		switch {
		case g.failed && s.throws(c, g) != "":
			s.unavailable(w, s.throws(c, g), "the rate-limit store is unavailable")
			return nil, r, false
		case !g.failed && !g.allowed:
			s.rateLimited(ctx, w, c, g)
			return nil, r, false
		}
		s.settle(ctx, c, g)
	} else if len(c.steps) > 0 {
		g.allowed = true
		s.settle(ctx, c, g) // shadow rules only
	}
	if len(c.async.reqs) > 0 {
		c.done = make(chan struct{})
		go s.decideAsync(c)
	}
	if len(s.counters) > 0 {
		r = r.WithContext(context.WithValue(ctx, callKey{}, c))
	}
	return c, r, true
}

// plan adds the limits of policy e for the caller idn to the call.
func (c *Call) plan(e *entry, idn identity) error {
	if idn.skip {
		return nil
	}
	g := &c.strict
	if e.Mode == Async {
		g = &c.async
	}
	si := len(c.steps)
	c.steps = append(c.steps, step{e: e, id: idn.id, async: e.Mode == Async})
	lo := len(g.reqs)
	cost := e.cost()
	add := func(key string, limit sluice.Limit, name, counter string) error {
		if len(key) > sluice.MaxKeyLength {
			return fmt.Errorf("policy %q: the caller's identity makes a counter key of %d bytes, at most %d are accepted", e.Name, len(key), sluice.MaxKeyLength)
		}
		g.reqs = append(g.reqs, sluice.Request{Key: key, Limit: limit, Cost: cost})
		g.meta = append(g.meta, limitMeta{step: si, name: name, counter: counter})
		return nil
	}
	key := func(sub string) string { return e.CounterKey(sub, idn.id) }
	var errs []error
	if idn.limit != (sluice.Limit{}) {
		errs = append(errs, add(key(""), idn.limit, e.Name, ""))
	}
	for _, ct := range e.Counters {
		errs = append(errs, add(key(ct.Name), ct.Limit, e.Name+"/"+ct.Name, ct.Name))
	}
	if e.Quota != (sluice.Limit{}) {
		errs = append(errs, add(key(QuotaCounter), e.Quota, e.Name+"/quota", ""))
	}
	for _, m := range idn.matches {
		if m.Shadow {
			c.steps[si].shadow = append(c.steps[si].shadow, m)
			continue
		}
		errs = append(errs, add(sluice.Key(e.Name, m.Key), m.Limit, e.Name+"/"+string(m.KeyType), ""))
	}
	if err := errors.Join(errs...); err != nil {
		g.reqs, g.meta, c.steps = g.reqs[:lo], g.meta[:lo], c.steps[:si]
		return err
	}
	if len(g.reqs) == lo {
		c.steps[si].async = false // shadow rules only: decided with the strict group
	}
	return nil
}

// decide takes the group's limits in one AllowAll.
func (s *Set) decide(ctx context.Context, c *Call, g *group) {
	d, each, err := s.lim.AllowAll(ctx, g.reqs...)
	if err != nil {
		reason := sluice.ReasonStoreError
		if errors.Is(err, context.DeadlineExceeded) {
			reason = sluice.ReasonTimeout
		}
		each = make([]sluice.Decision, len(g.reqs))
		for i, r := range g.reqs {
			each[i] = sluice.Decision{Allowed: true, Limit: r.Limit.Capacity(), Reason: reason}
		}
		g.each, g.failed, g.err = each, true, err
		s.log.WarnContext(ctx, "rate-limit store failed", "err", err)
		return
	}
	for _, e := range each {
		if e.Reason == sluice.ReasonTimeout || e.Reason == sluice.ReasonStoreError {
			g.failed = true
			s.log.WarnContext(ctx, "rate-limit store failed; the request was let through", "reason", e.Reason.String())
			break
		}
	}
	g.each, g.allowed = each, d.Allowed && !g.failed
}

// throws returns the name of the first policy of the group that fails
// closed, or "".
func (s *Set) throws(c *Call, g *group) string {
	for _, m := range g.meta {
		if e := c.steps[m.step].e; e.ThrowOnFailure {
			return e.Name
		}
	}
	return ""
}

// settle reports a decided group to the Observer and decides the shadow
// rules of its policies.
func (s *Set) settle(ctx context.Context, c *Call, g *group) {
	for si := range c.steps {
		st := &c.steps[si]
		var d sluice.Decision
		n := 0
		for i, m := range g.meta {
			if m.step == si {
				d = pick(d, g.each[i], n == 0)
				n++
			}
		}
		if n > 0 {
			s.observe(ctx, Event{Policy: st.e.Name, By: st.e.By, Identity: st.id, Decision: d})
		}
		if g.allowed && st.async == (g == &c.async) {
			for _, m := range st.shadow {
				sd, err := s.lim.AllowN(ctx, sluice.Key(st.e.Name, m.Key), m.Limit, st.e.cost())
				if err == nil {
					s.observe(ctx, Event{Policy: st.e.Name, By: st.e.By, Identity: st.id, Decision: sd, Shadow: true})
				}
			}
		}
	}
}

// pick folds d into out: the denial that must wait longest, else the
// decision with the least remaining.
func pick(out, d sluice.Decision, first bool) sluice.Decision {
	switch {
	case first:
		return d
	case !d.Allowed && (out.Allowed || d.RetryAfter > out.RetryAfter):
		return d
	case d.Allowed && out.Allowed && d.Remaining < out.Remaining:
		return d
	}
	return out
}

// rateLimited answers 429 for a denied group.
func (s *Set) rateLimited(ctx context.Context, w http.ResponseWriter, c *Call, g *group) {
	bind := -1
	for i, d := range g.each {
		if !d.Allowed && (bind < 0 || d.RetryAfter > g.each[bind].RetryAfter) {
			bind = i
		}
	}
	if bind < 0 { // cannot happen: a denied group has a denial
		bind = 0
	}
	for si := range c.steps {
		for i, m := range g.meta {
			if m.step == si && !g.each[i].Allowed {
				st := &c.steps[si]
				s.observe(ctx, Event{Policy: st.e.Name, By: st.e.By, Identity: st.id, Decision: g.each[i]})
				break
			}
		}
	}
	s.tooMany(w, c, g.meta[bind], g.reqs[bind].Limit, g.each[bind], c.states(g))
}

// tooMany writes a 429 for the limit described by m.
func (s *Set) tooMany(w http.ResponseWriter, c *Call, m limitMeta, limit sluice.Limit, d sluice.Decision, states []limitState) {
	e := c.steps[m.step].e
	h := w.Header()
	writeRateLimitHeaders(h, s.opts.Headers, states)
	if e.HeaderMode == HeaderModeRetryAfter && d.RetryAfter > 0 {
		h.Set(HeaderRetryAfter, strconv.FormatInt(ceilSeconds(d.RetryAfter), 10))
	}
	p := rateLimitedProblem(e.Name, limit, d)
	if m.name != e.Name {
		p.Detail = fmt.Sprintf("limit %q of %s", m.name, p.Detail)
	}
	writeProblem(w, p)
}

// blockedAsync answers 429 when an async limit of the call is known to be
// over: found so by an earlier request, until its retry time.
func (s *Set) blockedAsync(ctx context.Context, w http.ResponseWriter, c *Call) bool {
	g := &c.async
	now := s.now().UnixNano()
	for i, rq := range g.reqs {
		until, ok := s.blocked.get(rq.Key, now)
		if !ok {
			continue
		}
		wait := time.Duration(until - now)
		d := sluice.Decision{Limit: rq.Limit.Capacity(), Reset: wait, RetryAfter: wait, Reason: sluice.ReasonCacheBlock}
		st := &c.steps[g.meta[i].step]
		s.observe(ctx, Event{Policy: st.e.Name, By: st.e.By, Identity: st.id, Decision: d})
		s.tooMany(w, c, g.meta[i], rq.Limit, d, []limitState{{name: g.meta[i].name, limit: rq.Limit, decision: d}})
		return true
	}
	return false
}

// decideAsync decides the async group beside the handler and remembers the
// limits found over.
func (s *Set) decideAsync(c *Call) {
	defer close(c.done)
	g := &c.async
	s.decide(c.ctx, c, g)
	if g.failed {
		if s.throws(c, g) != "" {
			s.log.WarnContext(c.ctx, "rate-limit store failed on an async policy; the request already runs and cannot be refused")
		}
		s.settle(c.ctx, c, g)
		return
	}
	if !g.allowed {
		now := s.now()
		for i, d := range g.each {
			if !d.Allowed && d.RetryAfter > 0 {
				s.blocked.put(g.reqs[i].Key, now.Add(d.RetryAfter).UnixNano(), now.UnixNano())
			}
		}
	}
	s.settle(c.ctx, c, g)
}

// deny answers 403 for a caller on a deny list of e.
func (s *Set) deny(ctx context.Context, w http.ResponseWriter, e *entry, id, list string) {
	s.observe(ctx, Event{Policy: e.Name, By: e.By, Identity: id, DenyList: list, Decision: sluice.Decision{Reason: sluice.ReasonDenied}})
	writeProblem(w, Problem{
		Type: ProblemDenied, Title: "Forbidden", Status: http.StatusForbidden,
		Detail: fmt.Sprintf("policy %q refuses this caller (%s deny list)", e.Name, list), Policy: e.Name, Reason: sluice.ReasonDenied.String(),
	})
}

// unavailable answers 503 for a policy that fails closed.
func (s *Set) unavailable(w http.ResponseWriter, policy, detail string) {
	w.Header().Set(HeaderRetryAfter, "1")
	writeProblem(w, Problem{
		Type: ProblemStoreUnavailable, Title: "Service Unavailable", Status: http.StatusServiceUnavailable,
		Detail: detail, Policy: policy, Reason: sluice.ReasonStoreError.String(),
	})
}

// observe tells the Observer, if any.
func (s *Set) observe(ctx context.Context, e Event) {
	if s.opts.Observer != nil {
		s.opts.Observer.Observe(ctx, e)
	}
}
