package config

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/gateway"
	"github.com/sluicehq/sluice/policy"
	"github.com/sluicehq/sluice/rules"
	"github.com/sluicehq/sluice/rules/rulesdb"
	"github.com/sluicehq/sluice/store/memory"
)

// gatewayYAML has a policy of every rateLimitBy mode, shared by two routes,
// and every kind of authentication.
const gatewayYAML = `gateway:
  trusted_proxies: [10.0.0.0/8, 192.0.2.1]
  forwarded_header: forwarded
  headers: [ietf, x]
policies:
  - {name: by-ip, rateLimitBy: ip, requestsAllowed: 3, timeWindowMinutes: 1}
  - {name: by-user, rateLimitBy: user, limit: 10/1m, quota: {requests: 100, period: month}}
  - name: by-fn
    rateLimitBy: function
    identifier: request.headers["x-customer-id"]
    timeWindowMinutes: 1
    counters: {requests: 5, compute: 50}
  - {name: by-all, rateLimitBy: all, limit: 100/s token_bucket burst=10, mode: async, cost: 2}
  - {name: by-rules, rateLimitBy: rules, deny: {ips: [203.0.113.0/24], user_agents: [bot]}}
auth:
  header: X-API-Key
  api_keys:
    - {consumer: acme, sha256: 2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae, metadata: {plan: pro}}
    - {consumer: globex, key_env: GLOBEX_KEY}
  jwt:
    issuer: https://id.example/
    keys:
      - {id: k1, algorithm: HS256, secret_env: JWT_SECRET}
      - {id: k2, algorithm: ES256, pem_file: PEMFILE}
routes:
  - {path: /ip/**, upstream: http://127.0.0.1:9, policies: [by-ip]}
  - {path: /user/**, upstream: http://127.0.0.1:9, policies: [by-ip, by-user], auth: any}
  - {path: /fn, upstream: http://127.0.0.1:9, policies: [by-fn], auth: api_key, preserve_host: true}
  - {path: /all, methods: [GET], upstream: http://127.0.0.1:9, policies: [by-all], auth: jwt}
  - {path: /rules, upstream: http://127.0.0.1:9, policies: [by-rules], auth: none}
`

var gatewayEnv = envOf(map[string]string{
	"GLOBEX_KEY": "globex-key-0123456789",
	"JWT_SECRET": "0123456789abcdef0123456789abcdef",
})

func writePEM(t *testing.T) string {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "jwt.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestGatewayRoutes(t *testing.T) {
	data := strings.Replace(gatewayYAML, "PEMFILE", writePEM(t), 1)
	c, err := Parse("sluice.yaml", []byte(data), gatewayEnv)
	if err != nil {
		t.Fatal(err)
	}
	repo, err := rulesdb.Open(context.Background(), filepath.Join(t.TempDir(), "rules.db"), rulesdb.Options{Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	defer repo.Close()
	res, err := rules.NewResolver(repo, rules.ResolverConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer res.Close()
	routes, err := c.GatewayRoutes(GatewayDeps{Env: gatewayEnv, Resolver: res})
	if err != nil {
		t.Fatal(err)
	}
	if len(routes) != 5 {
		t.Fatalf("%d routes", len(routes))
	}
	if routes[0].Policies[0] != routes[1].Policies[0] {
		t.Error("two routes naming by-ip do not share its *policy.Policy")
	}
	wantBy := []policy.By{policy.ByIP, policy.ByFunction, policy.ByAll, policy.ByRules}
	for i, rt := range []gateway.Route{routes[0], routes[2], routes[3], routes[4]} {
		if got := rt.Policies[0].By; got != wantBy[i] {
			t.Errorf("route %s: By %v, want %v", rt.Path, got, wantBy[i])
		}
	}
	if routes[1].Policies[1].By != policy.ByUser || routes[1].Policies[1].Quota.Algorithm != sluice.Quota {
		t.Errorf("by-user: %+v", routes[1].Policies[1])
	}
	if fn := routes[2].Policies[0]; fn.Func == nil || len(fn.Counters) != 2 || !routes[2].PreserveHost {
		t.Errorf("by-fn route: %+v", routes[2])
	}
	if all := routes[3].Policies[0]; all.Mode != policy.Async || all.Cost != 2 {
		t.Errorf("by-all: %+v", all)
	}
	if rl := routes[4].Policies[0]; rl.Rules != res || len(rl.Deny.IPs) != 1 || routes[4].Auth != nil {
		t.Errorf("by-rules route: %+v", routes[4])
	}
	for _, i := range []int{1, 2, 3} {
		if routes[i].Auth == nil {
			t.Errorf("route %s has no authenticator", routes[i].Path)
		}
	}
	opts := c.Gateway.PolicyOptions()
	if len(opts.TrustedProxies) != 2 || opts.ForwardedHeader != policy.HeaderForwarded || opts.Headers != policy.HeadersIETF|policy.HeadersX {
		t.Errorf("policy options: %+v", opts)
	}

	st := memory.New(memory.Config{})
	defer st.Close()
	lim := sluice.New(st, sluice.Config{})
	defer lim.Close()
	g, err := gateway.New(gateway.Config{Routes: routes, Limiter: lim, Policy: opts})
	if err != nil {
		t.Fatalf("gateway.New: %v", err)
	}
	defer g.Close()
}

func TestGatewayConfigErrors(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"policies:\n  - name: fn\n    rateLimitBy: function\n    identifier: request.headers[\n    limit: 1/s\n",
			"sluice.yaml:4: policies[0].identifier"},
		{"routes:\n  - path: /x\n    upstream: http://a\n    auth: api_key\n", "sluice.yaml:4: routes[0].auth: api_key needs auth.api_keys"},
		{"routes:\n  - path: /x\n    upstream: http://a\n    auth: jwt\n", "sluice.yaml:4: routes[0].auth: jwt needs"},
		{"routes:\n  - path: /x\n    upstream: http://a\n    auth: magic\n", `sluice.yaml:4: routes[0].auth: "magic" is not accepted`},
		{"auth:\n  api_keys:\n    - consumer: a\n      sha256: abc\n", "sluice.yaml:4: auth.api_keys[0].sha256: must be 64 hex digits"},
		{"auth:\n  api_keys:\n    - consumer: a\n      key_env: NOPE_KEY\n", "sluice.yaml:4: auth.api_keys[0].key_env: $NOPE_KEY is not set"},
		{"auth:\n  api_keys:\n    - consumer: a\n", "sluice.yaml:3: auth.api_keys[0]: needs sha256"},
		{"auth:\n  jwt:\n    keys:\n      - {algorithm: RS256, pem_file: /nonexistent.pem}\n", "sluice.yaml:4: auth.jwt.keys[0].pem_file"},
		{"auth:\n  jwt:\n    keys:\n      - {algorithm: HS256, secret_env: NOPE_SECRET}\n", "sluice.yaml:4: auth.jwt.keys[0].secret_env: $NOPE_SECRET is not set"},
		{"auth:\n  jwt:\n    jwks: {url: ftp://x}\n", "sluice.yaml:3: auth.jwt.jwks.url"},
		{"gateway:\n  headers: [ietf, off]\n", "gateway.headers[1]: off excludes"},
		{"gateway:\n  forwarded_header: via\n", `sluice.yaml:2: gateway.forwarded_header: "via" is not accepted`},
	} {
		_, err := Parse("sluice.yaml", []byte(tc.yaml), gatewayEnv)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q:\n got %v\nwant %q", tc.yaml, err, tc.want)
		}
	}
}
