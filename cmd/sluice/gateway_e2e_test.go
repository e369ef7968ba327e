package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// gatewayConfig routes /api/** through an ip policy of limit per minute and
// /keyed/** through an API key, both to upstream.
func gatewayConfig(upstream string, limit int, keyHash string) string {
	return fmt.Sprintf(`policies:
  - name: per-ip
    rateLimitBy: ip
    requestsAllowed: %d
    timeWindowMinutes: 1
auth:
  header: X-API-Key
  api_keys:
    - consumer: acme
      sha256: %s
      metadata: {plan: pro}
routes:
  - path: /api/**
    upstream: %s
    policies: [per-ip]
  - path: /keyed/**
    upstream: %s
    auth: api_key
`, limit, keyHash, upstream, upstream)
}

// countingUpstream is an upstream that answers its path as JSON and
// counts its calls; it stops when the test ends.
func countingUpstream(t *testing.T) (*httptest.Server, *atomic.Int64) {
	calls := new(atomic.Int64)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"path": r.URL.Path})
	}))
	t.Cleanup(up.Close)
	return up, calls
}

// TestE2EGateway runs serve with routes: policies limit and answer with
// the RateLimit headers, over the limit the upstream is not called, API
// keys authenticate, a reload applies new limits and a bad file is rejected
// while the old routes serve.
func TestE2EGateway(t *testing.T) {
	up, calls := countingUpstream(t)

	const key = "e2e-gateway-key-0123456789"
	sum := sha256.Sum256([]byte(key))
	hash := hex.EncodeToString(sum[:])
	dir := t.TempDir()
	cfg := writeConfig(t, dir, "sluice.yaml", gatewayConfig(up.URL, 3, hash))
	p := startServe(t, dir, loopbackEnv, "--config", cfg)
	base := "http://" + p.http

	rateLimit := regexp.MustCompile(`^"per-ip";r=(\d+);t=(\d+)$`)
	for i := range 3 {
		resp, body := p.do("GET", base+"/api/things", "")
		if resp.StatusCode != 200 {
			t.Fatalf("request %d: %d %s", i+1, resp.StatusCode, body)
		}
		if got := resp.Header.Get("RateLimit-Policy"); got != `"per-ip";q=3;w=60` {
			t.Errorf("request %d: RateLimit-Policy %q", i+1, got)
		}
		m := rateLimit.FindStringSubmatch(resp.Header.Get("RateLimit"))
		if m == nil || m[1] != strconv.Itoa(2-i) {
			t.Errorf("request %d: RateLimit %q, want r=%d", i+1, resp.Header.Get("RateLimit"), 2-i)
		} else if tt, _ := strconv.Atoi(m[2]); tt < 1 || tt > 120 {
			t.Errorf("request %d: RateLimit %q: t out of 1..120 (a sliding window is whole again within two windows)", i+1, resp.Header.Get("RateLimit"))
		}
	}
	if calls.Load() != 3 {
		t.Fatalf("upstream calls: %d, want 3", calls.Load())
	}
	resp, body := p.do("GET", base+"/api/things", "")
	if resp.StatusCode != 429 || resp.Header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("4th request: %d %q %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	if ra, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || ra < 1 || ra > 120 { // a sliding window is whole again within two windows
		t.Errorf("4th request: Retry-After %q", resp.Header.Get("Retry-After"))
	}
	var prob map[string]any
	if err := json.Unmarshal(body, &prob); err != nil || prob["status"] != float64(429) {
		t.Errorf("4th request: problem %s (%v)", body, err)
	}
	if calls.Load() != 3 {
		t.Errorf("upstream calls after a 429: %d, want 3", calls.Load())
	}

	// The decision API, health and metrics stay with serve.
	if code, _, _ := p.limit("e2e:gateway", "5/1m"); code != 200 {
		t.Errorf("decision API beside the gateway: %d", code)
	}
	if resp, _ := p.do("GET", base+"/healthz", ""); resp.StatusCode != 200 {
		t.Errorf("/healthz beside the gateway: %d", resp.StatusCode)
	}
	if resp, _ := p.do("GET", base+"/nowhere", ""); resp.StatusCode != 404 {
		t.Errorf("a path no route matches: %d, want 404", resp.StatusCode)
	}

	// The policies' decisions are in the metrics.
	if _, body := p.do("GET", "http://"+p.admin+"/metrics", ""); !regexp.MustCompile(`sluice_decisions_total\{[^}]*policy="per-ip",protocol="gateway",reason="rate_limited"[^}]*\} 1`).Match(body) {
		t.Errorf("/metrics does not count the gateway's 429:\n%s", body)
	}

	// API keys.
	if resp, body := p.do("GET", base+"/keyed/x", ""); resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") == "" {
		t.Errorf("without a key: %d %s", resp.StatusCode, body)
	}
	if resp, _ := p.do("GET", base+"/keyed/x", "", "X-API-Key", "wrong-key-0123456789abc"); resp.StatusCode != 401 {
		t.Errorf("with a wrong key: %d, want 401", resp.StatusCode)
	}
	if resp, body := p.do("GET", base+"/keyed/x", "", "X-API-Key", key); resp.StatusCode != 200 {
		t.Errorf("with the key: %d %s", resp.StatusCode, body)
	}

	// Reload with a limit of 5: a new counter allowance applies at once.
	writeConfig(t, dir, "sluice.yaml", gatewayConfig(up.URL, 5, hash))
	p.signal(syscall.SIGHUP)
	p.waitLog("gateway routes applied", 10*time.Second)
	resp, body = p.do("GET", base+"/api/things", "")
	if resp.StatusCode != 200 || resp.Header.Get("RateLimit-Policy") != `"per-ip";q=5;w=60` {
		t.Errorf("after reloading 5/1m: %d %q %s", resp.StatusCode, resp.Header.Get("RateLimit-Policy"), body)
	}
	if m := rateLimit.FindStringSubmatch(resp.Header.Get("RateLimit")); m == nil || m[1] != "1" {
		t.Errorf("after reloading 5/1m: RateLimit %q, want r=1 (4 of 5 taken)", resp.Header.Get("RateLimit"))
	}

	// A bad file is rejected; the old routes serve.
	writeConfig(t, dir, "sluice.yaml", gatewayConfig(up.URL, 5, hash)+"  - path: /bad\n    upstream: ftp://x\n")
	p.signal(syscall.SIGHUP)
	p.waitLog("rejected the new configuration", 10*time.Second)
	p.waitLog("sluice.yaml:20: routes[2].upstream", time.Second)
	if resp, _ := p.do("GET", base+"/api/things", ""); resp.StatusCode != 200 || resp.Header.Get("RateLimit-Policy") != `"per-ip";q=5;w=60` {
		t.Errorf("after a rejected file: %d %q, want the 5th of the 5/1m policy", resp.StatusCode, resp.Header.Get("RateLimit-Policy"))
	}
	if resp, _ := p.do("GET", base+"/api/things", ""); resp.StatusCode != 429 {
		t.Errorf("after a rejected file, the 6th: %d, want 429", resp.StatusCode)
	}
	if resp, _ := p.do("GET", base+"/keyed/x", "", "X-API-Key", key); resp.StatusCode != 200 {
		t.Errorf("keyed route after a rejected file: %d", resp.StatusCode)
	}
	p.signal(syscall.SIGTERM)
	if code := p.wait(20 * time.Second); code != 0 {
		t.Errorf("exit code: %d", code)
	}
}

// TestE2EGatewayKeyDatabase turns auth.database on: a key created through
// the admin listener's /api/api-keys authenticates on an api_key route
// (whose user policy counts per consumer), and can be deleted.
func TestE2EGatewayKeyDatabase(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("ok"))
	}))
	defer up.Close()
	const token = "e2e-keydb-admin-token-0123"
	sum := sha256.Sum256([]byte(token))
	dir := t.TempDir()
	cfg := writeConfig(t, dir, "sluice.yaml", fmt.Sprintf(`admin:
  tokens:
    - {name: ops, sha256: %s}
auth:
  database: true
policies:
  - {name: per-user, rateLimitBy: user, limit: 2/1m}
routes:
  - {path: /api/**, upstream: %s, auth: api_key, policies: [per-user]}
`, hex.EncodeToString(sum[:]), up.URL))
	p := startServe(t, dir, loopbackEnv, "--config", cfg)
	keys := "http://" + p.admin + "/api/api-keys"

	if resp, _ := p.do("POST", keys, `{"consumer":"acme"}`); resp.StatusCode != 401 {
		t.Errorf("creating a key without the admin token: %d, want 401", resp.StatusCode)
	}
	resp, body := p.do("POST", keys, `{"consumer":"acme","metadata":{"plan":"pro"}}`, "Authorization", "Bearer "+token)
	var k struct{ ID, Key string }
	if resp.StatusCode != 201 || json.Unmarshal(body, &k) != nil || k.Key == "" {
		t.Fatalf("creating a key: %d %s", resp.StatusCode, body)
	}
	api := "http://" + p.http + "/api/x"
	if resp, _ := p.do("GET", api, ""); resp.StatusCode != 401 {
		t.Errorf("without a key: %d, want 401", resp.StatusCode)
	}
	for i, want := range []int{200, 200, 429} {
		if resp, body := p.do("GET", api, "", "Authorization", "Bearer "+k.Key); resp.StatusCode != want {
			t.Errorf("call %d with the database key: %d %s, want %d", i+1, resp.StatusCode, body, want)
		}
	}
	if resp, _ := p.do("DELETE", keys+"/"+k.ID, "", "Authorization", "Bearer "+token); resp.StatusCode != 204 {
		t.Fatalf("deleting the key: %d", resp.StatusCode)
	}
	p.signal(syscall.SIGTERM)
	if code := p.wait(20 * time.Second); code != 0 {
		t.Errorf("exit code: %d", code)
	}
}

// TestE2EGatewayUpstreamTimeout: gateway.upstream.response_header_timeout
// from the file bounds the wait for a slow upstream, which answers 504.
func TestE2EGatewayUpstreamTimeout(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	}))
	defer up.Close()
	dir := t.TempDir()
	cfg := writeConfig(t, dir, "sluice.yaml", fmt.Sprintf(`gateway:
  upstream: {response_header_timeout: 300ms}
routes:
  - path: /slow
    upstream: %s
`, up.URL))
	p := startServe(t, dir, loopbackEnv, "--config", cfg)
	start := time.Now()
	resp, body := p.do("GET", "http://"+p.http+"/slow", "")
	if took := time.Since(start); resp.StatusCode != http.StatusGatewayTimeout || took > 5*time.Second {
		t.Fatalf("slow upstream: %d after %v: %s", resp.StatusCode, took, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("504 Content-Type %q: %s", ct, body)
	}
}
