package admin_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/sluicehq/sluice/rules"
	"github.com/sluicehq/sluice/rules/admin"
	"github.com/sluicehq/sluice/rules/repotest"
	"github.com/sluicehq/sluice/rules/rulesdb"
)

// Test tokens: one read-write, one read-only.
const (
	opsSecret    = "ops-secret-0123456789"
	viewerSecret = "viewer-secret-0123456789"
)

// counter counts Invalidate calls.
type counter struct{ n atomic.Int64 }

func (c *counter) Invalidate() { c.n.Add(1) }

// backend is one kind of real database the API runs against.
type backend struct {
	name string
	dsn  func(t *testing.T) string
}

func backends() []backend {
	return []backend{
		{"sqlite", func(t *testing.T) string { return filepath.Join(t.TempDir(), "rules.db") }},
		{"postgres", func(t *testing.T) string { return repotest.PostgresURL(t) }},
	}
}

// openRepo opens (and migrates) a rules database, closed when t ends.
func openRepo(t testing.TB, dsn string) rules.Repository {
	t.Helper()
	repo, err := rulesdb.Open(context.Background(), dsn, rulesdb.Options{Migrate: true})
	if err != nil {
		t.Fatalf("open %s: %v", dsn, err)
	}
	t.Cleanup(func() { repo.Close() })
	return repo
}

// newAPI returns the admin API over repo with the test tokens.
func newAPI(t testing.TB, repo rules.Repository, inv admin.Invalidator) *admin.Handler {
	t.Helper()
	toks, err := admin.ParseTokens("ops:" + opsSecret + ",viewer:" + viewerSecret + ":ro")
	if err != nil {
		t.Fatal(err)
	}
	h, err := admin.New(repo, admin.Config{Tokens: toks, MaxBody: 4096, Resolver: inv})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// call makes one request and returns the response.
func call(t testing.TB, h http.Handler, method, path, token, contentType, body string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

// decode reads a JSON response body into v.
func decode(t testing.TB, resp *http.Response, v any) {
	t.Helper()
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("response %d %q: %v", resp.StatusCode, b, err)
	}
}

// wantProblem checks a problem response and returns it.
func wantProblem(t testing.TB, resp *http.Response, status int, kind string) admin.Problem {
	t.Helper()
	if resp.StatusCode != status {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("status = %d, want %d; body %s", resp.StatusCode, status, b)
	}
	if ct := resp.Header.Get("Content-Type"); ct != admin.ProblemContentType {
		t.Errorf("Content-Type = %q, want %q", ct, admin.ProblemContentType)
	}
	var p admin.Problem
	decode(t, resp, &p)
	if p.Status != status || p.Type != "urn:sluice:problem:"+kind || p.Title == "" {
		t.Errorf("problem = %+v, want status %d, type %s, a title", p, status, kind)
	}
	return p
}

func TestCRUDAndAudit(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			repo := openRepo(t, b.dsn(t))
			inv := &counter{}
			h := newAPI(t, repo, inv)

			resp := call(t, h, "POST", "/api/rate-rules/", opsSecret, "application/json",
				`{"key_type":"ip","key_value":"10.1.2.3/8","limit":100,"window_seconds":60,"description":"office"}`)
			if resp.StatusCode != http.StatusCreated {
				b, _ := io.ReadAll(resp.Body)
				t.Fatalf("create: %d %s", resp.StatusCode, b)
			}
			var created rules.Rule
			decode(t, resp, &created)
			if created.ID == "" || created.KeyValue != "10.0.0.0/8" || !created.Enabled || created.Shadow || created.Algorithm != "sliding_window" {
				t.Errorf("created = %+v", created)
			}
			if loc := resp.Header.Get("Location"); loc != "/api/rate-rules/"+created.ID {
				t.Errorf("Location = %q", loc)
			}

			// Read with and without the trailing slash, with the read-only token.
			for _, p := range []string{"/api/rate-rules/" + created.ID, "/api/rate-rules/" + created.ID + "/"} {
				resp = call(t, h, "GET", p, viewerSecret, "", "")
				var got rules.Rule
				decode(t, resp, &got)
				if resp.StatusCode != 200 || got.ID != created.ID {
					t.Errorf("GET %s: %d %+v", p, resp.StatusCode, got)
				}
			}

			// A shadow rule, created without the trailing slash.
			resp = call(t, h, "POST", "/api/rate-rules", opsSecret, "application/json; charset=utf-8",
				`{"key_type":"route","key_value":"/api/chat","method":"POST","limit":10,"window_seconds":60,"shadow":true,"plan":"free"}`)
			var shadowRule rules.Rule
			decode(t, resp, &shadowRule)
			if resp.StatusCode != 201 || !shadowRule.Shadow {
				t.Fatalf("create shadow: %d %+v", resp.StatusCode, shadowRule)
			}

			// The same key again conflicts.
			resp = call(t, h, "POST", "/api/rate-rules/", opsSecret, "application/json",
				`{"key_type":"ip","key_value":"10.0.0.0/8","limit":5,"window_seconds":1}`)
			wantProblem(t, resp, http.StatusConflict, admin.ProblemConflict)

			// List, filtered.
			var list admin.ListResponse
			resp = call(t, h, "GET", "/api/rate-rules/?key_type=route&enabled=true&plan=free", viewerSecret, "", "")
			decode(t, resp, &list)
			if resp.StatusCode != 200 || len(list.Rules) != 1 || list.Rules[0].ID != shadowRule.ID {
				t.Errorf("filtered list: %d %+v", resp.StatusCode, list)
			}
			resp = call(t, h, "GET", "/api/rate-rules?key_type=ip&key_value=10.9.9.9/8", viewerSecret, "", "")
			decode(t, resp, &list)
			if len(list.Rules) != 1 || list.Rules[0].ID != created.ID {
				t.Errorf("list by canonical key value: %+v", list)
			}

			// Partial update, both content types, both path forms.
			resp = call(t, h, "PATCH", "/api/rate-rules/"+created.ID+"/", opsSecret, "application/json", `{"limit":200}`)
			var updated rules.Rule
			decode(t, resp, &updated)
			if resp.StatusCode != 200 || updated.Limit != 200 || updated.WindowSeconds != 60 || updated.Description != "office" {
				t.Errorf("patch: %d %+v", resp.StatusCode, updated)
			}
			resp = call(t, h, "PATCH", "/api/rate-rules/"+created.ID, opsSecret, "application/merge-patch+json", `{"priority":3,"description":"hq"}`)
			decode(t, resp, &updated)
			if resp.StatusCode != 200 || updated.Priority != 3 || updated.Limit != 200 {
				t.Errorf("merge patch: %d %+v", resp.StatusCode, updated)
			}
			// An update that makes the rule invalid is refused with the field.
			resp = call(t, h, "PATCH", "/api/rate-rules/"+created.ID, opsSecret, "application/json", `{"key_value":"not an ip"}`)
			p := wantProblem(t, resp, 400, admin.ProblemInvalidRule)
			if len(p.Errors) == 0 || p.Errors[0].Field != "key_value" {
				t.Errorf("invalid patch errors = %+v", p.Errors)
			}

			// Soft delete disables.
			resp = call(t, h, "DELETE", "/api/rate-rules/"+created.ID+"/?soft=true", opsSecret, "", "")
			decode(t, resp, &updated)
			if resp.StatusCode != 200 || updated.Enabled {
				t.Errorf("soft delete: %d %+v", resp.StatusCode, updated)
			}
			// Hard delete removes.
			resp = call(t, h, "DELETE", "/api/rate-rules/"+created.ID, opsSecret, "", "")
			if resp.StatusCode != http.StatusNoContent {
				t.Errorf("delete: %d", resp.StatusCode)
			}
			wantProblem(t, call(t, h, "GET", "/api/rate-rules/"+created.ID, opsSecret, "", ""), 404, admin.ProblemNotFound)
			wantProblem(t, call(t, h, "DELETE", "/api/rate-rules/"+created.ID, opsSecret, "", ""), 404, admin.ProblemNotFound)

			// The audit log outlives the rule and names the token.
			var audit admin.AuditResponse
			resp = call(t, h, "GET", "/api/rate-rules/"+created.ID+"/audit", viewerSecret, "", "")
			decode(t, resp, &audit)
			var actions []string
			for _, e := range audit.Entries {
				actions = append(actions, e.Action+":"+e.Actor)
			}
			want := "create:ops update:ops update:ops update:ops delete:ops"
			if resp.StatusCode != 200 || strings.Join(actions, " ") != want {
				t.Errorf("audit: %d %q, want %q", resp.StatusCode, actions, want)
			}
			resp = call(t, h, "GET", "/api/rate-rules/"+shadowRule.ID+"/audit/?limit=1", viewerSecret, "", "")
			decode(t, resp, &audit)
			if len(audit.Entries) != 1 || audit.Entries[0].After == nil || !audit.Entries[0].After.Shadow {
				t.Errorf("audit of shadow rule: %+v", audit)
			}
			wantProblem(t, call(t, h, "GET", "/api/rate-rules/00000000-0000-4000-8000-000000000000/audit", viewerSecret, "", ""), 404, admin.ProblemNotFound)

			// Every successful write invalidated the resolver: 2 creates, 2
			// patches, soft and hard delete.
			if got := inv.n.Load(); got != 6 {
				t.Errorf("Invalidate called %d times, want 6", got)
			}
		})
	}
}

func TestPagination(t *testing.T) {
	h := newAPI(t, openRepo(t, filepath.Join(t.TempDir(), "rules.db")), nil)
	for _, u := range []string{"a", "b", "c", "d", "e"} {
		resp := call(t, h, "POST", "/api/rate-rules/", opsSecret, "application/json",
			`{"key_type":"user_id","key_value":"`+u+`","limit":1,"window_seconds":1}`)
		if resp.StatusCode != 201 {
			t.Fatalf("create %s: %d", u, resp.StatusCode)
		}
	}
	var seen []string
	path := "/api/rate-rules/?limit=2"
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatal("pagination does not end")
		}
		var list admin.ListResponse
		decode(t, call(t, h, "GET", path, viewerSecret, "", ""), &list)
		for _, r := range list.Rules {
			seen = append(seen, r.KeyValue)
		}
		if list.NextCursor == "" {
			break
		}
		path = "/api/rate-rules/?limit=2&cursor=" + list.NextCursor
	}
	if strings.Join(seen, "") != "abcde" {
		t.Errorf("pages gave %q, want abcde in creation order", seen)
	}
}

func TestAuth(t *testing.T) {
	h := newAPI(t, openRepo(t, filepath.Join(t.TempDir(), "rules.db")), nil)
	resp := call(t, h, "GET", "/api/rate-rules/", "", "", "")
	wantProblem(t, resp, 401, admin.ProblemUnauthorized)
	if got := resp.Header.Get("WWW-Authenticate"); got != `Bearer realm="sluice-admin"` {
		t.Errorf("WWW-Authenticate = %q", got)
	}
	resp = call(t, h, "GET", "/api/rate-rules/", "wrong-secret-0123456789", "", "")
	wantProblem(t, resp, 401, admin.ProblemUnauthorized)
	if got := resp.Header.Get("WWW-Authenticate"); !strings.Contains(got, `error="invalid_token"`) {
		t.Errorf("WWW-Authenticate = %q, want invalid_token", got)
	}
	// Basic auth is not a bearer token.
	req := httptest.NewRequest("GET", "/api/rate-rules/", nil)
	req.SetBasicAuth("ops", opsSecret)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 401 {
		t.Errorf("basic auth: %d, want 401", rec.Code)
	}
	// Unknown paths need a token too.
	wantProblem(t, call(t, h, "GET", "/elsewhere", "", "", ""), 401, admin.ProblemUnauthorized)

	if resp := call(t, h, "GET", "/api/rate-rules/", viewerSecret, "", ""); resp.StatusCode != 200 {
		t.Errorf("read-only GET: %d", resp.StatusCode)
	}
	body := `{"key_type":"ip","key_value":"*","limit":1,"window_seconds":1}`
	wantProblem(t, call(t, h, "POST", "/api/rate-rules/", viewerSecret, "application/json", body), 403, admin.ProblemForbidden)
	wantProblem(t, call(t, h, "DELETE", "/api/rate-rules/00000000-0000-4000-8000-000000000000", viewerSecret, "", ""), 403, admin.ProblemForbidden)
	if resp := call(t, h, "POST", "/api/rate-rules/", opsSecret, "application/json", body); resp.StatusCode != 201 {
		t.Errorf("read-write POST: %d", resp.StatusCode)
	}
	// A lower-case scheme is accepted (RFC 9110: schemes are case-insensitive).
	req = httptest.NewRequest("GET", "/api/rate-rules/", nil)
	req.Header.Set("Authorization", "bearer "+viewerSecret)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 200 {
		t.Errorf("lower-case bearer: %d", rec.Code)
	}
}

// TestQuotaTimeZone creates a quota rule with a time zone, changes the
// zone and removes it, and reads each change back and in the audit log.
func TestQuotaTimeZone(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			h := newAPI(t, openRepo(t, b.dsn(t)), nil)
			resp := call(t, h, "POST", "/api/rate-rules/", opsSecret, "application/json",
				`{"key_type":"api_key","key_value":"*","limit":5000,"window_seconds":2592000,"algorithm":"quota","timezone":"Europe/Berlin"}`)
			var created rules.Rule
			decode(t, resp, &created)
			if resp.StatusCode != http.StatusCreated || created.TimeZone != "Europe/Berlin" {
				t.Fatalf("create: %d %+v", resp.StatusCode, created)
			}
			ruleURL := "/api/rate-rules/" + created.ID
			var got rules.Rule
			decode(t, call(t, h, "GET", ruleURL, viewerSecret, "", ""), &got)
			if got.TimeZone != "Europe/Berlin" {
				t.Errorf("GET: timezone %q, want Europe/Berlin", got.TimeZone)
			}
			resp = call(t, h, "PATCH", ruleURL, opsSecret, "application/merge-patch+json", `{"timezone":"Asia/Tokyo"}`)
			decode(t, resp, &got)
			if resp.StatusCode != 200 || got.TimeZone != "Asia/Tokyo" || got.Limit != 5000 {
				t.Errorf("patch to Asia/Tokyo: %d %+v", resp.StatusCode, got)
			}
			resp = call(t, h, "PATCH", ruleURL, opsSecret, "application/json", `{"timezone":""}`)
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 200 || strings.Contains(string(body), "timezone") {
				t.Errorf("patch to UTC: %d %s, want the rule without a timezone", resp.StatusCode, body)
			}
			var audit admin.AuditResponse
			decode(t, call(t, h, "GET", ruleURL+"/audit", viewerSecret, "", ""), &audit)
			if n := len(audit.Entries); n != 3 || audit.Entries[0].After.TimeZone != "Europe/Berlin" ||
				audit.Entries[2].Before.TimeZone != "Asia/Tokyo" || audit.Entries[2].After.TimeZone != "" {
				t.Errorf("audit: %+v, want the time zone Europe/Berlin, then Asia/Tokyo, then none", audit.Entries)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	h := newAPI(t, openRepo(t, filepath.Join(t.TempDir(), "rules.db")), nil)
	const ok = `{"key_type":"ip","key_value":"10.0.0.0/8","limit":100,"window_seconds":60}`
	resp := call(t, h, "POST", "/api/rate-rules/", opsSecret, "application/json", ok)
	var r rules.Rule
	decode(t, resp, &r)
	ruleURL := "/api/rate-rules/" + r.ID
	const missing = "/api/rate-rules/00000000-0000-4000-8000-000000000000"
	tests := []struct {
		name, method, path, ct, body string
		status                       int
		kind                         string
		fields                       []string // the fields errors must name, in order
	}{
		{"malformed JSON", "POST", "/api/rate-rules/", "application/json", `{"key_type":`, 400, admin.ProblemInvalidJSON, nil},
		{"syntax error", "POST", "/api/rate-rules/", "application/json", `{"key_type" "ip"}`, 400, admin.ProblemInvalidJSON, nil},
		{"empty body", "POST", "/api/rate-rules/", "application/json", ``, 400, admin.ProblemInvalidJSON, nil},
		{"not an object", "POST", "/api/rate-rules/", "application/json", `[1,2]`, 400, admin.ProblemInvalidJSON, nil},
		{"unknown field", "POST", "/api/rate-rules/", "application/json", `{"key_type":"ip","colour":"red"}`, 400, admin.ProblemInvalidJSON, []string{"colour"}},
		{"id is not settable", "POST", "/api/rate-rules/", "application/json", `{"id":"x"}`, 400, admin.ProblemInvalidJSON, []string{"id"}},
		{"wrong type", "POST", "/api/rate-rules/", "application/json", `{"limit":"100"}`, 400, admin.ProblemInvalidJSON, []string{"limit"}},
		{"overflow", "POST", "/api/rate-rules/", "application/json", `{"limit":1e30}`, 400, admin.ProblemInvalidJSON, []string{"limit"}},
		{"trailing data", "POST", "/api/rate-rules/", "application/json", ok + `{}`, 400, admin.ProblemInvalidJSON, nil},
		{"invalid rule", "POST", "/api/rate-rules/", "application/json",
			`{"key_type":"ip","key_value":"10.0.0.300","limit":0,"window_seconds":60}`, 400, admin.ProblemInvalidRule, []string{"key_value", "limit"}},
		{"missing fields", "POST", "/api/rate-rules/", "application/json", `{}`, 400, admin.ProblemInvalidRule, []string{"key_type", "key_value", "limit", "window_seconds"}},
		{"unknown time zone", "POST", "/api/rate-rules/", "application/json",
			`{"key_type":"user_id","key_value":"*","limit":5,"window_seconds":86400,"algorithm":"quota","timezone":"Mars/Olympus"}`, 400, admin.ProblemInvalidRule, []string{"timezone"}},
		{"time zone of a window", "POST", "/api/rate-rules/", "application/json",
			`{"key_type":"user_id","key_value":"*","limit":5,"window_seconds":60,"timezone":"Europe/Berlin"}`, 400, admin.ProblemInvalidRule, []string{"timezone"}},
		{"time zone not a string", "POST", "/api/rate-rules/", "application/json", `{"timezone":2}`, 400, admin.ProblemInvalidJSON, []string{"timezone"}},
		{"patch a time zone onto a window", "PATCH", ruleURL, "application/json", `{"timezone":"Europe/Berlin"}`, 400, admin.ProblemInvalidRule, []string{"timezone"}},
		{"no content type", "POST", "/api/rate-rules/", "", ok, 415, admin.ProblemUnsupportedMedia, nil},
		{"form content type", "POST", "/api/rate-rules/", "application/x-www-form-urlencoded", ok, 415, admin.ProblemUnsupportedMedia, nil},
		{"latin-1", "POST", "/api/rate-rules/", "application/json; charset=latin1", ok, 415, admin.ProblemUnsupportedMedia, nil},
		{"merge patch is for PATCH", "POST", "/api/rate-rules/", "application/merge-patch+json", ok, 415, admin.ProblemUnsupportedMedia, nil},
		{"too large", "POST", "/api/rate-rules/", "application/json", `{"description":"` + strings.Repeat("x", 5000) + `"}`, 413, admin.ProblemTooLarge, nil},
		{"PUT collection", "PUT", "/api/rate-rules/", "application/json", ok, 405, admin.ProblemMethodNotAllowed, nil},
		{"POST item", "POST", ruleURL, "application/json", ok, 405, admin.ProblemMethodNotAllowed, nil},
		{"PUT item", "PUT", ruleURL + "/", "application/json", ok, 405, admin.ProblemMethodNotAllowed, nil},
		{"DELETE audit", "DELETE", ruleURL + "/audit", "", "", 405, admin.ProblemMethodNotAllowed, nil},
		{"unknown id", "GET", missing, "", "", 404, admin.ProblemNotFound, nil},
		{"not a uuid", "GET", "/api/rate-rules/42", "", "", 404, admin.ProblemNotFound, nil},
		{"patch unknown id", "PATCH", missing, "application/json", `{"limit":1}`, 404, admin.ProblemNotFound, nil},
		{"unknown path", "GET", "/api/rate-rules/" + r.ID + "/nope", "", "", 404, admin.ProblemNotFound, nil},
		{"empty patch", "PATCH", ruleURL, "application/json", `{}`, 400, admin.ProblemInvalidJSON, nil},
		{"patch unknown field", "PATCH", ruleURL, "application/json", `{"limits":1}`, 400, admin.ProblemInvalidJSON, []string{"limits"}},
		{"patch wrong content type", "PATCH", ruleURL, "text/plain", `{"limit":1}`, 415, admin.ProblemUnsupportedMedia, nil},
		{"unknown query", "GET", "/api/rate-rules/?colour=red", "", "", 400, admin.ProblemInvalidQuery, []string{"colour"}},
		{"repeated query", "GET", "/api/rate-rules/?plan=a&plan=b", "", "", 400, admin.ProblemInvalidQuery, []string{"plan"}},
		{"bad filter values", "GET", "/api/rate-rules/?enabled=maybe&limit=0", "", "", 400, admin.ProblemInvalidQuery, []string{"enabled", "limit"}},
		{"bad key type", "GET", "/api/rate-rules/?key_type=colour", "", "", 400, admin.ProblemInvalidQuery, []string{"key_type"}},
		{"bad cursor", "GET", "/api/rate-rules/?cursor=zzz", "", "", 400, admin.ProblemInvalidQuery, []string{"cursor"}},
		{"bad soft", "DELETE", ruleURL + "?soft=maybe", "", "", 400, admin.ProblemInvalidQuery, []string{"soft"}},
		{"bad audit limit", "GET", ruleURL + "/audit?limit=-1", "", "", 400, admin.ProblemInvalidQuery, []string{"limit"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := call(t, h, tt.method, tt.path, opsSecret, tt.ct, tt.body)
			p := wantProblem(t, resp, tt.status, tt.kind)
			var fields []string
			for _, f := range p.Errors {
				if f.Rule == "" {
					t.Errorf("field %s names no rule", f.Field)
				}
				fields = append(fields, f.Field)
			}
			if strings.Join(fields, ",") != strings.Join(tt.fields, ",") {
				t.Errorf("errors name %q, want %q (problem %+v)", fields, tt.fields, p)
			}
			if tt.status == 405 && resp.Header.Get("Allow") == "" {
				t.Error("405 without Allow")
			}
			if p.Instance != strings.SplitN(tt.path, "?", 2)[0] {
				t.Errorf("instance = %q", p.Instance)
			}
		})
	}
}

func TestParseTokens(t *testing.T) {
	toks, err := admin.ParseTokens(" ops:0123456789abcdef:rw , grafana:fedcba9876543210:ro,ci:with:colons:inside1 ")
	if err != nil {
		t.Fatal(err)
	}
	want := []admin.Token{
		admin.NewToken("ops", "0123456789abcdef", false),
		admin.NewToken("grafana", "fedcba9876543210", true),
		admin.NewToken("ci", "with:colons:inside1", false),
	}
	if len(toks) != len(want) {
		t.Fatalf("got %d tokens, want %d", len(toks), len(want))
	}
	for i := range want {
		if toks[i] != want[i] {
			t.Errorf("token %d = %+v, want %+v", i, toks[i], want[i])
		}
	}
	if toks, err := admin.ParseTokens(""); err != nil || len(toks) != 0 {
		t.Errorf("empty: %v %v", toks, err)
	}
	for _, bad := range []string{
		"nocolon",
		"ops:short",
		"ops:0123456789abcdef,ops:0123456789abcdeg",
		"bad name:0123456789abcdef",
		":0123456789abcdef",
		"ops:0123456789 abcdef",
	} {
		if _, err := admin.ParseTokens(bad); err == nil {
			t.Errorf("ParseTokens(%q) accepted", bad)
		}
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	repo := openRepo(t, filepath.Join(t.TempDir(), "rules.db"))
	if _, err := admin.New(repo, admin.Config{}); err == nil {
		t.Error("New without tokens succeeded")
	}
	tok := admin.NewToken("a", "0123456789abcdef", false)
	if _, err := admin.New(repo, admin.Config{Tokens: []admin.Token{tok, tok}}); err == nil {
		t.Error("New with duplicate token names succeeded")
	}
	if _, err := admin.New(repo, admin.Config{Tokens: []admin.Token{tok}, MaxBody: -1}); err == nil {
		t.Error("New with negative MaxBody succeeded")
	}
}
