package httpapi_test

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

// BenchmarkLimit measures POST /v1/limit in process, without the network:
// decoding the JSON body, the decision on the memory store, the metrics,
// the rate-limit headers and the JSON answer. The request is reused, as a
// server's connection reuses its buffers; the recorder is new each time.
func BenchmarkLimit(b *testing.B) {
	e := newEnv(b)
	body := `{"key":"user:42","limit":"100000000/1m"}`
	rd := strings.NewReader(body)
	req := httptest.NewRequest(http.MethodPost, "/v1/limit", rd)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Content-Length", strconv.Itoa(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		rd.Reset(body)
		w := httptest.NewRecorder()
		e.handler.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("%d %s", w.Code, w.Body)
		}
	}
}
