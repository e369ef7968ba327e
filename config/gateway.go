package config

import (
	"errors"
	"fmt"
	"strings"

	"github.com/sluicehq/sluice/gateway"
	"github.com/sluicehq/sluice/policy"
	"github.com/sluicehq/sluice/policy/auth"
	"github.com/sluicehq/sluice/rules"
)

// GatewayDeps are what the gateway's routes need beyond the configuration.
type GatewayDeps struct {
	// Env holds the secrets key_env and secret_env name.
	Env Env
	// Resolver serves the rules of rateLimitBy: rules policies. Required
	// when a policy uses them.
	Resolver *rules.Resolver
	// KeyDB is the database's API keys, used with auth.database: true.
	KeyDB auth.KeyStore
}

// PolicyOptions returns the gateway settings as policy.Options (without
// Observer, Logger and Now, which the caller adds).
func (g Gateway) PolicyOptions() policy.Options {
	o := policy.Options{IPv6Prefix: g.IPv6Prefix}
	for _, s := range g.TrustedProxies {
		if p, err := parsePrefix(s); err == nil { // validated
			o.TrustedProxies = append(o.TrustedProxies, p.Masked())
		}
	}
	if strings.EqualFold(g.ForwardedHeader, "forwarded") {
		o.ForwardedHeader = policy.HeaderForwarded
	}
	forms := map[string]policy.Headers{"ietf": policy.HeadersIETF, "legacy": policy.HeadersLegacy, "x": policy.HeadersX, "off": policy.HeadersOff}
	for _, h := range g.Headers {
		o.Headers |= forms[h]
	}
	return o
}

// Timeouts returns the upstream timeouts as gateway.Timeouts.
func (u Upstream) Timeouts() gateway.Timeouts {
	return gateway.Timeouts{
		Dial:           u.DialTimeout,
		TLSHandshake:   u.TLSHandshakeTimeout,
		ResponseHeader: u.ResponseHeaderTimeout,
		IdleConn:       u.IdleTimeout,
	}
}

// GatewayRoutes builds the gateway's routes from the policies, auth and
// routes of c. Routes naming the same policy share one *policy.Policy, and
// so its counters. Errors name the field they are about; Parse has already
// reported (with lines) everything a valid configuration can fail on, so an
// error here means the environment or a PEM file changed since.
func (c *Config) GatewayRoutes(deps GatewayDeps) ([]gateway.Route, error) {
	if deps.Env == nil {
		deps.Env = func(string) (string, bool) { return "", false }
	}
	var errs []error
	pols := make(map[string]*policy.Policy, len(c.Policies))
	for i, pc := range c.Policies {
		p, err := pc.build(deps.Resolver)
		if err != nil {
			errs = append(errs, fmt.Errorf("policies[%d] (%s): %w", i, pc.Name, err))
			continue
		}
		pols[pc.Name] = p
	}
	var apiKey, jwt auth.Authenticator
	needs := map[string]bool{}
	for _, r := range c.Routes {
		needs[r.Auth] = true
	}
	if needs[AuthAPIKey] || needs[AuthAny] && c.Auth.apiKeysConfigured() {
		a, err := c.Auth.apiKeyAuth(deps)
		if err != nil {
			errs = append(errs, fmt.Errorf("auth.api_keys: %w", err))
		}
		apiKey = a
	}
	if needs[AuthJWT] || needs[AuthAny] && c.Auth.JWT.configured() {
		a, err := c.Auth.JWT.auth(deps.Env)
		if err != nil {
			errs = append(errs, fmt.Errorf("auth.jwt: %w", err))
		}
		jwt = a
	}
	routes := make([]gateway.Route, 0, len(c.Routes))
	for i, rc := range c.Routes {
		rt := gateway.Route{
			Name: rc.Path, Path: rc.Path, Methods: rc.Methods, Upstream: rc.Upstream, PreserveHost: rc.PreserveHost,
		}
		for _, name := range rc.Policies {
			p, ok := pols[name]
			if !ok {
				if !hasPolicy(c.Policies, name) {
					errs = append(errs, fmt.Errorf("routes[%d].policies: no policy is named %q", i, name))
				}
				continue
			}
			rt.Policies = append(rt.Policies, p)
		}
		switch rc.Auth {
		case AuthAPIKey:
			rt.Auth = apiKey
		case AuthJWT:
			rt.Auth = jwt
		case AuthAny:
			var as []auth.Authenticator
			for _, a := range []auth.Authenticator{apiKey, jwt} {
				if a != nil {
					as = append(as, a)
				}
			}
			rt.Auth = auth.Any(as...)
		}
		if rc.Auth != "" && rc.Auth != AuthNone && rt.Auth == nil {
			errs = append(errs, fmt.Errorf("routes[%d].auth: %s authentication is not configured", i, rc.Auth))
		}
		routes = append(routes, rt)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return routes, nil
}

func hasPolicy(ps []Policy, name string) bool {
	for _, p := range ps {
		if p.Name == name {
			return true
		}
	}
	return false
}

// build returns the policy pc configures.
func (pc Policy) build(res *rules.Resolver) (*policy.Policy, error) {
	p := &policy.Policy{Name: pc.Name, Cost: pc.Increment(), ReadOnly: pc.Increment() == 0, ThrowOnFailure: pc.ThrowOnFailure}
	if p.ReadOnly {
		p.Cost = 0
	}
	if err := p.By.UnmarshalText([]byte(pc.RateLimitBy)); err != nil {
		return nil, err
	}
	if err := p.HeaderMode.UnmarshalText([]byte(pc.HeaderMode)); err != nil {
		return nil, err
	}
	if pc.Mode == ModeAsync {
		p.Mode = policy.Async
	}
	if l, ok, err := pc.RateLimit(); err != nil {
		return nil, err
	} else if ok {
		p.Limit = l
	}
	for _, name := range sortedKeys(pc.Counters) {
		l, err := pc.CounterLimit(name)
		if err != nil {
			return nil, err
		}
		p.Counters = append(p.Counters, policy.Counter{Name: name, Limit: l})
	}
	if l, ok, err := pc.Quota.QuotaLimit(); err != nil {
		return nil, err
	} else if ok {
		p.Quota = l
	}
	switch p.By {
	case policy.ByFunction:
		f, err := policy.CompileCEL(pc.Identifier)
		if err != nil {
			return nil, fmt.Errorf("identifier: %w", err)
		}
		p.Func = f
	case policy.ByRules:
		if res == nil {
			return nil, errors.New("rateLimitBy rules needs the rules database")
		}
		p.Rules = res
	}
	d := policy.Deny{
		Identifiers: pc.Deny.Identifiers, UserAgents: pc.Deny.UserAgents,
		Countries: pc.Deny.Countries, CountryHeader: pc.Deny.CountryHeader,
	}
	for _, s := range pc.Deny.IPs {
		pre, err := parsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("deny.ips: %q: %w", s, err)
		}
		d.IPs = append(d.IPs, pre.Masked())
	}
	p.Deny = d
	return p, nil
}

// apiKeyAuth returns the API key authenticator of the file's keys and, with
// Database, the database's.
func (a Auth) apiKeyAuth(deps GatewayDeps) (auth.Authenticator, error) {
	keys := make([]auth.APIKey, 0, len(a.APIKeys))
	for _, k := range a.APIKeys {
		ak := auth.APIKey{Consumer: k.Consumer, KeyHash: k.SHA256, ID: k.ID}
		if k.SHA256 == "" {
			v, ok := deps.Env(k.KeyEnv)
			if !ok || v == "" {
				return nil, fmt.Errorf("consumer %q: $%s is not set", k.Consumer, k.KeyEnv)
			}
			ak.Key = v
		}
		if len(k.Metadata) > 0 {
			ak.Metadata = make(map[string]any, len(k.Metadata))
			for name, v := range k.Metadata {
				ak.Metadata[name] = v
			}
		}
		keys = append(keys, ak)
	}
	var stores []auth.KeyStore
	if len(keys) > 0 {
		m, err := auth.NewMemoryKeyStore(keys)
		if err != nil {
			return nil, err
		}
		stores = append(stores, m)
	}
	if a.Database {
		if deps.KeyDB == nil {
			return nil, errors.New("auth.database is on but the API key table is not open")
		}
		stores = append(stores, deps.KeyDB)
	}
	var out []auth.Authenticator
	for _, s := range stores {
		au, err := auth.NewAPIKey(auth.APIKeyConfig{Keys: s, Header: a.Header})
		if err != nil {
			return nil, err
		}
		out = append(out, au)
	}
	if len(out) == 1 {
		return out[0], nil
	}
	return auth.Any(out...), nil
}

// auth returns the JWT authenticator.
func (j JWT) auth(env Env) (auth.Authenticator, error) {
	var ks auth.KeySet
	if j.JWKS.URL != "" {
		s, err := auth.NewJWKS(auth.JWKSConfig{URL: j.JWKS.URL, TTL: j.JWKS.TTL, MinRefresh: j.JWKS.MinRefresh})
		if err != nil {
			return nil, err
		}
		ks = s
	} else {
		keys := make([]auth.Key, 0, len(j.Keys))
		for i, k := range j.Keys {
			var key auth.Key
			var err error
			if strings.HasPrefix(k.Algorithm, "HS") {
				key, err = k.secretKey(env)
			} else {
				key, err = k.pemKey()
			}
			if err != nil {
				return nil, fmt.Errorf("keys[%d]: %w", i, err)
			}
			keys = append(keys, key)
		}
		s, err := auth.NewStaticKeys(keys...)
		if err != nil {
			return nil, err
		}
		ks = s
	}
	return auth.NewJWT(auth.JWTConfig{
		Keys: ks, Algorithms: j.Algorithms, Issuer: j.Issuer, Audience: j.Audience,
		Leeway: j.Leeway, SubjectClaim: j.SubjectClaim, Header: j.Header,
	})
}
