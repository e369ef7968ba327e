package auth

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/sluicehq/sluice/policy"
)

// DefaultLeeway is the clock skew allowed when checking exp, nbf and iat.
const DefaultLeeway = 30 * time.Second

// DefaultSubjectClaim is the claim the subject is read from.
const DefaultSubjectClaim = "sub"

// DefaultJWKSAlgorithms are the algorithms a JWTAuth accepts by default
// when its keys are not StaticKeys: the asymmetric ones.
func DefaultJWKSAlgorithms() []string {
	return []string{RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512}
}

// JWTConfig configures a JWTAuth.
type JWTConfig struct {
	// Keys verify tokens: StaticKeys (PEM keys, HMAC secrets) or a JWKS.
	// Required.
	Keys KeySet
	// Algorithms are the signing algorithms accepted; a token signed
	// otherwise is rejected before its key is looked up. Default: the
	// algorithms of the keys for StaticKeys, DefaultJWKSAlgorithms
	// otherwise. "none" is never accepted.
	Algorithms []string
	// Issuer, when set, must equal the token's "iss".
	Issuer string
	// Audience, when set, must contain one of the token's "aud" values.
	Audience []string
	// Leeway is the clock skew allowed for exp, nbf and iat. Zero means
	// DefaultLeeway; a negative value allows none.
	Leeway time.Duration
	// SubjectClaim names the claim that holds the subject. Empty means
	// "sub". The claim must be a non-empty string (or a number).
	SubjectClaim string
	// Header carries the token. Empty means "Authorization: Bearer".
	Header string
	// Realm is the realm of the WWW-Authenticate challenge; empty means
	// DefaultRealm.
	Realm string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// JWTAuth authenticates requests by a signed JWT. The signature is
// verified, with a key of the token's algorithm only, before any claim is
// read; exp is required. It is safe for concurrent use.
type JWTAuth struct {
	keys    KeySet
	parser  *jwt.Parser
	subject string
	src     credentialSource
}

var _ Authenticator = (*JWTAuth)(nil)

// NewJWT returns a JWT authenticator. It fails without keys, with an
// algorithm not supported, or with an invalid Header or Realm.
func NewJWT(cfg JWTConfig) (*JWTAuth, error) {
	if cfg.Keys == nil {
		return nil, errors.New("jwt auth: no keys")
	}
	algs := cfg.Algorithms
	if len(algs) == 0 {
		if s, ok := cfg.Keys.(interface{ Algorithms() []string }); ok {
			algs = s.Algorithms()
		} else {
			algs = DefaultJWKSAlgorithms()
		}
	}
	for _, a := range algs {
		if !slices.Contains(SupportedAlgorithms(), a) {
			return nil, fmt.Errorf("jwt auth: algorithm %q is not supported; accepted: %v", a, SupportedAlgorithms())
		}
	}
	src, err := newCredentialSource(cfg.Header, cfg.Realm)
	if err != nil {
		return nil, fmt.Errorf("jwt auth: %w", err)
	}
	leeway := cfg.Leeway
	switch {
	case leeway == 0:
		leeway = DefaultLeeway
	case leeway < 0:
		leeway = 0
	}
	opts := []jwt.ParserOption{
		jwt.WithValidMethods(slices.Clone(algs)),
		jwt.WithLeeway(leeway),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithJSONNumber(),
		jwt.WithStrictDecoding(),
	}
	if cfg.Now != nil {
		opts = append(opts, jwt.WithTimeFunc(cfg.Now))
	}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	if len(cfg.Audience) > 0 {
		opts = append(opts, jwt.WithAudience(cfg.Audience...))
	}
	subject := cfg.SubjectClaim
	if subject == "" {
		subject = DefaultSubjectClaim
	}
	return &JWTAuth{keys: cfg.Keys, parser: jwt.NewParser(opts...), subject: subject, src: src}, nil
}

// Authenticate verifies the token r carries and returns its subject and
// claims as a user.
func (a *JWTAuth) Authenticate(r *http.Request) (policy.User, error) {
	raw, err := a.src.read(r)
	if err != nil {
		return policy.User{}, err
	}
	ctx := r.Context()
	claims := jwt.MapClaims{}
	_, err = a.parser.ParseWithClaims(raw, claims, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		k, err := a.keys.Key(ctx, kid, t.Method.Alg())
		if err != nil {
			return nil, err
		}
		return k.Public, nil
	})
	if err != nil {
		if errors.Is(err, ErrKeysUnavailable) {
			return policy.User{}, fmt.Errorf("jwt auth: %w", err)
		}
		return policy.User{}, invalidCredentials(jwtDetail(err), err)
	}
	sub, ok := claimString(claims[a.subject])
	if !ok {
		return policy.User{}, invalidCredentials(fmt.Sprintf("the token has no %q claim naming its subject", a.subject), nil)
	}
	return policy.User{Subject: sub, Data: claims}, nil
}

// Challenge returns the WWW-Authenticate value of a 401.
func (a *JWTAuth) Challenge() string { return a.src.challenge() }

// claimString returns a claim as a non-empty string: a string as is, a
// number in its JSON form.
func claimString(v any) (string, bool) {
	switch s := v.(type) {
	case string:
		return s, s != ""
	case json.Number:
		return s.String(), true
	}
	return "", false
}

// jwtDetail says, for the client, why a token was rejected.
func jwtDetail(err error) string {
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return "the token is not a well-formed JWT"
	case errors.Is(err, ErrUnknownKey):
		return "no key verifies the token's algorithm and key ID"
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return "the token's signature or algorithm is not valid"
	case errors.Is(err, jwt.ErrTokenExpired):
		return "the token has expired"
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return "the token lacks a required claim (exp, iss or aud)"
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return "the token is not for this audience"
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return "the token is from another issuer"
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return "the token is not valid yet"
	}
	return "the token is not valid"
}
