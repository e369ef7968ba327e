package policy_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/policy"
	"github.com/sluicehq/sluice/store"
	"github.com/sluicehq/sluice/store/memory"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// clock is a fake clock tests move by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock(t time.Time) *clock { return &clock{t: t} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

var epoch = time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)

// newLimiter returns a Limiter over a memory store, both on clk.
func newLimiter(t testing.TB, clk *clock) *sluice.Limiter {
	t.Helper()
	st := memory.New(memory.Config{Now: clk.Now, SweepInterval: -1})
	lim := sluice.New(st, sluice.Config{Now: clk.Now})
	t.Cleanup(func() {
		_ = lim.Close()
		_ = st.Close()
	})
	return lim
}

// newSet builds a Set or fails the test.
func newSet(t testing.TB, lim *sluice.Limiter, opts policy.Options, ps ...*policy.Policy) *policy.Set {
	t.Helper()
	s, err := policy.NewSetWith(lim, opts, ps...)
	if err != nil {
		t.Fatalf("NewSetWith: %v", err)
	}
	return s
}

// handler counts its calls and answers 200 "ok".
type handler struct{ calls atomic.Int64 }

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.calls.Add(1)
	_, _ = io.WriteString(w, "ok")
}

// do sends one request through h, from remote, with optional setup.
func do(h http.Handler, remote string, setup ...func(*http.Request)) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodGet, "http://api.example/v1/items", nil)
	r.RemoteAddr = remote
	for _, f := range setup {
		f(r)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func withUser(sub string, data map[string]any) func(*http.Request) {
	return func(r *http.Request) {
		*r = *r.WithContext(policy.WithUser(r.Context(), policy.User{Subject: sub, Data: data}))
	}
}

func withHeader(k, v string) func(*http.Request) {
	return func(r *http.Request) { r.Header.Add(k, v) }
}

// statuses sends n requests and returns their status codes.
func statuses(h http.Handler, n int, remote string, setup ...func(*http.Request)) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = do(h, remote, setup...).Code
	}
	return out
}

// failingStore is a store whose every call fails, as a stopped Redis would.
type failingStore struct{ err error }

var errDown = errors.New("connection refused")

func (f failingStore) Take(context.Context, string, sluice.Limit, int64) (sluice.Decision, error) {
	return sluice.Decision{}, f.err
}

func (f failingStore) TakeAll(context.Context, []store.Request, []sluice.Decision) (bool, error) {
	return false, f.err
}

func (f failingStore) Refund(context.Context, string, sluice.Limit, int64) (sluice.Decision, error) {
	return sluice.Decision{}, f.err
}

func (f failingStore) Reset(context.Context, string) error { return f.err }

// recorder is an Observer keeping every event.
type recorder struct {
	mu     sync.Mutex
	events []policy.Event
}

func (r *recorder) Observe(_ context.Context, e policy.Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

func (r *recorder) all() []policy.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]policy.Event(nil), r.events...)
}
