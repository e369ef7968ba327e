package policy

import "context"

// User is the authenticated caller of a request, as an authentication step
// (API keys, JWT) established it before the rate-limit policies run.
type User struct {
	// Subject identifies the caller: the API key's consumer name or the
	// JWT's "sub" claim. The user policy counts per Subject.
	Subject string
	// Data holds the claims of a JWT or the metadata of an API key, such as
	// "customerId" or "plan". Function and rules policies read it. It is
	// shared, not copied: treat it as read-only.
	Data map[string]any
}

// userKey is the context key of the User; an unexported type, so no other
// package can collide with it.
type userKey struct{}

// WithUser returns a copy of ctx that carries u.
func WithUser(ctx context.Context, u User) context.Context {
	return context.WithValue(ctx, userKey{}, u)
}

// UserFrom returns the User that WithUser stored in ctx, and whether there
// was one with a non-empty Subject.
func UserFrom(ctx context.Context) (User, bool) {
	u, ok := ctx.Value(userKey{}).(User)
	return u, ok && u.Subject != ""
}
