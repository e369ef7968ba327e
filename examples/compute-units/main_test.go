package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"testing"

	"github.com/sluicehq/sluice"
)

func get(h http.Handler, path, user string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodGet, path, nil)
	if user != "" {
		r.Header.Set("Authorization", "Bearer key-"+user)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// remaining is the RateLimit header without the reset times, which depend
// on the clock.
func remaining(w *httptest.ResponseRecorder) string {
	return regexp.MustCompile(`;t=\d+`).ReplaceAllString(w.Header().Get("RateLimit"), "")
}

func TestComputeUnitsFromTheHandler(t *testing.T) {
	lim := sluice.New(nil, sluice.Config{})
	defer lim.Close()
	h, err := newHandler(lim, "")
	if err != nil {
		t.Fatal(err)
	}
	// Headers show the counters before this call's compute is charged.
	w := get(h, "/v1/report?pages=8", "alice")
	if w.Code != 200 || remaining(w) != `"usage/requests";r=99, "usage/compute";r=19` {
		t.Fatalf("first: %d %q", w.Code, remaining(w))
	}
	// 8 used; 12 left: another 8, then 4 left.
	if w := get(h, "/v1/report?pages=8", "alice"); w.Code != 200 {
		t.Fatalf("second: %d", w.Code)
	}
	w = get(h, "/v1/report?pages=0", "alice")
	if got := remaining(w); got != `"usage/requests";r=97, "usage/compute";r=3` {
		t.Errorf("third (0 pages, reserving 1): %q", got)
	}
	// 4 left: a 10-page report passes the check (room for 1) and empties it.
	if w := get(h, "/v1/report?pages=10", "alice"); w.Code != 200 {
		t.Fatalf("fourth: %d", w.Code)
	}
	w = get(h, "/v1/report?pages=1", "alice")
	if w.Code != 429 || w.Header().Get("Retry-After") == "" {
		t.Errorf("compute exhausted: %d, Retry-After %q", w.Code, w.Header().Get("Retry-After"))
	}
	// Bob has his own counters.
	if w := get(h, "/v1/report?pages=20", "bob"); w.Code != 200 {
		t.Errorf("bob: %d", w.Code)
	}
	if w := get(h, "/v1/report?pages=1", ""); w.Code != 401 {
		t.Errorf("anonymous: %d", w.Code)
	}
}

func TestComputeUnitsFromAnUpstream(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Sluice-Increments", "compute=15")
		_, _ = io.WriteString(w, "done\n")
	}))
	defer up.Close()
	lim := sluice.New(nil, sluice.Config{})
	defer lim.Close()
	h, err := newHandler(lim, up.URL)
	if err != nil {
		t.Fatal(err)
	}
	w := get(h, "/v1/upstream/job", "carol")
	if w.Code != 200 || w.Body.String() != "done\n" {
		t.Fatalf("first: %d %q", w.Code, w.Body)
	}
	if _, leaked := w.Header()["Sluice-Increments"]; leaked {
		t.Error("Sluice-Increments reached the client")
	}
	// The proxy writes headers after charging: 20 - 15 = 5.
	if got := remaining(w); got != `"usage/requests";r=99, "usage/compute";r=5` {
		t.Errorf("RateLimit %q", got)
	}
	if w := get(h, "/v1/upstream/job", "carol"); w.Code != 200 {
		t.Fatalf("second: %d", w.Code)
	}
	if w := get(h, "/v1/upstream/job", "carol"); w.Code != 429 {
		t.Errorf("third: %d, want 429", w.Code)
	}
}
