package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/servicetest"
	sluicev1 "github.com/sluicehq/sluice/proto/sluice/v1"
	"github.com/sluicehq/sluice/rules/repotest"
)

// TestE2ERedisPostgres runs two `sluice serve` processes as a production
// deployment would: counters in Redis (shared by both), rules in
// PostgreSQL (migrated first with `sluice migrate`), an admin token from
// the environment. A limit is enforced across both instances, and a rule
// created through one instance's admin API applies on the other.
func TestE2ERedisPostgres(t *testing.T) {
	redisAddr := needRedis(t)
	pg := repotest.PostgresURL(t)
	dir := t.TempDir()
	if code, out, errOut := runSluice(t, dir, nil, "migrate", "--db", pg); code != 0 {
		t.Fatalf("sluice migrate: %d %s %s", code, out, errOut)
	}
	prefix := uniquePrefix(t, redisAddr)
	cfg := writeConfig(t, dir, "sluice.yaml", fmt.Sprintf(`
store:
  type: redis
  url: redis://%s/0
  prefix: %s
  timeout: 500ms
rules:
  database: %q
  cache_ttl: 30s
admin:
  tokens:
    - name: ops
      token_env: E2E_OPS_TOKEN
log:
  format: text
`, redisAddr, prefix, pg))
	const secret = "e2e-ops-secret-0123456789"
	env := append(loopbackEnv, "E2E_OPS_TOKEN="+secret)
	if code, out, errOut := runSluice(t, dir, env, "check", cfg); code != 0 {
		t.Fatalf("sluice check: %d %s %s", code, out, errOut)
	}
	a := startServe(t, dir, env, "--config", cfg)
	b := startServe(t, dir, env) // ./sluice.yaml is found without --config

	// 3 per minute, across both instances.
	var codes []int
	for i := range 4 {
		p := a
		if i%2 == 1 {
			p = b
		}
		code, _, _ := p.limit("e2e:shared", "3/1m")
		codes = append(codes, code)
	}
	if fmt.Sprint(codes) != "[200 200 200 429]" {
		t.Errorf("3/1m alternating between two instances: %v", codes)
	}
	// A reset frees the key for every instance (the one that answered the
	// 429 resets, since its block cache remembers the denial until the
	// retry time; see TestE2EBlockCacheIsPerProcess), here a over gRPC.
	if resp, body := b.post("/v1/reset", `{"key":"e2e:shared"}`); resp.StatusCode != 204 {
		t.Fatalf("reset: %d %s", resp.StatusCode, body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := sluicev1.NewLimiterClient(a.grpcConn()).Limit(ctx, &sluicev1.LimitRequest{Spec: &sluicev1.LimitSpec{Key: "e2e:shared", Limit: "3/1m"}})
	if err != nil || !resp.GetDecision().GetAllowed() || resp.GetDecision().GetRemaining() != 2 {
		t.Errorf("gRPC on the other instance after reset: %v %v", resp, err)
	}

	// A rule created on a's admin API applies on b (PostgreSQL announces it).
	rule := `{"key_type":"user_id","key_value":"e2e-bob","limit":1,"window_seconds":60,"enabled":true}`
	if resp, body := a.do("POST", "http://"+a.admin+"/api/rate-rules", rule, "Authorization", "Bearer "+secret); resp.StatusCode != 201 {
		t.Fatalf("create rule: %d %s", resp.StatusCode, body)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, _ := b.post("/v1/rules/check", `{"user_id":"e2e-bob"}`)
		if resp.StatusCode == 429 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the rule never applied on the other instance: last %d", resp.StatusCode)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, p := range []*proc{a, b} {
		if resp, body := p.do("GET", "http://"+p.http+"/readyz", ""); resp.StatusCode != 200 {
			t.Errorf("readyz: %d %s", resp.StatusCode, body)
		}
	}
	a.signal(syscall.SIGTERM)
	b.signal(syscall.SIGINT)
	for _, p := range []*proc{a, b} {
		if code := p.wait(20 * time.Second); code != 0 {
			t.Errorf("exit code: %d", code)
		}
	}
}

// TestE2EBlockCacheIsPerProcess documents what the block cache means
// across instances: an instance that answered a denial keeps denying the
// key from memory (reason cache_block) until its retry time, even after
// another instance reset the key.
func TestE2EBlockCacheIsPerProcess(t *testing.T) {
	redisAddr := needRedis(t)
	dir := t.TempDir()
	env := append(loopbackEnv, "SLUICE_STORE_URL=redis://"+redisAddr, "SLUICE_STORE_PREFIX="+uniquePrefix(t, redisAddr))
	a, b := startServe(t, dir, env), startServe(t, dir, env)
	a.limit("e2e:cache", "1/1m")
	if code, _, d := b.limit("e2e:cache", "1/1m"); code != 429 || d.Reason != "rate_limited" {
		t.Fatalf("second call: %d %+v", code, d)
	}
	if resp, _ := a.post("/v1/reset", `{"key":"e2e:cache"}`); resp.StatusCode != 204 {
		t.Fatalf("reset: %d", resp.StatusCode)
	}
	if code, _, d := b.limit("e2e:cache", "1/1m"); code != 429 || d.Reason != "cache_block" {
		t.Errorf("after a reset elsewhere: %d %+v, want 429 cache_block", code, d)
	}
	if code, _, _ := a.limit("e2e:cache", "1/1m"); code != 200 {
		t.Errorf("the instance that reset: %d, want 200", code)
	}
}

// TestE2EPostgresNotMigrated: serve refuses a PostgreSQL database whose
// schema is missing, saying to run `sluice migrate`.
func TestE2EPostgresNotMigrated(t *testing.T) {
	pg := repotest.PostgresURL(t)
	dir := t.TempDir()
	code, _, errOut := runSluice(t, dir, append(loopbackEnv, "SLUICE_RULES_DATABASE="+pg), "serve")
	if code != 1 || !strings.Contains(errOut, "sluice migrate") {
		t.Errorf("serve on an empty PostgreSQL: exit %d, stderr %q", code, errOut)
	}
}

// TestE2ERulesDatabaseDownAtStart: serve starts while its PostgreSQL does
// not answer, decides /v1/rules/check by rules.fallback (fallback: true)
// and is not ready; once the database answers, the stored rules apply
// without a restart and it is ready.
func TestE2ERulesDatabaseDownAtStart(t *testing.T) {
	pg := repotest.PostgresURL(t)
	dir := t.TempDir()
	if code, out, errOut := runSluice(t, dir, nil, "migrate", "--db", pg); code != 0 {
		t.Fatalf("sluice migrate: %d %s %s", code, out, errOut)
	}
	if code, out, errOut := runSluice(t, dir, []string{"SLUICE_RULES_DB=" + pg}, "rules", "add",
		"--key-type", "user_id", "--key-value", "*", "--limit", "5", "--window", "60"); code != 0 {
		t.Fatalf("sluice rules create: %d %s %s", code, out, errOut)
	}
	proxy, dsn := servicetest.ProxyURL(t, pg)
	proxy.SetDown(true)
	cfg := writeConfig(t, dir, "sluice.yaml", fmt.Sprintf("rules:\n  database: %q\n  fallback: 2/1m\n", dsn))
	p := startServe(t, dir, loopbackEnv, "--config", cfg)

	check := func() map[string]any {
		resp, body := p.post("/v1/rules/check", `{"user_id":"e2e-carol"}`)
		var d map[string]any
		if err := json.Unmarshal(body, &d); err != nil || (resp.StatusCode != 200 && resp.StatusCode != 429) {
			t.Fatalf("rules check: %d %s", resp.StatusCode, body)
		}
		return d
	}
	if d := check(); d["fallback"] != true || d["limit"] != float64(2) {
		t.Fatalf("with the database down: %v, want the fallback of 2", d)
	}
	if resp, body := p.do("GET", "http://"+p.http+"/readyz", ""); resp.StatusCode != 503 {
		t.Errorf("readyz with the database down: %d %s", resp.StatusCode, body)
	}

	proxy.SetDown(false)
	deadline := time.Now().Add(30 * time.Second)
	for {
		d := check()
		if d["fallback"] == false && d["limit"] == float64(5) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("30s after the database came back: %v\n%s", d, p.out.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	if resp, body := p.do("GET", "http://"+p.http+"/readyz", ""); resp.StatusCode != 200 {
		t.Errorf("readyz once the database answers: %d %s", resp.StatusCode, body)
	}
}
