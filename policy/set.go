package policy

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"time"

	"github.com/sluicehq/sluice"
)

// Options configures a Set beyond its policies. The zero value is usable.
type Options struct {
	// TrustedProxies are the proxies in front of the server whose
	// forwarding header is believed (see ClientIP). Default: none, so the
	// peer address is the client.
	TrustedProxies []netip.Prefix
	// ForwardedHeader is the header trusted proxies report the client in:
	// HeaderXForwardedFor (the default, "") or HeaderForwarded. Only one is
	// read, so a client cannot slip in the other.
	ForwardedHeader string
	// IPv6Prefix is the prefix length IPv6 clients are grouped by for ByIP;
	// 0 means DefaultIPv6Prefix.
	IPv6Prefix int
	// Headers selects the rate-limit response headers; zero means
	// HeadersIETF.
	Headers Headers
	// Observer, when set, is told each policy's outcome for each request.
	Observer Observer
	// Logger receives rejected increments, failing Funcs and store
	// failures; nil discards.
	Logger *slog.Logger
	// Now is the clock of the async block memory; nil means time.Now. Set
	// it to the Limiter's clock in tests.
	Now func() time.Time
}

// Set is an ordered list of policies applied together to the requests of
// one route, with the Limiter that keeps their counters. A request passes
// only if every policy lets it, and is counted only then: all of a Set's
// strict limits are taken in one all-or-nothing Limiter.AllowAll. A Set is
// immutable and safe for concurrent use.
type Set struct {
	lim      *sluice.Limiter
	entries  []*entry
	opts     Options
	v6bits   int
	log      *slog.Logger
	now      func() time.Time
	blocked  *blockMemory    // nil unless a policy is async
	counters map[string]bool // counter names of the complex policies
}

// entry is one policy of a Set, prepared.
type entry struct {
	Policy
	deny denyList
}

// NewSet returns a Set applying policies, in order, with lim and zero
// Options.
func NewSet(lim *sluice.Limiter, policies ...*Policy) (*Set, error) {
	return NewSetWith(lim, Options{}, policies...)
}

// NewSetWith returns a Set applying policies, in order, with lim and opts.
// The policies are copied: later changes to them do not affect the Set. It
// fails when a policy is invalid or two share a name; errors wrap
// ErrInvalidPolicy.
func NewSetWith(lim *sluice.Limiter, opts Options, policies ...*Policy) (*Set, error) {
	if lim == nil {
		return nil, fmt.Errorf("%w: NewSet needs a Limiter", ErrInvalidPolicy)
	}
	if opts.IPv6Prefix < 0 || opts.IPv6Prefix > 128 {
		return nil, fmt.Errorf("%w: IPv6Prefix %d is not between 1 and 128", ErrInvalidPolicy, opts.IPv6Prefix)
	}
	if h := opts.ForwardedHeader; h != "" && h != HeaderXForwardedFor && h != HeaderForwarded {
		return nil, fmt.Errorf("%w: ForwardedHeader %q is not accepted (accepted: %s, %s)", ErrInvalidPolicy, h, HeaderXForwardedFor, HeaderForwarded)
	}
	for _, p := range opts.TrustedProxies {
		if !p.IsValid() {
			return nil, fmt.Errorf("%w: invalid trusted proxy prefix %v", ErrInvalidPolicy, p)
		}
	}
	s := &Set{
		lim: lim, opts: opts, v6bits: opts.IPv6Prefix, log: opts.Logger, now: opts.Now,
		counters: map[string]bool{},
	}
	s.opts.TrustedProxies = slices.Clone(opts.TrustedProxies)
	if s.v6bits == 0 {
		s.v6bits = DefaultIPv6Prefix
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	names := map[string]bool{}
	var errs []error
	for i, p := range policies {
		if p == nil {
			errs = append(errs, fmt.Errorf("%w: policy %d is nil", ErrInvalidPolicy, i))
			continue
		}
		if err := p.validate(); err != nil {
			errs = append(errs, err)
			continue
		}
		if names[p.Name] {
			errs = append(errs, fmt.Errorf("%w: two policies are named %q: names keep counters apart", ErrInvalidPolicy, p.Name))
		}
		names[p.Name] = true
		e := &entry{Policy: *p, deny: compileDeny(p.Deny)}
		e.Counters = slices.Clone(p.Counters)
		for _, c := range e.Counters {
			s.counters[c.Name] = true
		}
		if e.Mode == Async && s.blocked == nil {
			s.blocked = newBlockMemory()
		}
		s.entries = append(s.entries, e)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return s, nil
}

// Limiter returns the Limiter the Set counts with.
func (s *Set) Limiter() *sluice.Limiter { return s.lim }

// ClientIP returns r's client address as the Set's policies see it; see
// ClientIP and Options.TrustedProxies.
func (s *Set) ClientIP(r *http.Request) netip.Addr {
	return ClientIP(r, s.opts.TrustedProxies, s.opts.ForwardedHeader)
}
