package config

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/rules/rulesdb"
	"github.com/sluicehq/sluice/server/envoyrls"
	"github.com/sluicehq/sluice/store/redis"
)

// Validate reports every problem of c as Problems (nil when c is valid).
// The problems carry field paths but no lines: Parse and Load add the
// lines of the file the configuration came from.
func (c *Config) Validate() error {
	var p problems
	c.validateListeners(&p)
	c.Admin.validateTokens(&p)
	c.Store.validate(&p)
	c.Rules.validate(&p)
	c.validateEnvoy(&p)
	c.Log.validate(&p)
	if c.ShutdownTimeout <= 0 {
		p.add("shutdown_timeout", "must be positive, such as 15s")
	}
	if c.ShutdownDelay < 0 || c.ShutdownDelay > 10*time.Minute {
		p.add("shutdown_delay", "must be between 0s and 10m, such as 5s")
	}
	c.Gateway.validate(&p)
	c.validatePolicies(&p)
	c.Auth.validate(&p)
	c.validateRoutes(&p)
	return p.list.err()
}

func (c *Config) validateListeners(p *problems) {
	addrs := map[string]string{}
	check := func(path, addr string) {
		if addr == "" {
			return
		}
		if err := checkAddr(addr); err != nil {
			p.add(path, "%q %v", addr, err)
			return
		}
		if _, port, _ := net.SplitHostPort(addr); port == "0" {
			return // a port of the system's choosing: never the same twice
		}
		if other, dup := addrs[addr]; dup {
			p.add(path, "%q is also %s; each listener needs its own port", addr, other)
			return
		}
		addrs[addr] = path
	}
	check("http.addr", c.HTTP.Addr)
	check("grpc.addr", c.GRPC.Addr)
	check("admin.addr", c.Admin.Addr)
	if c.HTTP.Addr == "" && c.GRPC.Addr == "" {
		p.add("http.addr", "http.addr and grpc.addr are both empty: nothing would listen")
	}
	if c.Admin.Addr == "" && c.HTTP.Addr == "" {
		p.add("admin.addr", "empty admin.addr serves the admin API on the HTTP listener, but http.addr is empty too")
	}
	if c.HTTP.ReadHeaderTimeout <= 0 {
		p.add("http.read_header_timeout", "must be positive, such as 5s")
	}
	for path, d := range map[string]int64{
		"http.read_timeout":  int64(c.HTTP.ReadTimeout),
		"http.write_timeout": int64(c.HTTP.WriteTimeout),
		"http.idle_timeout":  int64(c.HTTP.IdleTimeout),
	} {
		if d < 0 {
			p.add(path, "must not be negative (0 means no timeout)")
		}
	}
	if c.HTTP.MaxHeaderBytes < 1024 {
		p.add("http.max_header_bytes", "%d is too small; at least 1024", c.HTTP.MaxHeaderBytes)
	}
	if c.Admin.Pprof && c.Admin.Addr == "" {
		p.add("admin.pprof", "needs a listener of its own: set admin.addr (such as 127.0.0.1:8082)")
	}
}

// checkAddr reports whether addr is host:port with a valid port.
func checkAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return errors.New("is not host:port (such as 127.0.0.1:8080 or :8080)")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("has port %q; a port is 0 to 65535", port)
	}
	if strings.ContainsAny(host, " /") {
		return fmt.Errorf("has host %q, which is not a host name or address", host)
	}
	return nil
}

func (a Admin) validateTokens(p *problems) {
	seen := map[string]int{}
	for i, t := range a.Tokens {
		path := fmt.Sprintf("admin.tokens[%d]", i)
		if !validName(t.Name) {
			p.add(path+".name", "%q: a name is 1 to 64 letters, digits, '.', '_' or '-'", t.Name)
		} else if j, dup := seen[t.Name]; dup {
			p.add(path+".name", "%q is also the name of admin.tokens[%d]", t.Name, j)
		}
		seen[t.Name] = i
		switch {
		case t.TokenEnv != "" && t.SHA256 != "":
			p.add(path, "has both token_env and sha256; give one")
		case t.TokenEnv != "":
			if !validEnvName(t.TokenEnv) {
				p.add(path+".token_env", "%q is not an environment variable name (letters, digits, '_')", t.TokenEnv)
			}
		case t.SHA256 != "":
			if b, err := hex.DecodeString(t.SHA256); err != nil || len(b) != 32 {
				p.add(path+".sha256", "must be 64 hex digits: the SHA-256 of the secret (printf %%s \"$SECRET\" | sha256sum)")
			}
		default:
			p.add(path, "needs token_env (the variable holding the secret) or sha256 (the secret's hash)")
		}
	}
}

// validName reports whether s is a name of a token, policy or counter.
func validName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c == '.' || c == '_' || c == '-' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
			return false
		}
	}
	return true
}

func validEnvName(s string) bool {
	if s == "" || (s[0] >= '0' && s[0] <= '9') {
		return false
	}
	for _, c := range s {
		if !(c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
			return false
		}
	}
	return true
}

func (s Store) validate(p *problems) {
	switch s.Type {
	case "", StoreMemory, StoreRedis:
	default:
		p.add("store.type", "%q is not a store type (accepted: memory, redis)", s.Type)
	}
	switch s.OnError {
	case OnErrorOpen, OnErrorClosed, OnErrorLocal:
	default:
		p.add("store.on_error", "%q is not accepted (accepted: open, closed, local)", s.OnError)
	}
	if s.Timeout < 0 {
		p.add("store.timeout", "must be positive, such as 100ms")
	}
	if s.MaxKeys < 0 {
		p.add("store.max_keys", "must not be negative (0 means %d)", DefaultMaxKeys)
	}
	if s.BlockCacheSize < -1 {
		p.add("store.block_cache_size", "must be -1 (off), 0 (the default %d) or positive", DefaultBlockCacheSize)
	}
	if s.StoreType() == StoreMemory {
		if s.URL != "" || len(s.Cluster) > 0 {
			p.add("store.type", "is memory but store.url or store.cluster is set; set type: redis to use Redis")
		}
		return
	}
	if s.URL != "" && len(s.Cluster) > 0 {
		p.add("store.cluster", "give either store.url or store.cluster, not both")
		return
	}
	for i, a := range s.Cluster {
		if err := checkAddr(a); err != nil {
			p.add(fmt.Sprintf("store.cluster[%d]", i), "%q %v", a, err)
		}
	}
	rc := redis.Config{URL: s.RedisURL(), Prefix: s.Prefix, Timeout: s.Timeout}
	if err := rc.Validate(); err != nil {
		path := "store.url"
		switch {
		case strings.Contains(err.Error(), "prefix"):
			path = "store.prefix"
		case len(s.Cluster) > 0:
			path = "store.cluster"
		}
		p.add(path, "%s", strings.TrimPrefix(err.Error(), redis.ErrInvalidConfig.Error()+": "))
	}
}

func (r Rules) validate(p *problems) {
	if _, _, err := rulesdb.Parse(r.Database); err != nil {
		p.add("rules.database", "%s", strings.TrimPrefix(err.Error(), rulesdb.ErrDSN.Error()+": "))
	}
	if r.CacheTTL < 0 {
		p.add("rules.cache_ttl", "must not be negative (0 means %s)", DefaultCacheTTL)
	}
	if r.Fallback != "" {
		if _, err := sluice.ParseLimit(r.Fallback); err != nil {
			p.add("rules.fallback", "%s", limitMessage(err))
		} else if _, err := r.FallbackRules(); err != nil {
			p.add("rules.fallback", "%v", err)
		}
	}
}

// limitMessage is a limit parse error without the redundant prefix.
func limitMessage(err error) string {
	return strings.TrimPrefix(err.Error(), sluice.ErrInvalidLimit.Error()+": ")
}

func (c *Config) validateEnvoy(p *problems) {
	err := envoyrls.ValidateDomains(c.Envoy.Domains)
	if err == nil {
		return
	}
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else {
		errs = []error{err}
	}
	for _, e := range errs {
		var fe *envoyrls.FieldError
		if errors.As(e, &fe) {
			p.add("envoy."+fe.Field, "%s", fe.Message)
		} else {
			p.add("envoy.domains", "%v", e)
		}
	}
}

func (l Log) validate(p *problems) {
	switch strings.ToLower(l.Level) {
	case "debug", "info", "warn", "warning", "error":
	default:
		p.add("log.level", "%q is not a level (accepted: debug, info, warn, error)", l.Level)
	}
	switch l.Format {
	case "text", "json":
	default:
		p.add("log.format", "%q is not a format (accepted: text, json)", l.Format)
	}
}

func (g Gateway) validate(p *problems) {
	for i, s := range g.TrustedProxies {
		if _, err := parsePrefix(s); err != nil {
			p.add(fmt.Sprintf("gateway.trusted_proxies[%d]", i), "%q is not an IP address or CIDR prefix (such as 10.0.0.0/8)", s)
		}
	}
	if g.IPv6Prefix < 1 || g.IPv6Prefix > 128 {
		p.add("gateway.ipv6_prefix", "%d is out of range: 1 to 128 (64 groups a host's /64)", g.IPv6Prefix)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"dial_timeout", g.Upstream.DialTimeout},
		{"tls_handshake_timeout", g.Upstream.TLSHandshakeTimeout},
		{"response_header_timeout", g.Upstream.ResponseHeaderTimeout},
		{"idle_timeout", g.Upstream.IdleTimeout},
	} {
		if d.v < 0 {
			p.add("gateway.upstream."+d.name, "%s is negative; give a positive duration such as 30s, or leave it out for the default", d.v)
		}
	}
	switch strings.ToLower(g.ForwardedHeader) {
	case "", "x-forwarded-for", "forwarded":
	default:
		p.add("gateway.forwarded_header", "%q is not accepted (accepted: x-forwarded-for, forwarded)", g.ForwardedHeader)
	}
	for i, h := range g.Headers {
		switch h {
		case "ietf", "legacy", "x":
		case "off":
			if len(g.Headers) > 1 {
				p.add(fmt.Sprintf("gateway.headers[%d]", i), "off excludes the other header forms")
			}
		default:
			p.add(fmt.Sprintf("gateway.headers[%d]", i), "%q is not a header form (accepted: ietf, legacy, x, off)", h)
		}
	}
}

// parsePrefix parses an address (as a full-length prefix) or a CIDR prefix.
func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		return netip.ParsePrefix(s)
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}
