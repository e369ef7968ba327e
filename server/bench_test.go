package server

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkRouting measures what the server's routing adds to a decision
// request: the listener's mux and the Swap in front of the decision API.
func BenchmarkRouting(b *testing.B) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	s := &Server{cfg: Config{AdminAddr: "127.0.0.1:0", Decisions: NewSwap(ok)}}
	mux := s.httpMux()
	r := httptest.NewRequest(http.MethodPost, "/v1/limit", nil)
	w := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		mux.ServeHTTP(w, r)
	}
}
