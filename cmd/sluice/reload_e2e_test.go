package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	ratelimitv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/common/ratelimit/v3"
	rlsv3 "github.com/envoyproxy/go-control-plane/envoy/service/ratelimit/v3"
)

// reloadConfig is a configuration with an Envoy limit and a shadow mode.
func reloadConfig(envoyLimit string, shadow bool) string {
	return fmt.Sprintf(`shadow_mode: %v
envoy:
  domains:
    - domain: e2e
      descriptors:
        - key: user
          rate_limit: {limit: %q}
`, shadow, envoyLimit)
}

// envoyCodes asks Envoy's rate-limit service n times for user=value and
// returns the overall codes in order, as "OK" and "OVER_LIMIT".
func envoyCodes(t *testing.T, c rlsv3.RateLimitServiceClient, value string, n int) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var codes []string
	for range n {
		resp, err := c.ShouldRateLimit(ctx, &rlsv3.RateLimitRequest{
			Domain: "e2e",
			Descriptors: []*ratelimitv3.RateLimitDescriptor{{
				Entries: []*ratelimitv3.RateLimitDescriptor_Entry{{Key: "user", Value: value}},
			}},
		})
		if err != nil {
			t.Fatalf("ShouldRateLimit: %v", err)
		}
		codes = append(codes, resp.GetOverallCode().String())
	}
	return strings.Join(codes, " ")
}

// TestE2EReload reloads the configuration on SIGHUP and on a change of
// the file: a good file applies (Envoy limits, shadow mode), a bad one is
// rejected with its lines and the old configuration keeps serving, and a
// change that needs a restart is kept back with a warning.
func TestE2EReload(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir, "sluice.yaml", reloadConfig("2/1m", false))
	p := startServe(t, dir, loopbackEnv, "--config", cfg)
	envoy := rlsv3.NewRateLimitServiceClient(p.grpcConn())

	if got := envoyCodes(t, envoy, "a", 3); got != "OK OK OVER_LIMIT" {
		t.Errorf("Envoy 2/1m: %s", got)
	}
	p.limit("e2e:reload", "1/1m")
	if code, _, _ := p.limit("e2e:reload", "1/1m"); code != 429 {
		t.Fatalf("before reload: %d, want 429", code)
	}

	admin := "http://" + p.admin + "/api/rate-rules"
	if resp, _ := p.do("GET", admin, ""); resp.StatusCode != 503 {
		t.Errorf("admin API without tokens: %d, want 503", resp.StatusCode)
	}

	// A good file, on SIGHUP: new Envoy limits, shadow mode, an admin token.
	const secret = "e2e-reload-secret-0123"
	sum := sha256.Sum256([]byte(secret))
	writeConfig(t, dir, "sluice.yaml", reloadConfig("4/1m", true)+
		"admin:\n  tokens:\n    - {name: ops, sha256: "+hex.EncodeToString(sum[:])+"}\n")
	p.signal(syscall.SIGHUP)
	p.waitLog("config: reloaded", 10*time.Second)
	if got := envoyCodes(t, envoy, "b", 5); got != "OK OK OK OK OVER_LIMIT" {
		t.Errorf("Envoy after reloading 4/1m: %s", got)
	}
	if resp, _ := p.do("GET", admin, "", "Authorization", "Bearer "+secret); resp.StatusCode != 200 {
		t.Errorf("admin API with a token added by reload: %d, want 200", resp.StatusCode)
	}
	if code, _, d := p.limit("e2e:reload", "1/1m"); code != 200 || !d.Shadow || (d.Reason != "rate_limited" && d.Reason != "cache_block") {
		t.Errorf("shadow mode after reload: %d %+v", code, d)
	}

	// A bad file: rejected with its lines, the old configuration serves.
	writeConfig(t, dir, "sluice.yaml", "shadow_mode: maybe\nenvoy:\n  domains:\n    - domain: e2e\n      descriptors:\n        - key: user\n          rate_limit: {unit: fortnight, requests_per_unit: 1}\n")
	p.signal(syscall.SIGHUP)
	p.waitLog("rejected the new configuration", 10*time.Second)
	for _, want := range []string{`sluice.yaml:1: shadow_mode: \"maybe\" is not a boolean`, "sluice.yaml:7: envoy.domains[0].descriptors[0].rate_limit.unit"} {
		if !strings.Contains(p.out.String(), want) {
			t.Errorf("the rejection does not say %q:\n%s", want, p.out.String())
		}
	}
	if got := envoyCodes(t, envoy, "c", 5); got != "OK OK OK OK OVER_LIMIT" {
		t.Errorf("Envoy after a rejected file: %s, want the previous 4/1m", got)
	}
	if code, _, d := p.limit("e2e:reload", "1/1m"); code != 200 || !d.Shadow {
		t.Errorf("shadow mode after a rejected file: %d %+v", code, d)
	}

	// A change of the file is picked up without a signal; the store needs
	// a restart and keeps its settings.
	before := strings.Count(p.out.String(), "config: reloaded")
	writeConfig(t, dir, "sluice.yaml", "store: {max_keys: 1000}\n"+reloadConfig("4/1m", false))
	deadline := time.Now().Add(10 * time.Second)
	for strings.Count(p.out.String(), "config: reloaded") == before {
		if time.Now().After(deadline) {
			t.Fatalf("the changed file was not reloaded:\n%s", p.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.waitLog("store changed, which needs a restart", time.Second)
	if code, _, d := p.limit("e2e:reload", "1/1m"); code != 429 || d.Shadow {
		t.Errorf("after turning shadow mode off: %d %+v", code, d)
	}
	p.signal(syscall.SIGTERM)
	if code := p.wait(20 * time.Second); code != 0 {
		t.Errorf("exit code: %d", code)
	}
}
