package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// jwkOf returns the JWK of pub.
func jwkOf(kid, alg string, pub any) map[string]string {
	enc := base64.RawURLEncoding.EncodeToString
	switch p := pub.(type) {
	case *rsa.PublicKey:
		return map[string]string{"kty": "RSA", "kid": kid, "alg": alg, "use": "sig", "n": enc(p.N.Bytes()), "e": enc(big.NewInt(int64(p.E)).Bytes())}
	case *ecdsa.PublicKey:
		b, _ := p.Bytes()
		size := (len(b) - 1) / 2
		return map[string]string{"kty": "EC", "kid": kid, "alg": alg, "crv": p.Curve.Params().Name, "x": enc(b[1 : 1+size]), "y": enc(b[1+size:])}
	}
	panic("unsupported key")
}

// jwksServer serves a JWKS document that the test can change, counting
// fetches.
type jwksServer struct {
	*httptest.Server
	mu      sync.Mutex
	keys    []map[string]string
	status  int
	fetches atomic.Int64
}

func newJWKSServer(t *testing.T, keys ...map[string]string) *jwksServer {
	s := &jwksServer{keys: keys, status: 200}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fetches.Add(1)
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.status != 200 {
			w.WriteHeader(s.status)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": s.keys})
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) set(status int, keys ...map[string]string) {
	s.mu.Lock()
	s.status, s.keys = status, keys
	s.mu.Unlock()
}

// fakeClock is a clock the test moves.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func TestJWKSRotation(t *testing.T) {
	clock := &fakeClock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	k1, k2 := rsaKey(t), ecKey(t)
	srv := newJWKSServer(t, jwkOf("k1", "RS256", &k1.PublicKey))
	jwks, err := NewJWKS(JWKSConfig{URL: srv.URL + "/jwks.json", Client: srv.Client(), TTL: time.Hour, MinRefresh: 10 * time.Second, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	a, err := NewJWT(JWTConfig{Keys: jwks, Audience: []string{"sluice-api"}, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	ok := func(tok string) {
		t.Helper()
		if w, u := serve(t, a, bearer(tok)); w.Code != 200 || u.Subject != "alice" {
			t.Fatalf("got %d: %s", w.Code, w.Body)
		}
	}
	reject := func(tok string) {
		t.Helper()
		w, _ := serve(t, a, bearer(tok))
		wantProblem(t, w, http.StatusUnauthorized, "")
	}
	tok1 := sign(t, jwt.SigningMethodRS256, k1, "k1", claims(clock.Now()))
	tok2 := sign(t, jwt.SigningMethodES256, k2, "k2", claims(clock.Now()))

	ok(tok1)
	ok(tok1)
	if n := srv.fetches.Load(); n != 1 {
		t.Fatalf("%d fetches, want 1 (cached)", n)
	}

	// The provider rotates to k2. A k2 token is unknown, but the last
	// fetch was just now: MinRefresh holds the next fetch back.
	srv.set(200, jwkOf("k1", "RS256", &k1.PublicKey), jwkOf("k2", "ES256", &k2.PublicKey))
	reject(tok2)
	if n := srv.fetches.Load(); n != 1 {
		t.Fatalf("%d fetches, want 1 (rate-limited)", n)
	}
	clock.Add(11 * time.Second)
	ok(tok2) // unknown kid: fetched again
	ok(tok1)
	if n := srv.fetches.Load(); n != 2 {
		t.Fatalf("%d fetches, want 2", n)
	}
	// Made-up kids cannot make it fetch more than once per MinRefresh.
	clock.Add(11 * time.Second)
	for range 20 {
		reject(sign(t, jwt.SigningMethodRS256, k1, "made-up", claims(clock.Now())))
	}
	if n := srv.fetches.Load(); n != 3 {
		t.Fatalf("%d fetches, want 3", n)
	}

	// k1 is withdrawn; after the TTL the cache is refetched and k1 tokens fail.
	srv.set(200, jwkOf("k2", "ES256", &k2.PublicKey))
	ok(tok1) // still cached
	clock.Add(time.Hour)
	tok1 = sign(t, jwt.SigningMethodRS256, k1, "k1", claims(clock.Now()))
	tok2 = sign(t, jwt.SigningMethodES256, k2, "k2", claims(clock.Now()))
	reject(tok1)
	ok(tok2)

	// The provider fails: the keys from before stay in use.
	srv.set(500)
	clock.Add(2 * time.Hour)
	tok2 = sign(t, jwt.SigningMethodES256, k2, "k2", claims(clock.Now()))
	ok(tok2)
}

func TestJWKSUnavailableIs503(t *testing.T) {
	srv := newJWKSServer(t)
	srv.set(http.StatusBadGateway)
	jwks, err := NewJWKS(JWKSConfig{URL: srv.URL, Client: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	if err := jwks.Refresh(context.Background()); err == nil || !strings.Contains(err.Error(), "502") {
		t.Fatalf("Refresh: %v", err)
	}
	a, _ := NewJWT(JWTConfig{Keys: jwks})
	k := rsaKey(t)
	w, _ := serve(t, a, bearer(sign(t, jwt.SigningMethodRS256, k, "k1", claims(time.Now()))))
	wantProblem(t, w, http.StatusServiceUnavailable, "")
	if _, err := jwks.Key(context.Background(), "k1", RS256); !errors.Is(err, ErrKeysUnavailable) {
		t.Fatalf("Key: %v, want ErrKeysUnavailable", err)
	}
	if n := srv.fetches.Load(); n != 1 {
		t.Fatalf("%d fetches, want 1 (failures are rate-limited too)", n)
	}
}

func TestJWKSConcurrentFetchOnce(t *testing.T) {
	k := rsaKey(t)
	srv := newJWKSServer(t, jwkOf("k1", "RS256", &k.PublicKey))
	jwks, _ := NewJWKS(JWKSConfig{URL: srv.URL, Client: srv.Client()})
	a, _ := NewJWT(JWTConfig{Keys: jwks})
	tok := sign(t, jwt.SigningMethodRS256, k, "k1", claims(time.Now(), "aud", nil, "iss", nil))
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			bearer(tok)(r)
			if _, err := a.Authenticate(r); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := srv.fetches.Load(); n != 1 {
		t.Fatalf("%d fetches, want 1", n)
	}
}

func TestParseJWKS(t *testing.T) {
	rk, ek := rsaKey(t), ecKey(t)
	good := func(ms ...map[string]string) []byte {
		b, _ := json.Marshal(map[string]any{"keys": ms})
		return b
	}
	keys, err := ParseJWKS(good(
		jwkOf("r", "", &rk.PublicKey),
		jwkOf("e", "ES256", &ek.PublicKey),
		map[string]string{"kty": "oct", "k": "c2VjcmV0"},
		map[string]string{"kty": "OKP", "crv": "Ed25519", "x": "abc"},
		func() map[string]string { m := jwkOf("enc", "", &rk.PublicKey); m["use"] = "enc"; return m }(),
		jwkOf("ps", "PS256", &rk.PublicKey),
		jwkOf("old", "RS1", &rk.PublicKey), // an algorithm not supported: skipped
	))
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 3 || keys[0].ID != "r" || keys[1].ID != "e" || keys[2].ID != "ps" {
		t.Fatalf("keys %+v", keys)
	}
	if !keys[0].verifies(RS512) || keys[0].verifies(HS256) || !keys[1].verifies(ES256) || keys[1].verifies(ES384) || !keys[2].verifies(PS256) || keys[2].verifies(RS256) {
		t.Error("verifies is wrong")
	}
	for _, bad := range []string{
		`not json`,
		`{"keys":[]}`,
		`{"keys":[{"kty":"RSA","n":"!!","e":"AQAB"}]}`,
		`{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB"}]}`,
		`{"keys":[{"kty":"EC","crv":"P-256","x":"AQAB","y":"AQAB"}]}`,
		`{"keys":[{"kty":"EC","crv":"secp256k1","x":"AQAB","y":"AQAB"}]}`,
	} {
		if _, err := ParseJWKS([]byte(bad)); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
	// A point not on the curve.
	m := jwkOf("e", "ES256", &ek.PublicKey)
	m["y"] = m["x"]
	if _, err := ParseJWKS(good(m)); err == nil {
		t.Error("point off the curve accepted")
	}
}

func FuzzParseJWKS(f *testing.F) {
	f.Add([]byte(`{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB"}]}`))
	f.Add([]byte(`{"keys":[{"kty":"EC","crv":"P-256","x":"AQAB","y":"AQAB"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		keys, err := ParseJWKS(data)
		if err == nil && len(keys) == 0 {
			t.Fatal("no error and no keys")
		}
	})
}

func FuzzJWTAuthenticate(f *testing.F) {
	secret := []byte(strings.Repeat("s", 32))
	k, _ := NewKey("k", HS256, secret)
	ks, _ := NewStaticKeys(k)
	a, _ := NewJWT(JWTConfig{Keys: ks})
	f.Add(sign(f, jwt.SigningMethodHS256, secret, "k", claims(time.Now())))
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Fuzz(func(t *testing.T, tok string) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("Authorization", "Bearer "+tok)
		u, err := a.Authenticate(r)
		if err == nil && u.Subject == "" {
			t.Fatal("accepted without a subject")
		}
	})
}
