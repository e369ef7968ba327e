package policy_test

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/policy"
)

var noop = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })

// benchMiddleware measures the middleware's overhead per request over a
// memory store: the handler does nothing.
func benchMiddleware(b *testing.B, opts policy.Options, setup func(*http.Request), ps ...*policy.Policy) {
	lim := sluice.New(nil, sluice.Config{BlockCacheSize: -1})
	defer lim.Close()
	set, err := policy.NewSetWith(lim, opts, ps...)
	if err != nil {
		b.Fatal(err)
	}
	mw := policy.Middleware(set)(noop)
	r := httptest.NewRequest(http.MethodGet, "/v1/items", nil)
	r.RemoteAddr = "10.0.0.1:5"
	r.Header.Set("X-Forwarded-For", "203.0.113.9")
	if setup != nil {
		setup(r)
	}
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		mw.ServeHTTP(w, r)
	}
	if w.code != http.StatusNoContent {
		b.Fatalf("status %d", w.code)
	}
}

type discardWriter struct {
	h    http.Header
	code int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *discardWriter) WriteHeader(code int)        { w.code = code }

var big = sluice.MustParseLimit("1000000000/1h")

func BenchmarkMiddlewareNone(b *testing.B) {
	b.ReportAllocs()
	r := httptest.NewRequest(http.MethodGet, "/v1/items", nil)
	w := &discardWriter{h: http.Header{}}
	for b.Loop() {
		noop.ServeHTTP(w, r)
	}
}

func BenchmarkMiddlewareIP(b *testing.B) {
	benchMiddleware(b, policy.Options{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}, nil,
		&policy.Policy{Name: "per-ip", By: policy.ByIP, Limit: big})
}

func BenchmarkMiddlewareIPAndUser(b *testing.B) {
	benchMiddleware(b, policy.Options{}, func(r *http.Request) {
		*r = *r.WithContext(policy.WithUser(r.Context(), policy.User{Subject: "alice"}))
	},
		&policy.Policy{Name: "per-ip", By: policy.ByIP, Limit: big},
		&policy.Policy{Name: "per-user", By: policy.ByUser, Limit: big})
}

func BenchmarkMiddlewareCEL(b *testing.B) {
	fn, err := policy.CompileCEL(`"x-api-key" in request.headers ? request.headers["x-api-key"] : null`)
	if err != nil {
		b.Fatal(err)
	}
	benchMiddleware(b, policy.Options{}, func(r *http.Request) { r.Header.Set("X-Api-Key", "k1") },
		&policy.Policy{Name: "by-key", By: policy.ByFunction, Func: fn, Limit: big})
}

func BenchmarkMiddlewareComplex(b *testing.B) {
	benchMiddleware(b, policy.Options{}, func(r *http.Request) {
		*r = *r.WithContext(policy.WithUser(r.Context(), policy.User{Subject: "alice"}))
	}, &policy.Policy{Name: "usage", By: policy.ByUser, Counters: []policy.Counter{{Name: "requests", Limit: big}, {Name: "compute", Limit: big}}})
}

func BenchmarkMiddlewareAsync(b *testing.B) {
	benchMiddleware(b, policy.Options{}, nil, &policy.Policy{Name: "per-ip", By: policy.ByIP, Limit: big, Mode: policy.Async})
}
