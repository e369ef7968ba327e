package keydb

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/sluicehq/sluice/rules/admin"
)

// FuzzCreateBody posts arbitrary bodies to POST /api/api-keys over a real
// SQLite file: the answer is 201 with the new key, or 400 or 413 with a
// problem, never a 5xx or a panic.
func FuzzCreateBody(f *testing.F) {
	for _, seed := range []string{
		`{"consumer":"acme","metadata":{"plan":"pro","customerId":42}}`,
		`{"consumer":"acme"}`, `{"consumer":""}`, `{"consumer":"a","metadata":[]}`,
		`{"consumer":"a","extra":1}`, `{"consumer":"a"} {}`, `null`, `[]`, `"x"`, `{`,
		`{"consumer":"` + string(make([]byte, 300)) + `"}`,
	} {
		f.Add(seed)
	}
	s := open(f, filepath.Join(f.TempDir(), "sluice.db"), Options{})
	const secret = "fuzz-secret-0123456789"
	h, err := NewHandler(s, HandlerConfig{Tokens: []admin.Token{admin.NewToken("ops", secret, false)}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body string) {
		var out map[string]any
		w := call(t, h, http.MethodPost, BasePath, secret, body, nil)
		switch w.Code {
		case http.StatusCreated:
			if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil || out["key"] == "" || out["id"] == "" {
				t.Fatalf("%q → 201 %s", body, w.Body)
			}
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
			if w.Header().Get("Content-Type") != "application/problem+json" || json.Unmarshal(w.Body.Bytes(), &out) != nil {
				t.Fatalf("%q → %d %q %s", body, w.Code, w.Header().Get("Content-Type"), w.Body)
			}
		default:
			t.Fatalf("%q → %d %s", body, w.Code, w.Body)
		}
	})
}
