package policy

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"

	"github.com/sluicehq/sluice"
)

// ErrInvalidIncrement is wrapped by the errors of SetIncrement.
var ErrInvalidIncrement = errors.New("invalid increment")

// Call is one request admitted by Set.Check, until its response is done.
// Its methods are safe for concurrent use and do nothing on a nil Call.
type Call struct {
	set    *Set
	ctx    context.Context // the request's values, never canceled
	steps  []step
	strict group
	async  group
	done   chan struct{} // closed when the async group is decided; nil without one

	// Backing arrays for the common small case, to save allocations.
	stepBuf [4]step
	reqBuf  [4]sluice.Request
	metaBuf [4]limitMeta

	mu       sync.Mutex
	incr     map[string]int64
	wrote    bool
	finished bool
}

// callKey is the context key of the Call.
type callKey struct{}

// SetIncrement sets how much the request charges the counter named counter
// of every complex policy of its Set that has one, replacing the default
// (the policy's Cost). Handlers call it with the request's context, at any
// time before they return; the increments are charged after the response.
// An unknown counter or a negative or too large n is logged and ignored,
// and returned as an error wrapping ErrInvalidIncrement.
func SetIncrement(ctx context.Context, counter string, n int64) error {
	c, _ := ctx.Value(callKey{}).(*Call)
	if c == nil {
		return fmt.Errorf("%w: no complex rate-limit policy applies to this request", ErrInvalidIncrement)
	}
	return c.SetIncrement(counter, n)
}

// SetIncrement is the package-level SetIncrement for this call.
func (c *Call) SetIncrement(counter string, n int64) error {
	if c == nil {
		return fmt.Errorf("%w: no complex rate-limit policy applies to this request", ErrInvalidIncrement)
	}
	var err error
	switch {
	case !c.set.counters[counter]:
		err = fmt.Errorf("%w: no policy of the route has a counter %q", ErrInvalidIncrement, counter)
	case n < 0 || n > maxIncrement:
		err = fmt.Errorf("%w: %d for counter %q is not between 0 and %d", ErrInvalidIncrement, n, counter, int64(maxIncrement))
	}
	if err != nil {
		c.set.log.WarnContext(c.ctx, "rate-limit increment ignored", "err", err)
		return err
	}
	c.mu.Lock()
	if c.incr == nil {
		c.incr = map[string]int64{}
	}
	c.incr[counter] = n
	c.mu.Unlock()
	return nil
}

// WriteHeaders adds the rate-limit headers (Options.Headers) to h, the
// header of the response about to be written, waiting for an async
// decision first. It also takes the Sluice-Increments header out of h (see
// Finish). Only the first call of WriteHeaders or Finish writes headers;
// the values are those before the increments are charged.
func (c *Call) WriteHeaders(h http.Header) {
	if c == nil || h == nil {
		return
	}
	c.takeIncrements(h)
	c.mu.Lock()
	if c.wrote {
		c.mu.Unlock()
		return
	}
	c.wrote = true
	c.mu.Unlock()
	c.wait()
	c.mu.Lock()
	states := append(c.states(&c.strict), c.states(&c.async)...)
	c.mu.Unlock()
	slices.SortStableFunc(states, func(a, b limitState) int { return a.step - b.step })
	writeRateLimitHeaders(h, c.set.opts.Headers, states)
}

// Finish ends the call; call it exactly once, after the handler or
// upstream answered. h is the response's header (nil when it was already
// written, as in Middleware): Finish takes the Sluice-Increments header out
// of it and applies its increments (an unknown counter or a bad number is
// logged and ignored), charges the complex policies' counters their
// increments, and then writes the rate-limit headers into h unless
// WriteHeaders did already. It waits for an async decision.
//
// Charging: before the handler each counter was reserved the policy's Cost
// (1 by default); Finish takes the difference between the increment and
// that reservation with Limiter.AllowN, or gives back the excess with
// Limiter.Refund. When the counter has less room than the difference, it
// takes what is left, so the counter ends exhausted and the next request is
// refused.
func (c *Call) Finish(h http.Header) {
	if c == nil {
		return
	}
	if h != nil {
		c.takeIncrements(h)
	}
	c.mu.Lock()
	if c.finished {
		c.mu.Unlock()
		return
	}
	c.finished = true
	c.mu.Unlock()
	c.wait()
	c.charge(&c.strict)
	c.charge(&c.async)
	c.WriteHeaders(h)
}

// wait waits for the async group's decision.
func (c *Call) wait() {
	if c.done != nil {
		<-c.done
	}
}

// takeIncrements removes the Sluice-Increments header from h and records
// its valid members.
func (c *Call) takeIncrements(h http.Header) {
	vals := h.Values(HeaderIncrements)
	if len(vals) == 0 {
		return
	}
	h.Del(HeaderIncrements)
	incs, err := parseIncrements(vals)
	if err != nil {
		c.set.log.WarnContext(c.ctx, "rate-limit increments ignored", "header", HeaderIncrements, "err", err)
	}
	for _, in := range incs {
		_ = c.SetIncrement(in.counter, in.n) // logged there
	}
}

// charge applies the increments to the group's complex counters.
func (c *Call) charge(g *group) {
	if g.failed {
		return
	}
	lim := c.set.lim
	for i, m := range g.meta {
		if m.counter == "" {
			continue
		}
		n := c.steps[m.step].e.cost()
		c.mu.Lock()
		if v, ok := c.incr[m.counter]; ok {
			n = v
		}
		c.mu.Unlock()
		reserved := int64(0)
		if g.allowed {
			reserved = g.reqs[i].Cost
		}
		rq := g.reqs[i]
		var (
			d   sluice.Decision
			err error
		)
		switch diff := n - reserved; {
		case diff > 0:
			d, err = lim.AllowN(c.ctx, rq.Key, rq.Limit, diff)
			if err == nil && !d.Allowed && d.Remaining > 0 {
				d, err = lim.AllowN(c.ctx, rq.Key, rq.Limit, d.Remaining)
			}
		case diff < 0:
			d, err = lim.Refund(c.ctx, rq.Key, rq.Limit, -diff)
		default:
			continue
		}
		if err != nil {
			c.set.log.WarnContext(c.ctx, "rate-limit increment not charged", "policy", c.steps[m.step].e.Name, "counter", m.counter, "err", err)
			continue
		}
		if d.Reason == sluice.ReasonTimeout || d.Reason == sluice.ReasonStoreError {
			continue
		}
		c.mu.Lock()
		g.each[i] = d
		c.mu.Unlock()
	}
}

// states returns the group's decisions to show in headers; the caller holds
// c.mu (or owns the call alone).
func (c *Call) states(g *group) []limitState {
	var out []limitState
	for i, d := range g.each {
		switch d.Reason {
		case sluice.ReasonSkipped, sluice.ReasonTimeout, sluice.ReasonStoreError:
			continue
		}
		out = append(out, limitState{step: g.meta[i].step, name: g.meta[i].name, limit: g.reqs[i].Limit, decision: d})
	}
	return out
}
