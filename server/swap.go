package server

import (
	"net/http"
	"sync/atomic"
)

// Swap is an http.Handler that serves with the handler last stored in it,
// so that a configuration reload can replace a handler (the decision API
// with a new shadow mode, the admin API with new tokens) while requests are
// being served: a request runs entirely on the handler it started with.
type Swap struct {
	h atomic.Pointer[http.Handler]
}

// NewSwap returns a Swap serving h.
func NewSwap(h http.Handler) *Swap {
	s := &Swap{}
	s.Store(h)
	return s
}

// Store makes h serve the requests that start from now on.
func (s *Swap) Store(h http.Handler) { s.h.Store(&h) }

// ServeHTTP serves r with the current handler.
func (s *Swap) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	(*s.h.Load()).ServeHTTP(w, r)
}
