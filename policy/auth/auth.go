package auth

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/sluicehq/sluice/policy"
)

// ErrNoCredentials is wrapped by the errors of requests that carry no
// credentials of the kind an authenticator reads.
var ErrNoCredentials = errors.New("no credentials")

// ErrInvalidCredentials is wrapped by the errors of requests whose
// credentials are wrong: an unknown API key, a JWT that is malformed, badly
// signed, expired or for another audience.
var ErrInvalidCredentials = errors.New("invalid credentials")

// Authenticator establishes who made a request. APIKeyAuth and JWTAuth
// implement it; Any combines several.
type Authenticator interface {
	// Authenticate returns the user whose credentials r carries. Its error
	// wraps ErrNoCredentials when r carries none and ErrInvalidCredentials
	// when they are wrong; any other error means the authenticator could
	// not decide (its key database or JWKS URL did not answer).
	Authenticate(r *http.Request) (policy.User, error)
	// Challenge returns the value of the WWW-Authenticate header sent with
	// a 401, such as `Bearer realm="sluice"`.
	Challenge() string
}

// MiddlewareConfig configures Middleware.
type MiddlewareConfig struct {
	// Logger receives a line for every request that could not be
	// authenticated because the authenticator failed (503). Nil discards.
	Logger *slog.Logger
}

// Middleware returns net/http middleware that authenticates every request
// with a. On success the request continues with the user in its context
// (policy.WithUser); credentials missing or wrong get 401 with a
// problem+json body and a WWW-Authenticate header; an authenticator that
// could not decide gets 503. A nil a lets every request through unchanged.
func Middleware(a Authenticator, cfg MiddlewareConfig) func(http.Handler) http.Handler {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return func(next http.Handler) http.Handler {
		if a == nil {
			return next
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			u, err := a.Authenticate(r)
			switch {
			case err == nil:
				next.ServeHTTP(w, r.WithContext(policy.WithUser(r.Context(), u)))
			case errors.Is(err, ErrNoCredentials) || errors.Is(err, ErrInvalidCredentials):
				w.Header().Set("WWW-Authenticate", challengeWithError(a.Challenge(), err))
				writeProblem(w, r, http.StatusUnauthorized, ProblemUnauthenticated, detail(err))
			default:
				log.LogAttrs(r.Context(), slog.LevelError, "authentication failed",
					slog.String("path", r.URL.Path), slog.Any("error", err))
				w.Header().Set("Retry-After", "1")
				writeProblem(w, r, http.StatusServiceUnavailable, ProblemAuthUnavailable,
					"the credentials could not be checked now; try again")
			}
		})
	}
}

// detail returns the problem detail for a credential error: the message of
// the innermost error that says what was wrong.
func detail(err error) string {
	var d *credentialError
	if errors.As(err, &d) {
		return d.detail
	}
	if errors.Is(err, ErrNoCredentials) {
		return "the request carries no credentials"
	}
	return "the credentials are not valid"
}

// credentialError is a credential failure with a message safe to show the
// client, and the OAuth error code of RFC 6750 for WWW-Authenticate.
type credentialError struct {
	kind   error  // ErrNoCredentials or ErrInvalidCredentials
	detail string // shown to the client
	cause  error  // kept for logs and errors.Is; may be nil
}

// Error says what was wrong, with the cause.
func (e *credentialError) Error() string {
	if e.cause != nil {
		return e.kind.Error() + ": " + e.detail + ": " + e.cause.Error()
	}
	return e.kind.Error() + ": " + e.detail
}

// Unwrap returns the kind and the cause.
func (e *credentialError) Unwrap() []error {
	if e.cause == nil {
		return []error{e.kind}
	}
	return []error{e.kind, e.cause}
}

func noCredentials(detail string) error {
	return &credentialError{kind: ErrNoCredentials, detail: detail}
}

func invalidCredentials(detail string, cause error) error {
	return &credentialError{kind: ErrInvalidCredentials, detail: detail, cause: cause}
}

// challengeWithError adds the RFC 6750 error attribute to a Bearer
// challenge when the request carried credentials that were wrong.
func challengeWithError(challenge string, err error) string {
	if errors.Is(err, ErrInvalidCredentials) {
		return challenge + `, error="invalid_token"`
	}
	return challenge
}
