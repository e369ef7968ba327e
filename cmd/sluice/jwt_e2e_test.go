package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// jwtE2EConfig protects /api/** with JWTs verified by the ES256 public key
// in pemFile (key ID k1), with an issuer, an audience, a leeway of 5s and
// the subject read from the "uid" claim, and counts 2 requests a minute
// per user.
func jwtE2EConfig(upstream, pemFile string) string {
	return fmt.Sprintf(`auth:
  jwt:
    issuer: https://id.e2e.example/
    audience: [sluice-e2e]
    leeway: 5s
    subject_claim: uid
    keys:
      - {id: k1, algorithm: ES256, pem_file: %s}
policies:
  - name: per-user
    rateLimitBy: user
    limit: 2/1m
routes:
  - path: /api/**
    upstream: %s
    auth: jwt
    policies: [per-user]
  - path: /open/**
    upstream: %s
`, pemFile, upstream, upstream)
}

// TestE2EGatewayJWT runs serve with a route that needs a JWT verified by a
// PEM public key from the file: tokens missing, forged (another key, alg
// none, algorithm confusion), expired, not yet valid, for another issuer or
// audience, or without the subject claim get 401 problems and never reach
// the upstream nor take from a counter; valid tokens pass, counted per
// user (by the configured subject claim) with the RateLimit headers, and
// the third of a user's requests in the minute gets 429 with Retry-After
// while another user still passes.
func TestE2EGatewayJWT(t *testing.T) {
	up, calls := countingUpstream(t)

	signer, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&signer.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	dir := t.TempDir()
	pemFile := writeConfig(t, dir, "jwt-public.pem", string(pubPEM))
	cfg := writeConfig(t, dir, "sluice.yaml", jwtE2EConfig(up.URL, pemFile))

	// The file is valid as `sluice check` sees it (it reads the PEM file).
	if code, stdout, stderr := runSluice(t, dir, nil, "check", "--no-env", filepath.Base(cfg)); code != 0 {
		t.Fatalf("sluice check: exit %d\n%s%s", code, stdout, stderr)
	}

	p := startServe(t, dir, loopbackEnv, "--config", cfg)
	api := "http://" + p.http + "/api/things"

	now := time.Now()
	// claims returns valid claims for the user uid, with sub set to sub.
	claims := func(uid, sub string) jwt.MapClaims {
		return jwt.MapClaims{
			"iss": "https://id.e2e.example/",
			"aud": "sluice-e2e",
			"sub": sub,
			"uid": uid,
			"iat": now.Unix(),
			"exp": now.Add(5 * time.Minute).Unix(),
		}
	}
	// with returns c with the claims of kv set ("-" as a value deletes).
	with := func(c jwt.MapClaims, kv ...any) jwt.MapClaims {
		out := jwt.MapClaims{}
		for k, v := range c {
			out[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == "-" {
				delete(out, kv[i].(string))
				continue
			}
			out[kv[i].(string)] = kv[i+1]
		}
		return out
	}
	sign := func(method jwt.SigningMethod, key any, kid string, c jwt.MapClaims) string {
		t.Helper()
		tok := jwt.NewWithClaims(method, c)
		if kid != "" {
			tok.Header["kid"] = kid
		}
		s, err := tok.SignedString(key)
		if err != nil {
			t.Fatalf("signing %s: %v", method.Alg(), err)
		}
		return s
	}
	es256 := func(c jwt.MapClaims) string { return sign(jwt.SigningMethodES256, signer, "k1", c) }
	bearer := func(tok string) []string { return []string{"Authorization", "Bearer " + tok} }

	// unauthenticated checks a 401 answer: problem+json of type
	// unauthenticated, with the Bearer challenge (and error="invalid_token"
	// when credentials were sent but are wrong).
	unauthenticated := func(name string, invalid bool, header ...string) {
		t.Helper()
		before := calls.Load()
		resp, body := p.do("GET", api, "", header...)
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s: %d %s, want 401", name, resp.StatusCode, body)
			return
		}
		if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
			t.Errorf("%s: Content-Type %q, want application/problem+json", name, ct)
		}
		want := `Bearer realm="sluice"`
		if invalid {
			want += `, error="invalid_token"`
		}
		if got := resp.Header.Get("WWW-Authenticate"); got != want {
			t.Errorf("%s: WWW-Authenticate %q, want %q", name, got, want)
		}
		var prob struct {
			Type   string `json:"type"`
			Status int    `json:"status"`
			Detail string `json:"detail"`
		}
		if err := json.Unmarshal(body, &prob); err != nil || prob.Type != "urn:sluice:problem:unauthenticated" || prob.Status != 401 || prob.Detail == "" {
			t.Errorf("%s: problem %s (%v)", name, body, err)
		}
		if resp.Header.Get("RateLimit") != "" || resp.Header.Get("RateLimit-Policy") != "" {
			t.Errorf("%s: a 401 carries rate-limit headers: %q %q", name, resp.Header.Get("RateLimit-Policy"), resp.Header.Get("RateLimit"))
		}
		if n := calls.Load(); n != before {
			t.Errorf("%s: the upstream was called (%d times)", name, n-before)
		}
	}

	alice := claims("alice", "shared-sub")
	unauthenticated("no token", false)
	unauthenticated("Basic credentials", false, "Authorization", "Basic YWxpY2U6c2VjcmV0")
	unauthenticated("empty Bearer", true, "Authorization", "Bearer ")
	unauthenticated("not a JWT", true, bearer("not.a.jwt")...)
	unauthenticated("token signed by another key", true, bearer(sign(jwt.SigningMethodES256, other, "k1", alice))...)
	unauthenticated("token signed by another key, no kid", true, bearer(sign(jwt.SigningMethodES256, other, "", alice))...)
	unauthenticated("unknown kid", true, bearer(sign(jwt.SigningMethodES256, signer, "k2", alice))...)
	unauthenticated("alg none", true, bearer(sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "k1", alice))...)
	unauthenticated("HS256 with the public key as secret", true, bearer(sign(jwt.SigningMethodHS256, pubPEM, "k1", alice))...)
	unauthenticated("expired token (1h ago)", true, bearer(es256(with(alice, "exp", now.Add(-time.Hour).Unix(), "iat", now.Add(-2*time.Hour).Unix())))...)
	// 20s past exp is within the default leeway (30s) but not the
	// configured 5s: the file's leeway applies.
	unauthenticated("expired token (20s ago, leeway 5s)", true, bearer(es256(with(alice, "exp", now.Add(-20*time.Second).Unix(), "iat", now.Add(-time.Minute).Unix())))...)
	unauthenticated("token without exp", true, bearer(es256(with(alice, "exp", "-")))...)
	unauthenticated("token not valid yet", true, bearer(es256(with(alice, "nbf", now.Add(time.Hour).Unix())))...)
	unauthenticated("wrong issuer", true, bearer(es256(with(alice, "iss", "https://evil.example/")))...)
	unauthenticated("no issuer", true, bearer(es256(with(alice, "iss", "-")))...)
	unauthenticated("wrong audience", true, bearer(es256(with(alice, "aud", "other-api")))...)
	unauthenticated("wrong audiences", true, bearer(es256(with(alice, "aud", []string{"other-api", "sluice"})))...)
	unauthenticated("no audience", true, bearer(es256(with(alice, "aud", "-")))...)
	unauthenticated("no uid (the subject claim), only sub", true, bearer(es256(with(alice, "uid", "-")))...)
	unauthenticated("tampered payload", true, bearer(tamper(t, es256(alice), "uid", "bob"))...)
	if n := calls.Load(); n != 0 {
		t.Fatalf("upstream calls after only rejected tokens: %d, want 0", n)
	}

	// A route without auth is not affected by the JWT configuration.
	if resp, body := p.do("GET", "http://"+p.http+"/open/x", ""); resp.StatusCode != 200 {
		t.Errorf("route without auth: %d %s", resp.StatusCode, body)
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("upstream calls after the open route: %d, want 1", n)
	}

	// alice passes twice, with two tokens of different sub but the same uid
	// (the configured subject claim): one counter. None of the rejected
	// tokens above took from it. The second token has no kid and an expiry
	// 1s past (within the 5s leeway, with room for a slow machine).
	rateLimit := regexp.MustCompile(`^"per-user";r=(\d+);t=(\d+)$`)
	passes := func(name, tok string, remaining int) {
		t.Helper()
		before := calls.Load()
		resp, body := p.do("GET", api, "", bearer(tok)...)
		if resp.StatusCode != 200 {
			t.Errorf("%s: %d %s, want 200", name, resp.StatusCode, body)
			return
		}
		if !strings.Contains(string(body), `"path":"/api/things"`) {
			t.Errorf("%s: body %s is not the upstream's", name, body)
		}
		if got := resp.Header.Get("RateLimit-Policy"); got != `"per-user";q=2;w=60` {
			t.Errorf("%s: RateLimit-Policy %q", name, got)
		}
		m := rateLimit.FindStringSubmatch(resp.Header.Get("RateLimit"))
		if m == nil || m[1] != strconv.Itoa(remaining) {
			t.Errorf("%s: RateLimit %q, want r=%d", name, resp.Header.Get("RateLimit"), remaining)
		} else if tt, _ := strconv.Atoi(m[2]); tt < 1 || tt > 120 {
			t.Errorf("%s: RateLimit %q: t out of 1..120", name, resp.Header.Get("RateLimit"))
		}
		if n := calls.Load(); n != before+1 {
			t.Errorf("%s: upstream calls went from %d to %d, want one more", name, before, n)
		}
	}
	passes("alice 1", es256(alice), 1)
	passes("alice 2 (other sub, no kid, expired within the leeway)",
		sign(jwt.SigningMethodES256, signer, "", with(claims("alice", "another-sub"), "exp", time.Now().Add(-time.Second).Unix())), 0)

	resp, body := p.do("GET", api, "", bearer(es256(alice))...)
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("alice 3: %d %s, want 429", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("alice 3: Content-Type %q, want application/problem+json", ct)
	}
	ra, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	if err != nil || ra < 1 || ra > 120 { // a sliding window is whole again within two windows
		t.Errorf("alice 3: Retry-After %q", resp.Header.Get("Retry-After"))
	}
	var prob struct {
		Type       string `json:"type"`
		Status     int    `json:"status"`
		Policy     string `json:"policy"`
		Reason     string `json:"reason"`
		Limit      int64  `json:"limit"`
		RetryAfter *int64 `json:"retry_after"`
	}
	if err := json.Unmarshal(body, &prob); err != nil || prob.Type != "urn:sluice:problem:rate-limited" || prob.Status != 429 ||
		prob.Policy != "per-user" || prob.Reason != "rate_limited" || prob.Limit != 2 || prob.RetryAfter == nil || *prob.RetryAfter != int64(ra) {
		t.Errorf("alice 3: problem %s (%v), want rate-limited by per-user, limit 2, retry_after = Retry-After %d", body, err, ra)
	}
	if m := rateLimit.FindStringSubmatch(resp.Header.Get("RateLimit")); m == nil || m[1] != "0" {
		t.Errorf("alice 3: RateLimit %q, want r=0", resp.Header.Get("RateLimit"))
	}
	if n := calls.Load(); n != 3 {
		t.Errorf("upstream calls after alice's 429: %d, want 3 (1 open + 2 alice)", n)
	}

	// bob has a counter of his own, though his sub is alice's; his token has
	// several audiences, one of them ours.
	passes("bob 1", es256(with(claims("bob", "shared-sub"), "aud", []string{"other-api", "sluice-e2e"})), 1)
	// A numeric subject claim counts too (as its JSON text).
	passes("numeric uid 1", es256(with(alice, "uid", 42)), 1)
	// alice is still limited.
	if resp, body := p.do("GET", api, "", bearer(es256(alice))...); resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("alice 4: %d %s, want 429", resp.StatusCode, body)
	}
	if n := calls.Load(); n != 5 {
		t.Errorf("upstream calls: %d, want 5 (1 open, 2 alice, 1 bob, 1 uid 42)", n)
	}

	// The decisions are in the metrics: 4 allowed, and alice's two 429s
	// (the second may be answered from the block cache, reason
	// cache_block). The 401s were never decided.
	_, metrics := p.do("GET", "http://"+p.admin+"/metrics", "")
	decisions := func(reason string) int {
		m := regexp.MustCompile(`(?m)^sluice_decisions_total\{[^}]*policy="per-user",protocol="gateway",reason="` + reason + `"[^}]*\} (\d+)$`).FindSubmatch(metrics)
		if m == nil {
			return 0
		}
		n, _ := strconv.Atoi(string(m[1]))
		return n
	}
	if a, rl, cb := decisions("allowed"), decisions("rate_limited"), decisions("cache_block"); a != 4 || rl < 1 || rl+cb != 2 {
		t.Errorf("/metrics: per-user decisions allowed %d, rate_limited %d, cache_block %d; want 4 allowed and 2 denied:\n%s", a, rl, cb, metrics)
	}

	p.signal(syscall.SIGTERM)
	if code := p.wait(20 * time.Second); code != 0 {
		t.Errorf("exit code: %d", code)
	}
}

// tamper returns tok with the claim name of its payload set to value,
// keeping the header and the signature.
func tamper(t *testing.T, tok, name string, value any) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token %q has %d parts", tok, len(parts))
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(payload, &c); err != nil {
		t.Fatal(err)
	}
	c[name] = value
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	parts[1] = base64.RawURLEncoding.EncodeToString(b)
	return strings.Join(parts, ".")
}
