package keydb

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sluicehq/sluice/policy"
	"github.com/sluicehq/sluice/policy/auth"
	"github.com/sluicehq/sluice/rules/admin"
	"github.com/sluicehq/sluice/rules/repotest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// backends runs test against SQLite and, when it answers, PostgreSQL.
func backends(t *testing.T, test func(t *testing.T, dsn string)) {
	t.Run("sqlite", func(t *testing.T) { test(t, filepath.Join(t.TempDir(), "sluice.db")) })
	t.Run("postgres", func(t *testing.T) { test(t, repotest.PostgresURL(t)) })
}

func open(t testing.TB, dsn string, opts Options) *Store {
	t.Helper()
	s, err := Open(t.Context(), dsn, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestStore(t *testing.T) {
	backends(t, func(t *testing.T, dsn string) {
		ctx := t.Context()
		c := &clock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
		s := open(t, dsn, Options{Now: c.Now})
		// Opening again finds the table there.
		open(t, dsn, Options{})

		k, plain, err := s.Create(ctx, "acme", map[string]any{"customerId": "c_42", "plan": "pro", "seats": 5})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(plain, auth.KeyPrefix) || !strings.HasPrefix(k.ID, "ak_") || !k.CreatedAt.Equal(c.now) {
			t.Fatalf("created %+v %q", k, plain)
		}
		got, err := s.LookupKey(ctx, auth.HashKey(plain))
		if err != nil || got.Name != "acme" || got.Metadata["plan"] != "pro" || got.Metadata["seats"] != json.Number("5") || got.Metadata[policy.DataAPIKeyID] != k.ID {
			t.Fatalf("lookup %+v %v", got, err)
		}
		if _, err := s.LookupKey(ctx, auth.HashKey("sk_unknown")); !errors.Is(err, auth.ErrKeyNotFound) {
			t.Fatalf("unknown key: %v", err)
		}
		k2, _, err := s.Create(ctx, "globex", nil)
		if err != nil {
			t.Fatal(err)
		}
		all, err := s.List(ctx, "")
		if err != nil || len(all) != 2 {
			t.Fatalf("list %+v %v", all, err)
		}
		mine, err := s.List(ctx, "globex")
		if err != nil || len(mine) != 1 || mine[0].ID != k2.ID || len(mine[0].Metadata) != 0 {
			t.Fatalf("list globex %+v %v", mine, err)
		}
		if g, err := s.Get(ctx, k.ID); err != nil || g.Consumer != "acme" {
			t.Fatalf("get %+v %v", g, err)
		}
		if _, err := s.Get(ctx, "ak_nope"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("get unknown: %v", err)
		}
		if err := s.Delete(ctx, k.ID); err != nil {
			t.Fatal(err)
		}
		if err := s.Delete(ctx, k.ID); !errors.Is(err, ErrNotFound) {
			t.Fatalf("second delete: %v", err)
		}
		// Deleted through this store: refused at once, cache or not.
		if _, err := s.LookupKey(ctx, auth.HashKey(plain)); !errors.Is(err, auth.ErrKeyNotFound) {
			t.Fatalf("deleted key: %v", err)
		}
		if _, _, err := s.Create(ctx, "", nil); !errors.Is(err, ErrInvalid) {
			t.Fatalf("empty consumer: %v", err)
		}
		if _, _, err := s.Create(ctx, "big", map[string]any{"x": strings.Repeat("x", MaxMetadataBytes)}); !errors.Is(err, ErrInvalid) {
			t.Fatalf("big metadata: %v", err)
		}
	})
}

func TestCacheTTL(t *testing.T) {
	dsn := filepath.Join(t.TempDir(), "sluice.db")
	c := &clock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	a := open(t, dsn, Options{Now: c.Now, CacheTTL: 10 * time.Second})
	b := open(t, dsn, Options{Now: c.Now})
	k, plain, err := a.Create(t.Context(), "acme", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.LookupKey(t.Context(), auth.HashKey(plain)); err != nil {
		t.Fatal(err)
	}
	// Deleted through another instance: a still knows it until the TTL.
	if err := b.Delete(t.Context(), k.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := a.LookupKey(t.Context(), auth.HashKey(plain)); err != nil {
		t.Fatalf("cached lookup: %v", err)
	}
	c.Add(10 * time.Second)
	if _, err := a.LookupKey(t.Context(), auth.HashKey(plain)); !errors.Is(err, auth.ErrKeyNotFound) {
		t.Fatalf("after TTL: %v", err)
	}
}

func TestOpenErrors(t *testing.T) {
	if _, err := Open(context.Background(), "mysql://x", Options{}); err == nil {
		t.Error("mysql accepted")
	}
	if _, err := Open(context.Background(), filepath.Join(t.TempDir(), "no", "such", "dir", "x.db"), Options{}); err == nil {
		t.Error("unopenable path accepted")
	}
}

// call sends a request to h and decodes a JSON answer into out.
func call(t testing.TB, h http.Handler, method, path, token, body string, out any) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if out != nil && w.Body.Len() > 0 {
		if err := json.Unmarshal(w.Body.Bytes(), out); err != nil {
			t.Fatalf("%s %s: body %s: %v", method, path, w.Body, err)
		}
	}
	return w
}

func TestHandler(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "sluice.db"), Options{})
	const rw, ro = "ops-secret-0123456789", "ro-secret-0123456789"
	h, err := NewHandler(s, HandlerConfig{Tokens: []admin.Token{admin.NewToken("ops", rw, false), admin.NewToken("grafana", ro, true)}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewHandler(s, HandlerConfig{}); err == nil {
		t.Error("no tokens accepted")
	}

	var made struct {
		Key
		Secret string `json:"key"`
	}
	w := call(t, h, "POST", BasePath, rw, `{"consumer":"acme","metadata":{"customerId":"c_42","plan":"pro"}}`, &made)
	if w.Code != http.StatusCreated || made.Secret == "" || made.Consumer != "acme" || w.Header().Get("Location") != BasePath+"/"+made.ID {
		t.Fatalf("create: %d %s", w.Code, w.Body)
	}

	// The key works with the API key authenticator.
	authn, err := auth.NewAPIKey(auth.APIKeyConfig{Keys: s})
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Authorization", "Bearer "+made.Secret)
	u, err := authn.Authenticate(r)
	if err != nil || u.Subject != "acme" || u.Data["customerId"] != "c_42" {
		t.Fatalf("authenticate: %+v %v", u, err)
	}

	var list struct{ Keys []map[string]any }
	if w := call(t, h, "GET", BasePath, ro, "", &list); w.Code != 200 || len(list.Keys) != 1 {
		t.Fatalf("list: %d %s", w.Code, w.Body)
	}
	if _, ok := list.Keys[0]["key"]; ok || strings.Contains(call(t, h, "GET", BasePath, ro, "", nil).Body.String(), made.Secret) {
		t.Fatal("the key is shown after creation")
	}
	var one Key
	if w := call(t, h, "GET", BasePath+"/"+made.ID, ro, "", &one); w.Code != 200 || one.ID != made.ID {
		t.Fatalf("get: %d %s", w.Code, w.Body)
	}

	for _, tc := range []struct {
		method, path, token, body string
		status                    int
		kind                      string
	}{
		{"GET", BasePath, "", "", 401, "unauthorized"},
		{"GET", BasePath, "wrong-secret-0123456789", "", 401, "unauthorized"},
		{"POST", BasePath, ro, `{"consumer":"x"}`, 403, "forbidden"},
		{"DELETE", BasePath + "/" + made.ID, ro, "", 403, "forbidden"},
		{"POST", BasePath, rw, `{"consumer":""}`, 400, "invalid-api-key"},
		{"POST", BasePath, rw, `{"consumer":"x","extra":1}`, 400, "invalid-json"},
		{"POST", BasePath, rw, `{"consumer":"x"} {}`, 400, "invalid-json"},
		{"POST", BasePath, rw, `[`, 400, "invalid-json"},
		{"GET", BasePath + "/ak_nope", rw, "", 404, "not-found"},
		{"DELETE", BasePath + "/ak_nope", rw, "", 404, "not-found"},
		{"PUT", BasePath, rw, "", 405, "method-not-allowed"},
		{"GET", "/api/other", rw, "", 404, "not-found"},
		{"POST", BasePath, rw, `{"consumer":"x","metadata":{"a":"` + strings.Repeat("x", DefaultMaxBody) + `"}}`, 413, "body-too-large"},
	} {
		var p problem
		w := call(t, h, tc.method, tc.path, tc.token, tc.body, &p)
		if w.Code != tc.status || p.Type != "urn:sluice:problem:"+tc.kind || w.Header().Get("Content-Type") != admin.ProblemContentType {
			t.Errorf("%s %s: %d %s, want %d %s", tc.method, tc.path, w.Code, w.Body, tc.status, tc.kind)
		}
	}

	if w := call(t, h, "DELETE", BasePath+"/"+made.ID, rw, "", nil); w.Code != http.StatusNoContent {
		t.Fatalf("delete: %d %s", w.Code, w.Body)
	}
	if _, err := authn.Authenticate(r); !errors.Is(err, auth.ErrInvalidCredentials) {
		t.Fatalf("deleted key authenticates: %v", err)
	}
}
