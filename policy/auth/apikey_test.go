package auth

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/policy"
)

// serve runs one request through Middleware(a) in front of a handler that
// answers 200 with the user's subject, and returns the response.
func serve(t *testing.T, a Authenticator, set func(*http.Request)) (*httptest.ResponseRecorder, policy.User) {
	t.Helper()
	var got policy.User
	h := Middleware(a, MiddlewareConfig{})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, ok := policy.UserFrom(r.Context())
		if !ok {
			t.Error("next handler ran without a user")
		}
		got = u
		_, _ = w.Write([]byte(u.Subject))
	}))
	r := httptest.NewRequest(http.MethodGet, "/api/x", nil)
	if set != nil {
		set(r)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w, got
}

// wantProblem checks a 401/503 problem response.
func wantProblem(t *testing.T, w *httptest.ResponseRecorder, status int, detail string) {
	t.Helper()
	if w.Code != status {
		t.Fatalf("status %d, want %d; body %s", w.Code, status, w.Body)
	}
	if ct := w.Header().Get("Content-Type"); ct != ProblemContentType {
		t.Errorf("Content-Type %q, want %q", ct, ProblemContentType)
	}
	var p problem
	if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil {
		t.Fatalf("body is not JSON: %v: %s", err, w.Body)
	}
	if p.Status != status || p.Instance != "/api/x" || !strings.HasPrefix(p.Type, "urn:sluice:problem:") {
		t.Errorf("problem %+v", p)
	}
	if detail != "" && !strings.Contains(p.Detail, detail) {
		t.Errorf("detail %q, want it to contain %q", p.Detail, detail)
	}
	if status == http.StatusUnauthorized && w.Header().Get("WWW-Authenticate") == "" {
		t.Error("401 without WWW-Authenticate")
	}
}

func TestAPIKey(t *testing.T) {
	keys, err := NewMemoryKeyStore([]APIKey{
		{Consumer: "acme", Key: "acme-secret-key-0123456789", Metadata: map[string]any{"customerId": "c_42", "plan": "pro"}},
		{Consumer: "globex", KeyHash: HashKey("globex-secret-key-0123456789").String(), ID: "globex-1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	bearer, err := NewAPIKey(APIKeyConfig{Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	header, err := NewAPIKey(APIKeyConfig{Keys: keys, Header: "x-api-key", Realm: "api"})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("bearer", func(t *testing.T) {
		w, u := serve(t, bearer, func(r *http.Request) { r.Header.Set("Authorization", "Bearer acme-secret-key-0123456789") })
		if w.Code != 200 || u.Subject != "acme" || u.Data["plan"] != "pro" || u.Data["customerId"] != "c_42" ||
			u.Data[policy.DataAPIKeyID] != DefaultKeyID(HashKey("acme-secret-key-0123456789")) {
			t.Fatalf("got %d %+v", w.Code, u)
		}
	})
	t.Run("bearer scheme case-insensitive", func(t *testing.T) {
		w, u := serve(t, bearer, func(r *http.Request) { r.Header.Set("Authorization", "bearer  globex-secret-key-0123456789 ") })
		if w.Code != 200 || u.Subject != "globex" || u.Data[policy.DataAPIKeyID] != "globex-1" {
			t.Fatalf("got %d %+v", w.Code, u)
		}
	})
	t.Run("header", func(t *testing.T) {
		w, u := serve(t, header, func(r *http.Request) { r.Header.Set("X-API-Key", "acme-secret-key-0123456789") })
		if w.Code != 200 || u.Subject != "acme" {
			t.Fatalf("got %d %+v", w.Code, u)
		}
	})
	for _, tc := range []struct {
		name   string
		a      *APIKeyAuth
		set    func(*http.Request)
		detail string
	}{
		{"unknown key", bearer, func(r *http.Request) { r.Header.Set("Authorization", "Bearer nope-nope-nope-nope") }, "not known"},
		{"missing", bearer, nil, "no Authorization header"},
		{"basic scheme", bearer, func(r *http.Request) { r.SetBasicAuth("acme", "x") }, "Bearer scheme"},
		{"empty bearer", bearer, func(r *http.Request) { r.Header.Set("Authorization", "Bearer ") }, "empty"},
		{"two headers", header, func(r *http.Request) {
			r.Header.Add("X-Api-Key", "acme-secret-key-0123456789")
			r.Header.Add("X-Api-Key", "acme-secret-key-0123456789")
		}, "more than one"},
		{"too long", header, func(r *http.Request) { r.Header.Set("X-API-Key", strings.Repeat("k", MaxCredentialLen+1)) }, "longer"},
		{"wrong header", header, func(r *http.Request) { r.Header.Set("Authorization", "Bearer acme-secret-key-0123456789") }, "X-Api-Key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, _ := serve(t, tc.a, tc.set)
			wantProblem(t, w, http.StatusUnauthorized, tc.detail)
		})
	}
	t.Run("challenge", func(t *testing.T) {
		w, _ := serve(t, bearer, func(r *http.Request) { r.Header.Set("Authorization", "Bearer nope-nope-nope-nope") })
		if got := w.Header().Get("WWW-Authenticate"); got != `Bearer realm="sluice", error="invalid_token"` {
			t.Errorf("WWW-Authenticate %q", got)
		}
		w, _ = serve(t, header, nil)
		if got := w.Header().Get("WWW-Authenticate"); got != `APIKey realm="api", header="X-Api-Key"` {
			t.Errorf("WWW-Authenticate %q", got)
		}
	})
}

type failingStore struct{}

func (failingStore) LookupKey(context.Context, KeyHash) (Consumer, error) {
	return Consumer{}, errors.New("database is down")
}

func TestAPIKeyStoreFailureIs503(t *testing.T) {
	a, err := NewAPIKey(APIKeyConfig{Keys: failingStore{}})
	if err != nil {
		t.Fatal(err)
	}
	w, _ := serve(t, a, func(r *http.Request) { r.Header.Set("Authorization", "Bearer whatever-key-1234567") })
	wantProblem(t, w, http.StatusServiceUnavailable, "")
}

func TestMemoryKeyStoreValidation(t *testing.T) {
	for _, tc := range []struct {
		name string
		keys []APIKey
		want string
	}{
		{"no consumer", []APIKey{{Key: "0123456789abcdef"}}, "consumer name is empty"},
		{"both", []APIKey{{Consumer: "a", Key: "0123456789abcdef", KeyHash: HashKey("x").String()}}, "not both"},
		{"neither", []APIKey{{Consumer: "a"}}, "set the key hash"},
		{"short key", []APIKey{{Consumer: "a", Key: "short"}}, "16 to"},
		{"bad hash", []APIKey{{Consumer: "a", KeyHash: "abc"}}, "64 hex digits"},
		{"non-hex hash", []APIKey{{Consumer: "a", KeyHash: strings.Repeat("zz", 32)}}, "hex"},
		{"control char", []APIKey{{Consumer: "a\nb", Key: "0123456789abcdef"}}, "control"},
		{"duplicate", []APIKey{{Consumer: "a", Key: "0123456789abcdef"}, {Consumer: "b", KeyHash: HashKey("0123456789abcdef").String()}}, "already given"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewMemoryKeyStore(tc.keys)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestGenerateKey(t *testing.T) {
	a, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := GenerateKey()
	if a == b || !strings.HasPrefix(a, KeyPrefix) || len(a) != 46 {
		t.Fatalf("keys %q %q", a, b)
	}
	h, err := ParseKeyHash(HashKey(a).String())
	if err != nil || h != HashKey(a) {
		t.Fatal("hash round trip", err)
	}
}

func TestAny(t *testing.T) {
	keys, _ := NewMemoryKeyStore([]APIKey{{Consumer: "acme", Key: "acme-secret-key-0123456789"}})
	byHeader, _ := NewAPIKey(APIKeyConfig{Keys: keys, Header: "X-API-Key"})
	byBearer, _ := NewAPIKey(APIKeyConfig{Keys: keys})
	a := Any(byHeader, byBearer)
	w, u := serve(t, a, func(r *http.Request) { r.Header.Set("Authorization", "Bearer acme-secret-key-0123456789") })
	if w.Code != 200 || u.Subject != "acme" {
		t.Fatalf("got %d %+v", w.Code, u)
	}
	w, _ = serve(t, a, nil)
	wantProblem(t, w, http.StatusUnauthorized, "")
	if got := w.Header().Get("WWW-Authenticate"); got != `APIKey realm="sluice", header="X-Api-Key", Bearer realm="sluice"` {
		t.Errorf("WWW-Authenticate %q", got)
	}
	w, _ = serve(t, a, func(r *http.Request) { r.Header.Set("Authorization", "Bearer wrong-wrong-wrong-wrong") })
	wantProblem(t, w, http.StatusUnauthorized, "not known")
}
