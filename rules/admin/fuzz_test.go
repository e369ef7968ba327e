package admin_test

import (
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/rules/admin"
)

// FuzzCreateBody posts arbitrary bodies to the create endpoint of an API
// over a real SQLite file: whatever the body, the answer is a decision
// (201, 400, 409 or 413) with a well-formed body, never a 500 or a panic.
func FuzzCreateBody(f *testing.F) {
	for _, seed := range []string{
		`{"key_type":"ip","key_value":"10.0.0.0/8","limit":100,"window_seconds":60}`,
		`{"key_type":"route","key_value":"/api/users/{id}","method":"POST","limit":10,"window_seconds":1,"algorithm":"token_bucket","burst":20}`,
		`{"key_type":"user_id","key_value":"*","plan":"free","limit":1000,"window_seconds":86400,"algorithm":"quota","shadow":true}`,
		`{"key_type":"api_key","key_value":"*","limit":5000,"window_seconds":2592000,"algorithm":"quota","timezone":"Europe/Berlin"}`,
		`{"key_type":"api_key","key_value":"x","limit":5,"window_seconds":604800,"algorithm":"quota","timezone":"../../etc/passwd"}`,
		`{"key_type":"global","key_value":"*","limit":1,"window_seconds":315360000,"priority":-7}`,
		`{"key_type":"ip","key_value":"2001:db8::/32","limit":1125899906842624,"window_seconds":1}`,
		`{"key_type":"api_key","key_value":"\u0000","limit":1,"window_seconds":1}`,
		`{"key_type":"route","key_value":"/a/**/b","limit":1,"window_seconds":1}`,
		`{"priority":99999999999999999999}`,
		`{"limit":-1,"window_seconds":-1,"burst":-1}`,
		`{"description":"\ud800"}`,
		`{"key_type":null,"enabled":null}`,
		`{"key_type":"ip","key_type":"route"}`,
		`[]`, `null`, `""`, `0`, `{`, `}`, ``, `{"a":1}`, `{"limit":1.5}`,
	} {
		f.Add([]byte(seed))
	}
	repo := openRepo(f, filepath.Join(f.TempDir(), "rules.db"))
	h := newAPI(f, repo, nil)
	f.Fuzz(func(t *testing.T, body []byte) {
		resp := call(t, h, "POST", "/api/rate-rules/", opsSecret, "application/json", string(body))
		b, _ := io.ReadAll(resp.Body)
		switch resp.StatusCode {
		case http.StatusCreated:
			var v map[string]any
			if err := json.Unmarshal(b, &v); err != nil || v["id"] == nil {
				t.Fatalf("201 with body %q: %v", b, err)
			}
		case http.StatusBadRequest, http.StatusConflict, http.StatusRequestEntityTooLarge:
			var p admin.Problem
			if err := json.Unmarshal(b, &p); err != nil || p.Status != resp.StatusCode {
				t.Fatalf("%d with body %q: %v", resp.StatusCode, b, err)
			}
		default:
			t.Fatalf("body %q: status %d: %s", body, resp.StatusCode, b)
		}
	})
}

// FuzzParseTokens: admin tokens come from an environment variable, so any
// text is either an error or tokens with valid, unique names, at most one
// per comma-separated item.
func FuzzParseTokens(f *testing.F) {
	for _, seed := range []string{
		"ops:9f8e7d6c5b4a39281706:rw,grafana:0a1b2c3d4e5f60718293:ro",
		"", " , ", "a:b", "ops:0123456789abcdef:ro:ro", "x:0123456789abcdef,x:0123456789abcdef",
		"é:0123456789abcdef", "ops:0123456789abcd\tef",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		toks, err := admin.ParseTokens(s)
		if err != nil {
			return
		}
		if len(toks) > strings.Count(s, ",")+1 {
			t.Fatalf("%q: %d tokens", s, len(toks))
		}
		seen := map[string]bool{}
		for _, tok := range toks {
			if tok.Name == "" || seen[tok.Name] || strings.ContainsAny(tok.Name, ":, \t") {
				t.Fatalf("%q: token name %q", s, tok.Name)
			}
			seen[tok.Name] = true
		}
	})
}
