package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	sluicev1 "github.com/sluicehq/sluice/proto/sluice/v1"
)

// TestE2EEmbeddedDefault starts `sluice serve` as a new user would, with no
// configuration in an empty directory, and drives it over HTTP and gRPC.
func TestE2EEmbeddedDefault(t *testing.T) {
	dir := t.TempDir()
	p := startServe(t, dir, loopbackEnv)

	if _, err := os.Stat(filepath.Join(dir, "sluice.db")); err != nil {
		t.Errorf("the embedded default did not create sluice.db: %v", err)
	}
	if !strings.Contains(p.out.String(), "— try: curl -s -XPOST localhost:") {
		t.Errorf("the banner does not say how to try it:\n%s", p.out.String())
	}

	// Decisions: 2 per minute, then 429 with Retry-After. The sliding window
	// frees a slot once half of the previous window's weight has slid out,
	// so the wait can be up to a window and a half.
	for i, want := range []int{200, 200, 429} {
		code, h, d := p.limit("e2e:bar", "2/1m")
		if code != want {
			t.Fatalf("call %d: %d %+v, want %d", i+1, code, d, want)
		}
		if code == 429 {
			ra, err := strconv.Atoi(h.Get("Retry-After"))
			if err != nil || ra < 1 || ra > 90 || d.Allowed || d.Reason != "rate_limited" {
				t.Errorf("429: Retry-After %q, %+v", h.Get("Retry-After"), d)
			}
		}
	}
	// Reset clears the counter.
	if resp, body := p.post("/v1/reset", `{"key":"e2e:bar"}`); resp.StatusCode != 204 {
		t.Errorf("reset: %d %s", resp.StatusCode, body)
	}
	if code, _, _ := p.limit("e2e:bar", "2/1m"); code != 200 {
		t.Errorf("after reset: %d", code)
	}
	// Bad input is a 400, never a 500.
	if resp, body := p.post("/v1/limit", `{"key":"x","limit":"abc"}`); resp.StatusCode != 400 {
		t.Errorf("bad limit: %d %s", resp.StatusCode, body)
	}

	// The same counters over gRPC.
	conn := p.grpcConn()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	lim := sluicev1.NewLimiterClient(conn)
	var allowed []bool
	for range 3 {
		resp, err := lim.Limit(ctx, &sluicev1.LimitRequest{Spec: &sluicev1.LimitSpec{Key: "e2e:grpc", Limit: "2/1m"}})
		if err != nil {
			t.Fatalf("gRPC Limit: %v", err)
		}
		allowed = append(allowed, resp.GetDecision().GetAllowed())
	}
	if allowed[0] != true || allowed[1] != true || allowed[2] != false {
		t.Errorf("gRPC decisions on 2/1m: %v", allowed)
	}
	if _, err := lim.Limit(ctx, &sluicev1.LimitRequest{Spec: &sluicev1.LimitSpec{Key: "x", Limit: "abc"}}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("gRPC bad limit: %v", err)
	}
	hr, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil || hr.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("gRPC health: %v %v", hr, err)
	}

	// Health, readiness and metrics.
	resp, body := p.do("GET", "http://"+p.http+"/readyz", "")
	var rd struct{ Checks map[string]string }
	if resp.StatusCode != 200 || json.Unmarshal(body, &rd) != nil || rd.Checks["store"] != "ok" || rd.Checks["rules"] != "ok" {
		t.Errorf("readyz: %d %s", resp.StatusCode, body)
	}
	resp, body = p.do("GET", "http://"+p.http+"/metrics", "")
	if resp.StatusCode != 200 || !strings.Contains(string(body), "sluice_decisions_total") {
		t.Errorf("metrics: %d, no sluice_decisions_total", resp.StatusCode)
	}
	// Without tokens the admin API is off; pprof is off by default.
	if resp, _ := p.do("GET", "http://"+p.admin+"/api/rate-rules", ""); resp.StatusCode != 503 {
		t.Errorf("admin API without tokens: %d, want 503", resp.StatusCode)
	}
	if resp, _ := p.do("GET", "http://"+p.admin+"/debug/pprof/", ""); resp.StatusCode != 404 {
		t.Errorf("pprof by default: %d, want 404", resp.StatusCode)
	}

	p.signal(syscall.SIGTERM)
	if code := p.wait(20 * time.Second); code != 0 {
		t.Errorf("exit code after SIGTERM: %d", code)
	}
}

// TestE2ERulesFromCLI adds a rule with `sluice rules` to the database serve
// uses, and serve applies it through /v1/rules/check.
func TestE2ERulesFromCLI(t *testing.T) {
	dir := t.TempDir()
	if code, _, errOut := runSluice(t, dir, nil, "migrate"); code != 0 {
		t.Fatalf("sluice migrate: %d %s", code, errOut)
	}
	code, _, errOut := runSluice(t, dir, nil, "rules", "add", "--key-type", "user_id", "--key-value", "alice", "--limit", "2", "--window", "60")
	if code != 0 {
		t.Fatalf("sluice rules add: %d %s", code, errOut)
	}
	p := startServe(t, dir, loopbackEnv)
	var codes []int
	for range 3 {
		resp, body := p.post("/v1/rules/check", `{"user_id":"alice"}`)
		if resp.StatusCode != 200 && resp.StatusCode != 429 {
			t.Fatalf("rules check: %d %s", resp.StatusCode, body)
		}
		codes = append(codes, resp.StatusCode)
	}
	if codes[0] != 200 || codes[1] != 200 || codes[2] != 429 {
		t.Errorf("rule user_id alice 2/60s: %v", codes)
	}
}

// TestE2EAdminAPI manages rules through the admin API with a token from
// SLUICE_ADMIN_TOKENS, and the change applies at once.
func TestE2EAdminAPI(t *testing.T) {
	dir := t.TempDir()
	const secret = "e2e-secret-0123456789"
	p := startServe(t, dir, append(loopbackEnv, "SLUICE_ADMIN_TOKENS=ops:"+secret+":rw,viewer:e2e-viewer-0123456789:ro"))
	admin := "http://" + p.admin + "/api/rate-rules"
	rule := `{"key_type":"ip","key_value":"203.0.113.0/24","limit":1,"window_seconds":60,"enabled":true}`
	if resp, _ := p.do("POST", admin, rule); resp.StatusCode != 401 {
		t.Errorf("no token: %d, want 401", resp.StatusCode)
	}
	if resp, _ := p.do("POST", admin, rule, "Authorization", "Bearer e2e-viewer-0123456789"); resp.StatusCode != 403 {
		t.Errorf("read-only token: %d, want 403", resp.StatusCode)
	}
	if resp, body := p.do("POST", admin, rule, "Authorization", "Bearer "+secret); resp.StatusCode != 201 {
		t.Fatalf("create: %d %s", resp.StatusCode, body)
	}
	// The resolver reloads in the background after the change: within
	// moments the rule (1 per minute) denies.
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, _ := p.post("/v1/rules/check", `{"ip":"203.0.113.9"}`)
		if resp.StatusCode == 429 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a rule created through the admin API never denied: last %d", resp.StatusCode)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
