package config

import (
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/sluicehq/sluice/policy/auth"
)

// The values of Route.Auth.
const (
	AuthNone   = "none"
	AuthAPIKey = "api_key"
	AuthJWT    = "jwt"
	AuthAny    = "any"
)

// Auth holds how the gateway's routes authenticate callers: API keys (in
// the file, in the rules database, or both) and JWTs. A route chooses with
// its auth option.
type Auth struct {
	// Header is the request header carrying an API key, such as
	// X-API-Key. Default: "Authorization: Bearer <key>".
	Header string `yaml:"header"`
	// APIKeys are the API keys of the file.
	APIKeys []APIKey `yaml:"api_keys"`
	// Database also looks API keys up in the rules database (table
	// sluice_api_keys), managed through the admin listener's
	// /api/api-keys. Default false. Needs a restart to change.
	Database bool `yaml:"database"`
	// JWT configures JSON Web Token authentication.
	JWT JWT `yaml:"jwt"`
}

// APIKey is one API key of the file. The key itself is never written in
// the file: either SHA256 is its hash, or KeyEnv names the environment
// variable holding it.
type APIKey struct {
	// Consumer is who the key belongs to: the authenticated subject.
	// Required.
	Consumer string `yaml:"consumer"`
	// SHA256 is the hex SHA-256 of the key (printf %s "$KEY" | sha256sum).
	SHA256 string `yaml:"sha256"`
	// KeyEnv names the environment variable holding the key. Exactly one
	// of SHA256 and KeyEnv is required.
	KeyEnv string `yaml:"key_env"`
	// ID is the key's public ID, the api_key rules match. Default: derived
	// from the hash.
	ID string `yaml:"id"`
	// Metadata is given to policies as the user's data, such as
	// {plan: pro}.
	Metadata map[string]string `yaml:"metadata"`
}

// JWT configures JSON Web Token authentication. Keys are given either in
// Keys or by a JWKS URL.
type JWT struct {
	// Issuer, when set, must equal a token's "iss".
	Issuer string `yaml:"issuer"`
	// Audience, when set, must contain one of a token's "aud" values.
	Audience []string `yaml:"audience"`
	// Leeway is the clock skew allowed for exp, nbf and iat. Default 0:
	// auth.DefaultLeeway (30s).
	Leeway time.Duration `yaml:"leeway"`
	// SubjectClaim names the claim holding the subject. Default "sub".
	SubjectClaim string `yaml:"subject_claim"`
	// Header carries the token. Default "Authorization: Bearer".
	Header string `yaml:"header"`
	// Algorithms accepted. Default: those of Keys, else RS*/ES*.
	Algorithms []string `yaml:"algorithms"`
	// Keys verify tokens: PEM public keys or HMAC secrets.
	Keys []JWTKey `yaml:"keys"`
	// JWKS fetches the verification keys from a URL instead of Keys.
	JWKS JWKS `yaml:"jwks"`
}

// JWTKey is one verification key: a PEM file for RS*/ES*/PS*, a secret
// from the environment for HS*.
type JWTKey struct {
	// ID is the key ID (kid) tokens name. Optional.
	ID string `yaml:"id"`
	// Algorithm is the signing algorithm, such as RS256 or HS256. Required.
	Algorithm string `yaml:"algorithm"`
	// PEMFile is the path of a PEM public key or certificate (RS*, ES*,
	// PS*).
	PEMFile string `yaml:"pem_file"`
	// SecretEnv names the environment variable holding an HMAC secret of
	// at least 32 bytes (HS*).
	SecretEnv string `yaml:"secret_env"`
}

// JWKS configures a JSON Web Key Set fetched by URL.
type JWKS struct {
	// URL is the JWKS document's http:// or https:// URL.
	URL string `yaml:"url"`
	// TTL is how long fetched keys are used. Default 0:
	// auth.DefaultJWKSTTL (10m).
	TTL time.Duration `yaml:"ttl"`
	// MinRefresh is the least time between two fetches. Default 0:
	// auth.DefaultJWKSMinRefresh (10s).
	MinRefresh time.Duration `yaml:"min_refresh"`
}

// configured reports whether JWT authentication has keys.
func (j JWT) configured() bool { return len(j.Keys) > 0 || j.JWKS.URL != "" }

// apiKeysConfigured reports whether API key authentication has a key source.
func (a Auth) apiKeysConfigured() bool { return len(a.APIKeys) > 0 || a.Database }

func (a Auth) validate(p *problems) {
	if a.Header != "" && !validHeaderName(a.Header) {
		p.add("auth.header", "%q is not a header name", a.Header)
	}
	hashes := map[string]int{}
	for i, k := range a.APIKeys {
		path := fmt.Sprintf("auth.api_keys[%d]", i)
		if err := auth.ValidateConsumer(k.Consumer); err != nil {
			p.add(path+".consumer", "%v", err)
		}
		switch {
		case k.SHA256 != "" && k.KeyEnv != "":
			p.add(path, "has both sha256 and key_env; give one")
		case k.SHA256 != "":
			if b, err := hex.DecodeString(k.SHA256); err != nil || len(b) != 32 {
				p.add(path+".sha256", "must be 64 hex digits: the SHA-256 of the key (printf %%s \"$KEY\" | sha256sum)")
			} else if j, dup := hashes[strings.ToLower(k.SHA256)]; dup {
				p.add(path+".sha256", "is also the key of auth.api_keys[%d]", j)
			} else {
				hashes[strings.ToLower(k.SHA256)] = i
			}
		case k.KeyEnv != "":
			if !validEnvName(k.KeyEnv) {
				p.add(path+".key_env", "%q is not an environment variable name (letters, digits, '_')", k.KeyEnv)
			}
		default:
			p.add(path, "needs sha256 (the key's hash) or key_env (the variable holding the key)")
		}
	}
	a.JWT.validate(p)
}

func (j JWT) validate(p *problems) {
	if j.Header != "" && !validHeaderName(j.Header) {
		p.add("auth.jwt.header", "%q is not a header name", j.Header)
	}
	if j.Leeway < 0 {
		p.add("auth.jwt.leeway", "must not be negative, such as 30s")
	}
	for i, alg := range j.Algorithms {
		if !slices.Contains(auth.SupportedAlgorithms(), alg) {
			p.add(fmt.Sprintf("auth.jwt.algorithms[%d]", i), "%q is not supported (accepted: %s)", alg, strings.Join(auth.SupportedAlgorithms(), ", "))
		}
	}
	if len(j.Keys) > 0 && j.JWKS.URL != "" {
		p.add("auth.jwt.jwks.url", "give either auth.jwt.keys or auth.jwt.jwks, not both")
	}
	for i, k := range j.Keys {
		path := fmt.Sprintf("auth.jwt.keys[%d]", i)
		hmac := strings.HasPrefix(k.Algorithm, "HS")
		switch {
		case !slices.Contains(auth.SupportedAlgorithms(), k.Algorithm):
			p.add(path+".algorithm", "%q is not supported (accepted: %s)", k.Algorithm, strings.Join(auth.SupportedAlgorithms(), ", "))
		case hmac && k.PEMFile != "":
			p.add(path+".pem_file", "an %s key is a secret: give secret_env, not pem_file", k.Algorithm)
		case hmac && !validEnvName(k.SecretEnv):
			p.add(path+".secret_env", "required for %s: the environment variable holding the secret", k.Algorithm)
		case !hmac && k.SecretEnv != "":
			p.add(path+".secret_env", "an %s key is public: give pem_file, not secret_env", k.Algorithm)
		case !hmac && k.PEMFile == "":
			p.add(path+".pem_file", "required for %s: the path of a PEM public key or certificate", k.Algorithm)
		case !hmac:
			if _, err := k.pemKey(); err != nil {
				p.add(path+".pem_file", "%v", err)
			}
		}
	}
	if j.JWKS.URL != "" {
		if u, err := url.Parse(j.JWKS.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			p.add("auth.jwt.jwks.url", "%q is not an http:// or https:// URL with a host", j.JWKS.URL)
		}
	}
	if j.JWKS.TTL < 0 {
		p.add("auth.jwt.jwks.ttl", "must not be negative, such as 5m")
	}
	if j.JWKS.MinRefresh < 0 {
		p.add("auth.jwt.jwks.min_refresh", "must not be negative, such as 30s")
	}
}

// pemKey reads and parses the key's PEM file.
func (k JWTKey) pemKey() (auth.Key, error) {
	data, err := os.ReadFile(k.PEMFile)
	if err != nil {
		return auth.Key{}, err
	}
	key, err := auth.KeyFromPEM(k.ID, k.Algorithm, data)
	if err != nil {
		return auth.Key{}, fmt.Errorf("%s: %w", k.PEMFile, err)
	}
	return key, nil
}

// secretKey returns the key's HMAC secret from env.
func (k JWTKey) secretKey(env Env) (auth.Key, error) {
	v, ok := env(k.SecretEnv)
	if !ok || v == "" {
		return auth.Key{}, fmt.Errorf("$%s is not set; it must hold the %s secret", k.SecretEnv, k.Algorithm)
	}
	return auth.NewKey(k.ID, k.Algorithm, []byte(v))
}

// checkAuthEnv reports the API keys and JWT secrets whose variable is unset
// or unusable.
func (c *Config) checkAuthEnv(env Env) Problems {
	var ps Problems
	for i, k := range c.Auth.APIKeys {
		if k.KeyEnv == "" || k.SHA256 != "" || !validEnvName(k.KeyEnv) {
			continue
		}
		path := fmt.Sprintf("auth.api_keys[%d].key_env", i)
		v, ok := env(k.KeyEnv)
		switch {
		case !ok || v == "":
			ps = append(ps, Problem{Path: path, Message: fmt.Sprintf("$%s is not set; it must hold the API key", k.KeyEnv)})
		case len(v) < auth.MinKeyLen:
			ps = append(ps, Problem{Path: path, Message: fmt.Sprintf("$%s is %d bytes; an API key is at least %d", k.KeyEnv, len(v), auth.MinKeyLen)})
		}
	}
	for i, k := range c.Auth.JWT.Keys {
		if !strings.HasPrefix(k.Algorithm, "HS") || !validEnvName(k.SecretEnv) || !slices.Contains(auth.SupportedAlgorithms(), k.Algorithm) {
			continue
		}
		if _, err := k.secretKey(env); err != nil {
			ps = append(ps, Problem{Path: fmt.Sprintf("auth.jwt.keys[%d].secret_env", i), Message: err.Error()})
		}
	}
	return ps
}

// validHeaderName reports whether s is an HTTP header field name.
func validHeaderName(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}
