package auth

import (
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/sluicehq/sluice/policy"
)

// anyOf is the Authenticator Any returns.
type anyOf []Authenticator

// Any returns an Authenticator that accepts a request when one of auths
// does, trying them in order: for routes that take an API key or a JWT.
// When none accepts, its error is that of an authenticator that could not
// decide (503) if there is one, else the first that found wrong
// credentials, else "no credentials". Its challenge lists every
// authenticator's.
func Any(auths ...Authenticator) Authenticator {
	return anyOf(auths)
}

// Authenticate returns the user of the first authenticator that accepts r.
func (as anyOf) Authenticate(r *http.Request) (policy.User, error) {
	var invalid, failed error
	for _, a := range as {
		u, err := a.Authenticate(r)
		switch {
		case err == nil:
			return u, nil
		case errors.Is(err, ErrNoCredentials):
		case errors.Is(err, ErrInvalidCredentials):
			if invalid == nil {
				invalid = err
			}
		default:
			if failed == nil {
				failed = err
			}
		}
	}
	switch {
	case failed != nil:
		return policy.User{}, failed
	case invalid != nil:
		return policy.User{}, invalid
	}
	return policy.User{}, noCredentials("the request carries no credentials")
}

// Challenge returns the challenges of all the authenticators.
func (as anyOf) Challenge() string {
	cs := make([]string, 0, len(as))
	for _, a := range as {
		if c := a.Challenge(); c != "" && !slices.Contains(cs, c) {
			cs = append(cs, c)
		}
	}
	return strings.Join(cs, ", ")
}
