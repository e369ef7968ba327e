package policy

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
)

// Middleware returns net/http middleware that applies set to every request
// before next: a request the policies refuse is answered (401, 403, 429 or
// 503, with an application/problem+json body) and never reaches next. The
// rate-limit headers are added when next writes its response header; next
// may call SetIncrement on the request's context, or set a
// Sluice-Increments response header (removed before it is sent), to charge
// the counters of complex policies, which are charged when next returns.
func Middleware(set *Set) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			call, r, ok := set.Check(w, r)
			if !ok {
				return
			}
			rw := &responseWriter{ResponseWriter: w, call: call}
			defer call.Finish(nil)
			next.ServeHTTP(rw, r)
			rw.writeHeaders()
		})
	}
}

// responseWriter adds the rate-limit headers when the handler writes its
// response header.
type responseWriter struct {
	http.ResponseWriter
	call  *Call
	wrote bool
}

func (w *responseWriter) writeHeaders() {
	if !w.wrote {
		w.wrote = true
		w.call.WriteHeaders(w.Header())
	}
}

// WriteHeader adds the rate-limit headers before a final status (1xx
// informational answers pass as they are).
func (w *responseWriter) WriteHeader(code int) {
	if code >= 200 || code == http.StatusSwitchingProtocols {
		w.writeHeaders()
	}
	w.ResponseWriter.WriteHeader(code)
}

// Write adds the rate-limit headers before the first byte.
func (w *responseWriter) Write(b []byte) (int, error) {
	w.writeHeaders()
	return w.ResponseWriter.Write(b)
}

// Flush implements http.Flusher.
func (w *responseWriter) Flush() {
	w.writeHeaders()
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Hijack implements http.Hijacker for protocol upgrades.
func (w *responseWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	w.writeHeaders()
	c, rw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, fmt.Errorf("policy middleware: %w", err)
	}
	return c, rw, nil
}

// Unwrap returns the wrapped ResponseWriter, for http.ResponseController.
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
