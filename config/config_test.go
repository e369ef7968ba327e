package config

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/rules"
)

// envOf returns an Env reading from m.
func envOf(m map[string]string) Env {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestDefaultIsValid(t *testing.T) {
	if err := Default().Validate(); err != nil {
		t.Fatalf("Default().Validate() = %v", err)
	}
	c, err := Parse("empty.yaml", nil, nil)
	if err != nil {
		t.Fatalf("Parse(empty) = %v", err)
	}
	if c.HTTP.Addr != DefaultHTTPAddr || c.GRPC.Addr != DefaultGRPCAddr || c.Store.StoreType() != StoreMemory ||
		c.Rules.Database != DefaultDatabase || !c.Rules.Migrate(false) || c.Rules.Migrate(true) {
		t.Errorf("defaults: %+v", c)
	}
}

func TestParseFull(t *testing.T) {
	data := `
http:
  addr: 0.0.0.0:9000
  read_header_timeout: 2s
grpc: {addr: ""}
admin:
  addr: 127.0.0.1:9100
  pprof: true
  tokens:
    - {name: ops, token_env: OPS_TOKEN}
    - {name: grafana, sha256: ` + strings.Repeat("ab", 32) + `, read_only: true}
store:
  cluster: [10.0.0.1:6379, 10.0.0.2:6379]
  prefix: app1
  timeout: 50ms
  on_error: local
rules:
  database: postgres://sluice@db:5432/sluice
  cache_ttl: 30s
  fallback: 100/1m
envoy:
  domains:
    - domain: edge
      descriptors:
        - key: remote_address
          rate_limit: {unit: second, requests_per_unit: 10}
shadow_mode: true
log: {level: debug, format: json}
gateway:
  trusted_proxies: [10.0.0.0/8]
  ipv6_prefix: 56
  upstream: {dial_timeout: 2s, response_header_timeout: 1m30s}
policies:
  - name: per-user
    rateLimitBy: user
    requestsAllowed: 100
    timeWindowMinutes: 1
    headerMode: none
    throwOnFailure: true
  - name: complex
    rateLimitBy: function
    identifier: request.headers["x-customer"]
    timeWindowMinutes: 1
    counters: {requests: 100, compute: 500}
    quota: {requests: 5000, period: month, tz: Europe/Berlin}
    deny: {ips: [203.0.113.7, 198.51.100.0/24], countries: [KP], country_header: CF-IPCountry}
routes:
  - path: /api/chat
    methods: [POST]
    upstream: http://127.0.0.1:9001
    policies: [per-user, complex]
`
	c, err := Parse("full.yaml", []byte(data), envOf(map[string]string{"OPS_TOKEN": "0123456789abcdef0123"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Store.StoreType() != StoreRedis || c.Store.RedisURL() != "redis+cluster://10.0.0.1:6379,10.0.0.2:6379" {
		t.Errorf("store: %+v → %s %s", c.Store, c.Store.StoreType(), c.Store.RedisURL())
	}
	if c.Rules.Migrate(true) {
		t.Error("PostgreSQL must not migrate on start by default")
	}
	if c.HTTP.ReadTimeout != DefaultReadTimeout || c.HTTP.ReadHeaderTimeout != 2*time.Second {
		t.Errorf("http timeouts: %+v", c.HTTP)
	}
	if to := c.Gateway.Upstream.Timeouts(); to.Dial != 2*time.Second || to.ResponseHeader != 90*time.Second || to.TLSHandshake != 0 || to.IdleConn != 0 {
		t.Errorf("upstream timeouts: %+v", to)
	}
	l, ok, err := c.Policies[0].RateLimit()
	if err != nil || !ok || l != sluice.MustParseLimit("100/1m") {
		t.Errorf("per-user limit = %v %v %v", l, ok, err)
	}
	cl, err := c.Policies[1].CounterLimit("compute")
	if err != nil || cl != sluice.MustParseLimit("500/1m") {
		t.Errorf("compute = %v %v", cl, err)
	}
	ql, ok, err := c.Policies[1].Quota.QuotaLimit()
	if err != nil || !ok || ql.Algorithm != sluice.Quota || ql.Location.String() != "Europe/Berlin" {
		t.Errorf("quota = %v %v %v", ql, ok, err)
	}
	toks, err := c.AdminTokens(envOf(map[string]string{"OPS_TOKEN": "0123456789abcdef0123"}))
	if err != nil || len(toks) != 2 || toks[0].Name != "ops" || !toks[1].ReadOnly {
		t.Errorf("tokens = %+v %v", toks, err)
	}
}

func TestParseReportsEveryProblemWithItsLine(t *testing.T) {
	data := `http:
  addr: 127.0.0.1:8080
  tiemout: 5s
store:
  timeout: fast
  on_error: maybe
rules:
  fallback: 100/xx
policies:
  - name: a
    rateLimitBy: usr
    limit: 10/1m
    headermode: none
routes:
  - path: /api/chat
    upstream: ftp://x
    policies: [a, nope]
log: {level: loud}
`
	_, err := Parse("sluice.yaml", []byte(data), nil)
	var ps Problems
	if !errors.As(err, &ps) || !errors.Is(err, ErrInvalid) {
		t.Fatalf("Parse = %v, want Problems", err)
	}
	want := []string{
		`sluice.yaml:3: http.tiemout: unknown field`,
		`sluice.yaml:5: store.timeout: "fast" is not a duration (e.g. 50ms)`,
		`sluice.yaml:6: store.on_error: "maybe" is not accepted (accepted: open, closed, local)`,
		`sluice.yaml:8: rules.fallback: "100/xx"`,
		`sluice.yaml:11: policies[0].rateLimitBy: "usr" is not accepted`,
		`sluice.yaml:13: policies[0].headermode: unknown field (did you mean "headerMode"?)`,
		`sluice.yaml:16: routes[0].upstream: "ftp://x" is not an http:// or https:// URL`,
		`sluice.yaml:17: routes[0].policies[1]: no policy is named "nope"`,
		`sluice.yaml:18: log.level: "loud" is not a level`,
	}
	if len(ps) != len(want) {
		t.Errorf("got %d problems, want %d:\n%v", len(ps), len(want), err)
	}
	for i, w := range want {
		if i < len(ps) && !strings.HasPrefix(ps[i].Error(), w) {
			t.Errorf("problem %d = %q, want prefix %q", i, ps[i].Error(), w)
		}
	}
}

func TestParseStrictness(t *testing.T) {
	tests := []struct{ name, data, want string }{
		{"syntax", "http:\n  addr: [1,\n", "f.yaml:2: YAML syntax"},
		{"tab", "http:\n\taddr: x\n", "f.yaml:2: YAML syntax"},
		{"duplicate", "log:\n  level: info\n  level: debug\n", `f.yaml:3: log.level: appears twice (first on line 2)`},
		{"two documents", "log: {level: info}\n---\nlog: {level: info}\n", "one YAML document"},
		{"not a mapping", "store: redis\n", `f.yaml:1: store: expected a mapping of fields, got "redis"`},
		{"list for scalar", "http:\n  addr: [a, b]\n", "f.yaml:2: http.addr: expected text, got a list"},
		{"bool", "shadow_mode: maybe\n", `f.yaml:1: shadow_mode: "maybe" is not a boolean (true or false)`},
		{"int", "store:\n  max_keys: lots\n", `f.yaml:2: store.max_keys: "lots" is not a whole number`},
		{"top-level unknown", "listen: {}\n", "f.yaml:1: listen: unknown field"},
		{"envoy unknown", "envoy:\n  domains:\n    - domain: d\n      descriptor: []\n", "f.yaml:4: envoy.domains[0].descriptor: unknown field (did you mean \"descriptors\"?)"},
		{"envoy invalid", "envoy:\n  domains:\n    - domain: d\n      descriptors:\n        - key: k\n          rate_limit: {unit: fortnight}\n", "f.yaml:6: envoy.domains[0].descriptors[0].rate_limit.unit"},
		{"list not mapping", "policies: {name: x}\n", "f.yaml:1: policies: expected a list, got a mapping"},
		{"same port", "grpc: {addr: \"127.0.0.1:8080\"}\n", `grpc.addr: "127.0.0.1:8080" is also http.addr`},
		{"pprof without admin", "admin: {addr: \"\", pprof: true}\n", "f.yaml:1: admin.pprof: needs a listener of its own"},
		{"memory with url", "store: {type: memory, url: \"redis://x:1\"}\n", "f.yaml:1: store.type: is memory but store.url"},
		{"bad redis url", "store:\n  url: http://x\n", `f.yaml:2: store.url: URL "http://x": unknown scheme "http"`},
		{"bad prefix", "store:\n  type: redis\n  prefix: \"a{b}\"\n", "f.yaml:3: store.prefix"},
		{"token without secret", "admin:\n  tokens:\n    - name: ops\n", "f.yaml:3: admin.tokens[0]: needs token_env"},
		{"token env unset", "admin:\n  tokens:\n    - name: ops\n      token_env: NOPE_UNSET\n", "f.yaml:4: admin.tokens[0].token_env: $NOPE_UNSET is not set"},
		{"bad hash", "admin:\n  tokens:\n    - {name: ops, sha256: abc}\n", "f.yaml:3: admin.tokens[0].sha256: must be 64 hex digits"},
		{"bad dsn", "rules:\n  database: mysql://x\n", `f.yaml:2: rules.database: unsupported scheme "mysql"`},
		{"no limit", "policies:\n  - name: p\n    rateLimitBy: ip\n", "f.yaml:2: policies[0]: has no limit"},
		{"both limits", "policies:\n  - name: p\n    rateLimitBy: ip\n    limit: 1/s\n    requestsAllowed: 3\n", "f.yaml:4: policies[0].limit: excludes requestsAllowed"},
		{"function needs identifier", "policies:\n  - {name: p, rateLimitBy: function, limit: 1/s}\n", "policies[0].identifier: required with rateLimitBy: function"},
		{"quota period", "policies:\n  - name: p\n    rateLimitBy: user\n    quota: {requests: 5, period: fortnight}\n", "f.yaml:4: policies[0].quota.period"},
		{"quota tz", "policies:\n  - name: p\n    rateLimitBy: user\n    quota: {requests: 5, period: day, tz: Mars/Olympus}\n", "policies[0].quota.tz"},
		{"country header", "policies:\n  - name: p\n    rateLimitBy: ip\n    limit: 1/s\n    deny:\n      countries: [DE]\n", "f.yaml:5: policies[0].deny.country_header: required"},
		{"deny ip", "policies:\n  - name: p\n    rateLimitBy: ip\n    limit: 1/s\n    deny:\n      ips: [nope]\n", "f.yaml:6: policies[0].deny.ips[0]"},
		{"route path", "routes:\n  - path: /a//b\n    upstream: http://x\n", "f.yaml:2: routes[0].path"},
		{"route method", "routes:\n  - path: /a\n    methods: [get]\n    upstream: http://x\n", "f.yaml:3: routes[0].methods[0]"},
		{"duplicate policy", "policies:\n  - {name: p, rateLimitBy: all, limit: 1/s}\n  - {name: p, rateLimitBy: all, limit: 1/s}\n", "f.yaml:3: policies[1].name: \"p\" is also the name of policies[0]"},
		{"ipv6 prefix", "gateway: {ipv6_prefix: 129}\n", "gateway.ipv6_prefix"},
		{"trusted proxy", "gateway:\n  trusted_proxies: [x]\n", "f.yaml:2: gateway.trusted_proxies[0]"},
		{"negative timeout", "http: {read_timeout: -1s}\n", "http.read_timeout: must not be negative"},
		{"negative upstream timeout", "gateway:\n  upstream:\n    response_header_timeout: -5s\n", "f.yaml:3: gateway.upstream.response_header_timeout: -5s is negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("f.yaml", []byte(tt.data), nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Parse(%q) = %v\nwant it to contain %q", tt.data, err, tt.want)
			}
		})
	}
}

// TestFallbackRules checks the rule rules.fallback becomes, and that a
// quota keeps the time zone of its tz= as the rule's timezone.
func TestFallbackRules(t *testing.T) {
	tests := []struct {
		fallback, alg, tz string
		window            int64
	}{
		{"100/1m", "sliding_window", "", 60},
		{"10/1s token_bucket burst=20", "token_bucket", "", 1},
		{"5000/1mo", "quota", "", rules.QuotaMonthSeconds},
		{"5000/1mo tz=Europe/Berlin", "quota", "Europe/Berlin", rules.QuotaMonthSeconds},
		{"300/1w quota tz=Asia/Tokyo", "quota", "Asia/Tokyo", rules.QuotaWeekSeconds},
		{"10/1d tz=UTC", "quota", "", rules.QuotaDaySeconds},
	}
	for _, tt := range tests {
		c, err := Parse("f.yaml", []byte("rules: {fallback: \""+tt.fallback+"\"}\n"), nil)
		if err != nil {
			t.Errorf("Parse(fallback %q) = %v", tt.fallback, err)
			continue
		}
		rs, err := c.Rules.FallbackRules()
		if err != nil || len(rs) != 1 {
			t.Errorf("FallbackRules(%q) = %+v, %v; want one rule", tt.fallback, rs, err)
			continue
		}
		r := rs[0]
		if r.KeyType != rules.KeyUserID || r.KeyValue != "*" || r.Algorithm != tt.alg || r.TimeZone != tt.tz || r.WindowSeconds != tt.window {
			t.Errorf("FallbackRules(%q) = %+v; want %s every %ds in time zone %q", tt.fallback, r, tt.alg, tt.window, tt.tz)
		}
		l, err := r.AlgorithmLimit()
		if want := sluice.MustParseLimit(tt.fallback); err != nil || l.String() != want.String() {
			t.Errorf("FallbackRules(%q) applies %v, %v; want %v", tt.fallback, l, err, want)
		}
	}
	if rs, err := (Rules{}).FallbackRules(); rs != nil || err != nil {
		t.Errorf("FallbackRules of no fallback = %v, %v; want none", rs, err)
	}
	if _, err := Parse("f.yaml", []byte("rules: {fallback: 10/1500ms}\n"), nil); err == nil || !strings.Contains(err.Error(), "whole number of seconds") {
		t.Errorf("Parse(fallback 10/1500ms) = %v, want an error about whole seconds", err)
	}
}

func TestAnchorsAndMerge(t *testing.T) {
	data := `
x-base: &base {rateLimitBy: ip, limit: 10/1m}
policies:
  - <<: *base
    name: a
  - <<: *base
    name: b
`
	// x-base is not a field: extension keys are not accepted either.
	if _, err := Parse("f.yaml", []byte(data), nil); err == nil || !strings.Contains(err.Error(), "x-base: unknown field") {
		t.Fatalf("Parse = %v", err)
	}
	data = `
policies:
  - &base {name: a, rateLimitBy: ip, limit: 10/1m}
  - <<: *base
    name: b
`
	c, err := Parse("f.yaml", []byte(data), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Policies[1].Name != "b" || c.Policies[1].Limit != "10/1m" {
		t.Errorf("merged policy = %+v", c.Policies[1])
	}
}

func TestEnvOverrides(t *testing.T) {
	env := envOf(map[string]string{
		"SLUICE_HTTP_ADDR":               ":9999",
		"SLUICE_STORE_URL":               "redis://127.0.0.1:6379/2",
		"SLUICE_STORE_TIMEOUT":           "20ms",
		"SLUICE_RULES_DB":                "alias.db",
		"SLUICE_RULES_MIGRATE_ON_START":  "false",
		"SLUICE_SHADOW_MODE":             "true",
		"SLUICE_GATEWAY_TRUSTED_PROXIES": "10.0.0.0/8, 192.168.0.1",
		"SLUICE_ADMIN_TOKENS":            "ops:0123456789abcdef0123:rw,ro:fedcba98765432100000:ro",
		"SLUICE_LOG_LEVEL":               "",
	})
	c, err := Parse("f.yaml", []byte("http: {addr: \"127.0.0.1:1\"}\nlog: {level: warn}\n"), env)
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTP.Addr != ":9999" || c.Store.StoreType() != StoreRedis || c.Store.Timeout != 20*time.Millisecond ||
		c.Rules.Database != "alias.db" || c.Rules.Migrate(false) || !c.ShadowMode || len(c.Gateway.TrustedProxies) != 2 ||
		len(c.Admin.Tokens) != 2 || !c.Admin.Tokens[1].ReadOnly || c.Log.Level != "warn" {
		t.Errorf("overrides not applied: %+v", c)
	}
	// SLUICE_RULES_DATABASE wins over the alias.
	c, err = Parse("f.yaml", nil, envOf(map[string]string{"SLUICE_RULES_DATABASE": "a.db", "SLUICE_RULES_DB": "b.db"}))
	if err != nil || c.Rules.Database != "a.db" {
		t.Errorf("rules.database = %v, %v", c.Rules.Database, err)
	}
	// A bad value names the variable, and a problem of a field the
	// environment set names the variable rather than a line.
	_, err = Parse("f.yaml", []byte("store:\n  timeout: 1s\n"), envOf(map[string]string{"SLUICE_STORE_TIMEOUT": "fast", "SLUICE_GRPC_ADDR": "nope"}))
	for _, want := range []string{`$SLUICE_STORE_TIMEOUT: store.timeout: "fast" is not a duration`, `$SLUICE_GRPC_ADDR: grpc.addr: "nope" is not host:port`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse = %v, want %q", err, want)
		}
	}
	_, err = Parse("f.yaml", nil, envOf(map[string]string{"SLUICE_ADMIN_TOKENS": "ops:short"}))
	if err == nil || !strings.Contains(err.Error(), "$SLUICE_ADMIN_TOKENS: admin.tokens:") {
		t.Errorf("bad tokens: %v", err)
	}
}

func TestEnvVars(t *testing.T) {
	seen := map[string]bool{}
	for _, ev := range EnvVars() {
		if seen[ev.Name] {
			t.Errorf("%s maps two fields", ev.Name)
		}
		seen[ev.Name] = true
	}
	for _, name := range []string{"SLUICE_STORE_URL", "SLUICE_HTTP_ADDR", "SLUICE_GRPC_ADDR", "SLUICE_ADMIN_ADDR",
		"SLUICE_RULES_DATABASE", "SLUICE_ADMIN_TOKENS", "SLUICE_STORE_CLUSTER", "SLUICE_SHADOW_MODE", "SLUICE_LOG_LEVEL"} {
		if !seen[name] {
			t.Errorf("%s is missing", name)
		}
	}
	for name := range seen {
		if strings.Contains(name, "POLICIES") || strings.Contains(name, "ROUTES") || strings.Contains(name, "DOMAINS") {
			t.Errorf("%s: lists of structures have no variable", name)
		}
	}
}

func TestAdminTokensHash(t *testing.T) {
	c, err := Parse("f.yaml", nil, envOf(map[string]string{"SLUICE_ADMIN_TOKENS": "ops:0123456789abcdef0123"}))
	if err != nil {
		t.Fatal(err)
	}
	toks, err := c.AdminTokens(nil)
	if err != nil || len(toks) != 1 {
		t.Fatalf("AdminTokens = %v, %v", toks, err)
	}
	c2, err := Parse("f.yaml", []byte("admin:\n  tokens: [{name: ops, token_env: T}]\n"), envOf(map[string]string{"T": "0123456789abcdef0123"}))
	if err != nil {
		t.Fatal(err)
	}
	toks2, err := c2.AdminTokens(envOf(map[string]string{"T": "0123456789abcdef0123"}))
	if err != nil || toks2[0].Hash != toks[0].Hash {
		t.Errorf("token_env and SLUICE_ADMIN_TOKENS hash differently: %v", err)
	}
}

func TestAliasBomb(t *testing.T) {
	// Nested descriptors, each level ten aliases of the one before: 10^8
	// descriptors once expanded.
	var b strings.Builder
	b.WriteString("envoy:\n  domains:\n")
	for level := range 8 {
		fmt.Fprintf(&b, "    - domain: d%d\n      descriptors: &l%d\n", level, level)
		for v := range 10 {
			if level == 0 {
				fmt.Fprintf(&b, "        - {key: k, value: \"%d\", rate_limit: {unit: second, requests_per_unit: 1}}\n", v)
			} else {
				fmt.Fprintf(&b, "        - {key: k, value: \"%d\", descriptors: *l%d}\n", v, level-1)
			}
		}
	}
	start := time.Now()
	_, err := Parse("f.yaml", []byte(b.String()), nil)
	if err == nil || !strings.Contains(err.Error(), "expands to more than") {
		t.Errorf("Parse = %.300v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %s", d)
	}
}

func TestIdentifierIsCEL(t *testing.T) {
	data := "policies:\n  - name: p\n    rateLimitBy: function\n    limit: 1/s\n    identifier: request.headers[\n"
	_, err := Parse("f.yaml", []byte(data), nil)
	if err == nil || !strings.Contains(err.Error(), "f.yaml:5: policies[0].identifier:") {
		t.Errorf("Parse = %v", err)
	}
}
