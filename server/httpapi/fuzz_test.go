package httpapi_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzLimitBody sends arbitrary bodies to every JSON endpoint: the answer
// is always a decision (200, 429, 204) or a problem (400, 413), in JSON,
// never a 500 or a panic.
func FuzzLimitBody(f *testing.F) {
	for _, s := range []string{
		`{"key":"k","limit":"100/1m"}`,
		`{"action":"login","identity":"a@example.com","requests":1,"window_ms":60000}`,
		`{"key":"k","requests":10,"window":"1s","algorithm":"token_bucket","burst":20,"cost":3}`,
		`{"key":"k","limit":"5000/month tz=Europe/Berlin"}`,
		`{"limits":[{"key":"a","limit":"1/s"},{"key":"b","limit":"2/s","name":"b"}]}`,
		`{"user_id":"u","ip":"10.1.2.3","route":"/api/chat","method":"POST","plan":"free","cost":2}`,
		`{"key":"k","requests":1e400,"window":"1m"}`,
		`{"key":"\u0000","limit":"1/1us"}`,
		`[]`, `null`, `{"limits":null}`, `{"key":"k","limit":"1/s"}{}`,
	} {
		f.Add(s)
	}
	e := newEnv(f, withRules(f), withMaxBody(4096))
	paths := []string{"/v1/limit", "/v1/limit/batch", "/v1/rules/check", "/v1/reset"}
	f.Fuzz(func(t *testing.T, body string) {
		for _, path := range paths {
			req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			rec := httptest.NewRecorder()
			e.handler.ServeHTTP(rec, req)
			switch rec.Code {
			case 200, 429, 400, 413:
			case 204:
				if path != "/v1/reset" {
					t.Fatalf("%s: 204", path)
				}
				continue
			default:
				t.Fatalf("%s %q: status %d: %s", path, body, rec.Code, rec.Body)
			}
			if !json.Valid(rec.Body.Bytes()) {
				t.Fatalf("%s %q: body is not JSON: %s", path, body, rec.Body)
			}
		}
	})
}

// FuzzPeekQuery sends arbitrary query strings to GET /v1/limit.
func FuzzPeekQuery(f *testing.F) {
	for _, s := range []string{"key=k&limit=1/s", "action=a&identity=b&requests=5&window=1m", "key=k&limit=%zz", "a=1&a=2", ""} {
		f.Add(s)
	}
	e := newEnv(f)
	f.Fuzz(func(t *testing.T, query string) {
		req := httptest.NewRequest(http.MethodGet, "/v1/limit", nil)
		req.URL.RawQuery = query
		rec := httptest.NewRecorder()
		e.handler.ServeHTTP(rec, req)
		if rec.Code != 200 && rec.Code != 400 {
			t.Fatalf("%q: status %d: %s", query, rec.Code, rec.Body)
		}
		if !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("%q: body is not JSON: %s", query, rec.Body)
		}
	})
}
