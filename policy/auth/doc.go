// Package auth authenticates the callers of HTTP requests for the user
// rate-limit policy: net/http middleware that checks a request's API key or
// JWT and, on success, stores the caller as a policy.User in the request's
// context (policy.WithUser), where rateLimitBy user, function and rules
// policies read it.
//
// Two authenticators are provided:
//
//   - APIKeyAuth: the consumer name of a key becomes the subject and its
//     metadata (customerId, plan, …) the user's Data. Keys are kept only as
//     SHA-256 hashes, in a KeyStore: MemoryKeyStore from configuration, or
//     the database store of package keydb with its admin endpoint.
//   - JWTAuth: tokens signed with HS256/384/512, RS256/384/512,
//     PS256/384/512 or ES256/384/512 are verified against keys from PEM data (StaticKeys) or
//     a JWKS URL (JWKS) before any claim is read; issuer, audience and
//     expiry are checked with a small leeway. The subject comes from "sub"
//     (or a configured claim) and every claim is in the user's Data.
//
// Middleware answers requests with missing or wrong credentials with 401
// and an RFC 9457 problem+json body and a WWW-Authenticate challenge, and
// requests it could not decide (a key database or JWKS URL that did not
// answer) with 503.
package auth
