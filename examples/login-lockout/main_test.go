package main

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/store/memory"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newTestHandler(t *testing.T) (http.Handler, *clock) {
	t.Helper()
	clk := &clock{t: time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC)}
	st := memory.New(memory.Config{Now: clk.Now})
	lim := sluice.New(st, sluice.Config{Now: clk.Now})
	t.Cleanup(func() { _ = lim.Close(); _ = st.Close() })
	h, err := newHandler(lim)
	if err != nil {
		t.Fatal(err)
	}
	return h, clk
}

func login(h http.Handler, email, password string) *httptest.ResponseRecorder {
	form := url.Values{"email": {email}, "password": {password}}
	r := httptest.NewRequest(http.MethodPost, "/login", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

const good = "correct horse battery staple"

func TestLockoutAfterThreeFailures(t *testing.T) {
	h, clk := newTestHandler(t)
	for i := 1; i <= 3; i++ {
		if w := login(h, "alice@example.com", "wrong"); w.Code != 401 {
			t.Fatalf("failure %d: %d", i, w.Code)
		}
	}
	// Locked: even the right password is refused, without being checked.
	w := login(h, "Alice@Example.com", good)
	if w.Code != 429 || w.Header().Get("Retry-After") != "900" {
		t.Fatalf("after 3 failures: %d, Retry-After %q, want 429 and 900", w.Code, w.Header().Get("Retry-After"))
	}
	// Another account is not affected.
	if w := login(h, "bob@example.com", "x"); w.Code != 401 {
		t.Errorf("bob: %d", w.Code)
	}
	// The lock lifts 15 minutes after the last failure.
	clk.Advance(15 * time.Minute)
	if w := login(h, "alice@example.com", good); w.Code != 200 {
		t.Errorf("after 15 minutes: %d", w.Code)
	}
}

func TestSuccessResetsFailures(t *testing.T) {
	h, _ := newTestHandler(t)
	login(h, "alice@example.com", "wrong")
	login(h, "alice@example.com", "wrong")
	if w := login(h, "alice@example.com", good); w.Code != 200 {
		t.Fatalf("success: %d", w.Code)
	}
	// The count starts over: three more failures before the lock.
	for i := 1; i <= 3; i++ {
		if w := login(h, "alice@example.com", "wrong"); w.Code != 401 {
			t.Fatalf("failure %d after reset: %d", i, w.Code)
		}
	}
	if w := login(h, "alice@example.com", good); w.Code != 429 {
		t.Errorf("after 3 more failures: %d", w.Code)
	}
	if w := login(h, "", ""); w.Code != 400 {
		t.Errorf("empty form: %d", w.Code)
	}
}
