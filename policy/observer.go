package policy

import (
	"context"

	"github.com/sluicehq/sluice"
)

// Observer is told the outcome of each policy for each request, for
// metrics and analytics. Observe is called on the request's goroutine (or,
// for async policies, the goroutine deciding them) and must not block.
type Observer interface {
	Observe(ctx context.Context, e Event)
}

// ObserverFunc adapts a function to Observer.
type ObserverFunc func(ctx context.Context, e Event)

// Observe calls f.
func (f ObserverFunc) Observe(ctx context.Context, e Event) { f(ctx, e) }

// Event is one policy's outcome for one request. A request refused by a
// policy is reported for the policies that refused it only; the others
// counted nothing. A request without the user a ByUser policy needs (401)
// is not reported.
type Event struct {
	// Policy is the policy's name.
	Policy string
	// By is how the policy identifies callers: a small fixed set, fit to
	// be a metric label.
	By By
	// Identity is the caller as the policy identified it (address,
	// subject, key; empty for ByAll). It has unbounded cardinality: use it
	// for per-caller analytics, never as a metric label.
	Identity string
	// Decision is the policy's decision: for several counters, the one that
	// denied or the one with the least remaining. Its Reason is denied for
	// a deny list, skipped when the policy chose not to count the request,
	// timeout or store_error when the store failed.
	Decision sluice.Decision
	// DenyList names the list that refused the caller (DenyIP, ...) when
	// Decision.Reason is denied.
	DenyList string
	// Shadow marks the decision of a rule in shadow mode: recorded, never
	// enforced.
	Shadow bool
}
