package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/pprof"
	"slices"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// httpMux routes the HTTP listener: a few fixed paths, the admin API when
// it shares this listener, and everything else to the decision API. It is
// on the path of every decision, so it is a map lookup rather than a
// ServeMux's pattern matching.
func (s *Server) httpMux() http.Handler {
	rt := &router{fixed: map[string]http.Handler{
		"/healthz": getOnly(http.HandlerFunc(s.healthz)),
		"/readyz":  getOnly(http.HandlerFunc(s.readyz)),
	}, fallback: s.cfg.Decisions, gateway: s.cfg.Gateway}
	if h := s.metricsHandler(); h != nil {
		rt.fixed["/metrics"] = getOnly(h)
	}
	if s.cfg.AdminAddr == "" {
		rt.admin = s.cfg.Admin
		if rt.admin == nil {
			rt.admin = AdminDisabled()
		}
		rt.adminRoutes = s.cfg.AdminRoutes
	}
	if rt.fallback == nil {
		rt.fallback = http.NotFoundHandler()
	}
	return rt
}

// router is the HTTP listener's handler.
type router struct {
	fixed    map[string]http.Handler
	admin    http.Handler // nil when the admin API has its own listener
	fallback http.Handler
	// gateway, when set, serves what is not the decision API.
	gateway http.Handler
	// adminRoutes are the more admin endpoints, when on this listener.
	adminRoutes map[string]http.Handler
}

// ServeHTTP routes r by its path.
func (rt *router) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	if h, ok := rt.fixed[p]; ok {
		h.ServeHTTP(w, r)
		return
	}
	if rt.admin != nil && (p == AdminPath || strings.HasPrefix(p, AdminPath+"/")) {
		rt.admin.ServeHTTP(w, r)
		return
	}
	for prefix, h := range rt.adminRoutes {
		if p == prefix || strings.HasPrefix(p, prefix+"/") {
			h.ServeHTTP(w, r)
			return
		}
	}
	if rt.gateway != nil && !strings.HasPrefix(p, DecisionsPrefix) {
		rt.gateway.ServeHTTP(w, r)
		return
	}
	rt.fallback.ServeHTTP(w, r)
}

// getOnly answers methods other than GET and HEAD with 405.
func getOnly(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed; use GET", http.StatusMethodNotAllowed)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// adminMux routes the admin listener.
func (s *Server) adminMux() http.Handler {
	mux := http.NewServeMux()
	s.common(mux)
	s.mountAdmin(mux)
	if s.cfg.Pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return mux
}

// common mounts what every HTTP listener serves: health, readiness, metrics.
func (s *Server) common(mux *http.ServeMux) {
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
	if h := s.metricsHandler(); h != nil {
		mux.Handle("GET /metrics", h)
	}
}

// metricsHandler exposes the Gatherer, or is nil without one.
func (s *Server) metricsHandler() http.Handler {
	if s.cfg.Gatherer == nil {
		return nil
	}
	return promhttp.HandlerFor(s.cfg.Gatherer, promhttp.HandlerOpts{
		ErrorLog:          slogPrinter{s},
		ErrorHandling:     promhttp.ContinueOnError,
		EnableOpenMetrics: true,
	})
}

// mountAdmin mounts the admin API.
func (s *Server) mountAdmin(mux *http.ServeMux) {
	h := s.cfg.Admin
	if h == nil {
		h = AdminDisabled()
	}
	mux.Handle(AdminPath, h)
	mux.Handle(AdminPath+"/", h)
	for prefix, h := range s.cfg.AdminRoutes {
		mux.Handle(prefix, h)
		mux.Handle(prefix+"/", h)
	}
}

// AdminDisabled answers the admin API's paths with 503 when no admin token
// is configured: the server mounts it when Config.Admin is nil.
func AdminDisabled() http.Handler { return http.HandlerFunc(adminDisabled) }

func adminDisabled(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(http.StatusServiceUnavailable)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"type":   "urn:sluice:problem:admin-disabled",
		"title":  "admin API disabled",
		"status": http.StatusServiceUnavailable,
		"detail": "no admin token is configured: set admin.tokens in the configuration or SLUICE_ADMIN_TOKENS, or use `sluice rules`",
	})
}

// healthz answers 200 while the process is alive, draining or not.
func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write([]byte(`{"status":"ok"}` + "\n"))
}

// Readiness is the body of /readyz.
type Readiness struct {
	// Status is "ready", "not ready" or "shutting down".
	Status string `json:"status"`
	// Checks maps each check's name to "ok" or its error.
	Checks map[string]string `json:"checks,omitempty"`
}

// readyz runs every readiness check concurrently: 200 when all pass, 503
// naming the ones that failed (and while shutting down). Checks named by
// exclude parameters (/readyz?exclude=store&exclude=rules, as Kubernetes'
// own /readyz takes them) are not run; an unknown name is a 400.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	exclude := r.URL.Query()["exclude"]
	for _, name := range exclude {
		if !slices.ContainsFunc(s.cfg.Checks, func(c Check) bool { return c.Name == name }) {
			w.WriteHeader(http.StatusBadRequest)
			_ = json.NewEncoder(w).Encode(map[string]string{"error": fmt.Sprintf("exclude=%q names no check; the checks are %s", name, s.checkNames())})
			return
		}
	}
	body, ok := s.Ready(r.Context(), exclude...)
	if !ok {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	_ = json.NewEncoder(w).Encode(body)
}

// checkNames lists the readiness checks' names, comma-separated.
func (s *Server) checkNames() string {
	names := make([]string, len(s.cfg.Checks))
	for i, c := range s.cfg.Checks {
		names[i] = c.Name
	}
	return strings.Join(names, ", ")
}

// Ready runs the readiness checks but those named in exclude, and reports
// whether all passed, with each check's outcome ("ok", its error, or
// "excluded").
func (s *Server) Ready(ctx context.Context, exclude ...string) (Readiness, bool) {
	body := Readiness{Status: "ready", Checks: make(map[string]string, len(s.cfg.Checks))}
	if s.draining.Load() {
		body.Status = "shutting down"
		return body, false
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	ok := true
	for _, c := range s.cfg.Checks {
		if slices.Contains(exclude, c.Name) {
			body.Checks[c.Name] = "excluded"
			continue
		}
		wg.Go(func() {
			cctx, cancel := context.WithTimeout(ctx, s.cfg.CheckTimeout)
			defer cancel()
			err := c.Check(cctx)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				ok = false
				body.Checks[c.Name] = err.Error()
				return
			}
			body.Checks[c.Name] = "ok"
		})
	}
	wg.Wait()
	if !ok {
		body.Status = "not ready"
	}
	return body, ok
}

// slogPrinter adapts the logger to promhttp's error log.
type slogPrinter struct{ s *Server }

func (p slogPrinter) Println(v ...any) {
	p.s.log.Warn("server: /metrics", "err", v)
}
