// Package server composes the listeners of `sluice serve`: the HTTP
// listener (the decision API, health, metrics), the gRPC listener (the
// gRPC decision API, Envoy RLS and gRPC health) and the admin listener (the
// rules admin API, metrics, health and, when enabled, pprof), with
// timeouts on every HTTP server and a graceful shutdown that lets requests
// in flight finish.
//
// The handlers and gRPC services are built by the caller and passed in;
// the package owns only the plumbing: routes, health, readiness, metrics
// exposition, pprof, lifecycle.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// Defaults of Config.
const (
	DefaultReadHeaderTimeout = 5 * time.Second
	DefaultIdleTimeout       = 120 * time.Second
	DefaultShutdownTimeout   = 15 * time.Second
	DefaultCheckTimeout      = 2 * time.Second
	DefaultMaxHeaderBytes    = 64 << 10
)

// AdminPath is where the rules admin API is mounted.
const AdminPath = "/api/rate-rules"

// DecisionsPrefix begins the paths of the HTTP decision API, which stay
// with Decisions when a Gateway is set.
const DecisionsPrefix = "/v1/"

// Config configures a Server. Listener addresses are host:port; an empty
// address turns its listener off (but see AdminAddr).
type Config struct {
	// HTTPAddr is the HTTP listener: Decisions, /healthz, /readyz,
	// /metrics, and the admin API when AdminAddr is empty.
	HTTPAddr string
	// GRPCAddr is the gRPC listener: the GRPCServices and gRPC health.
	GRPCAddr string
	// AdminAddr is the admin listener: the admin API, /metrics,
	// /healthz, /readyz and pprof (when Pprof). Empty mounts the admin API
	// on the HTTP listener instead, without pprof.
	AdminAddr string
	// Pprof serves net/http/pprof under /debug/pprof/ on the admin
	// listener. New fails when it is set without an AdminAddr.
	Pprof bool

	// Decisions serves every HTTP path not listed above (the decision API).
	// Nil answers 404.
	Decisions http.Handler
	// Admin serves AdminPath and everything under it. Nil answers 503:
	// the admin API is not configured.
	Admin http.Handler
	// Gateway, when set, serves the HTTP listener's paths outside the
	// decision API (DecisionsPrefix), health, metrics and the admin API:
	// the gateway's routes. Nil sends every such path to Decisions.
	Gateway http.Handler
	// AdminRoutes are more endpoints of the admin listener (of the HTTP
	// listener when AdminAddr is empty), each mounted for its path and
	// everything under it, such as the API keys' /api/api-keys.
	AdminRoutes map[string]http.Handler
	// Gatherer is exposed at /metrics. Nil serves no /metrics. There is no
	// global registry: pass the one the collectors were registered on.
	Gatherer prometheus.Gatherer
	// Checks are the readiness checks of /readyz, such as the store's Ping
	// and the rules database's Ping; each runs with CheckTimeout.
	Checks []Check
	// CheckTimeout bounds each readiness check; 0 means DefaultCheckTimeout.
	CheckTimeout time.Duration
	// GRPCServices register the gRPC services on the gRPC server; gRPC
	// health (grpc.health.v1) is always registered.
	GRPCServices []func(grpc.ServiceRegistrar)
	// GRPCOptions are extra options of the gRPC server.
	GRPCOptions []grpc.ServerOption

	// ReadHeaderTimeout, ReadTimeout, WriteTimeout and IdleTimeout are the
	// HTTP servers' timeouts (see http.Server); zero ReadHeaderTimeout and
	// IdleTimeout take their defaults, zero ReadTimeout and WriteTimeout
	// mean none.
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
	// MaxHeaderBytes caps request headers; 0 means DefaultMaxHeaderBytes.
	MaxHeaderBytes int
	// ShutdownTimeout bounds the graceful shutdown; 0 means
	// DefaultShutdownTimeout. Requests still running after it are cut.
	ShutdownTimeout time.Duration
	// DrainDelay is how long the listeners keep serving after shutdown
	// begins, with /readyz answering 503 and gRPC health NOT_SERVING, so
	// that load balancers stop sending new requests before the listeners
	// close. Zero closes them at once. It is not part of ShutdownTimeout.
	DrainDelay time.Duration
	// Logger receives lifecycle events and errors; nil discards.
	Logger *slog.Logger
}

// Check is one readiness check.
type Check struct {
	// Name names the check in /readyz's answer, such as "store".
	Name string
	// Check returns nil when the dependency is ready.
	Check func(context.Context) error
}

// Server runs the listeners. Create one with New, run it with Run.
type Server struct {
	cfg      Config
	log      *slog.Logger
	http     *listener
	admin    *listener
	grpc     *grpc.Server
	grpcLn   net.Listener
	health   *health.Server
	draining atomic.Bool
	ran      atomic.Bool
}

// listener is one HTTP server with its bound listener.
type listener struct {
	name string
	ln   net.Listener
	srv  *http.Server
}

// New validates cfg, builds the servers and binds every listener, so that
// a port in use is reported here and Addr returns the bound addresses
// (useful with port 0). Call Run to serve, or Close to release the
// listeners without serving.
func New(cfg Config) (*Server, error) {
	if cfg.Pprof && cfg.AdminAddr == "" {
		return nil, errors.New("server: pprof needs an admin listener of its own (AdminAddr)")
	}
	if cfg.HTTPAddr == "" && cfg.GRPCAddr == "" {
		return nil, errors.New("server: no listener: set HTTPAddr or GRPCAddr")
	}
	for _, c := range cfg.Checks {
		if c.Name == "" || c.Check == nil {
			return nil, errors.New("server: a readiness check needs a Name and a Check")
		}
	}
	s := &Server{cfg: cfg, log: cfg.Logger}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.defaults()
	var err error
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	if cfg.HTTPAddr != "" {
		if s.http, err = s.listen("http", cfg.HTTPAddr, s.httpMux()); err != nil {
			return nil, err
		}
	}
	if cfg.AdminAddr != "" {
		if s.admin, err = s.listen("admin", cfg.AdminAddr, s.adminMux()); err != nil {
			return nil, err
		}
	}
	if cfg.GRPCAddr != "" {
		if s.grpcLn, err = net.Listen("tcp", cfg.GRPCAddr); err != nil {
			err = fmt.Errorf("server: grpc listener: %w", err)
			return nil, err
		}
		s.grpc = grpc.NewServer(cfg.GRPCOptions...)
		s.health = health.NewServer()
		healthpb.RegisterHealthServer(s.grpc, s.health)
		for _, register := range cfg.GRPCServices {
			register(s.grpc)
		}
	}
	return s, nil
}

func (s *Server) defaults() {
	c := &s.cfg
	if c.ReadHeaderTimeout <= 0 {
		c.ReadHeaderTimeout = DefaultReadHeaderTimeout
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.MaxHeaderBytes <= 0 {
		c.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = DefaultShutdownTimeout
	}
	if c.CheckTimeout <= 0 {
		c.CheckTimeout = DefaultCheckTimeout
	}
}

// listen binds addr and builds its HTTP server.
func (s *Server) listen(name, addr string, h http.Handler) (*listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("server: %s listener: %w", name, err)
	}
	return &listener{name: name, ln: ln, srv: &http.Server{
		Handler:           h,
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		ReadTimeout:       s.cfg.ReadTimeout,
		WriteTimeout:      s.cfg.WriteTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		MaxHeaderBytes:    s.cfg.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}}, nil
}

// HTTPAddr returns the bound address of the HTTP listener, or nil.
func (s *Server) HTTPAddr() net.Addr { return s.http.addr() }

// AdminAddr returns the bound address of the admin listener, or nil.
func (s *Server) AdminAddr() net.Addr { return s.admin.addr() }

// GRPCAddr returns the bound address of the gRPC listener, or nil.
func (s *Server) GRPCAddr() net.Addr {
	if s.grpcLn == nil {
		return nil
	}
	return s.grpcLn.Addr()
}

func (l *listener) addr() net.Addr {
	if l == nil {
		return nil
	}
	return l.ln.Addr()
}

// Close releases the listeners of a Server that is not running. After
// Run has started, cancel its context instead.
func (s *Server) Close() error {
	var errs []error
	for _, l := range []*listener{s.http, s.admin} {
		if l != nil {
			errs = append(errs, ignoreClosed(l.ln.Close()))
		}
	}
	if s.grpcLn != nil {
		errs = append(errs, ignoreClosed(s.grpcLn.Close()))
	}
	if s.grpc != nil {
		s.grpc.Stop()
	}
	return errors.Join(errs...)
}

func ignoreClosed(err error) error {
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// Run serves on every listener until ctx is done, then shuts down
// gracefully: readiness turns 503 and gRPC health NOT_SERVING (for
// DrainDelay the listeners go on serving), new connections are refused, requests and RPCs in flight get
// ShutdownTimeout to finish (then they are cut), and Run returns. It
// returns nil after a graceful shutdown, or the first serving error (a
// listener failing), having shut the others down. Run may be called once.
func (s *Server) Run(ctx context.Context) error {
	if !s.ran.CompareAndSwap(false, true) {
		return errors.New("server: Run called twice")
	}
	errc := make(chan error, 3)
	var wg sync.WaitGroup
	for _, l := range []*listener{s.http, s.admin} {
		if l == nil {
			continue
		}
		wg.Go(func() {
			if err := l.srv.Serve(l.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("server: %s listener: %w", l.name, err)
			}
		})
	}
	if s.grpc != nil {
		for name := range s.grpc.GetServiceInfo() {
			s.health.SetServingStatus(name, healthpb.HealthCheckResponse_SERVING)
		}
		s.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
		wg.Go(func() {
			if err := s.grpc.Serve(s.grpcLn); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
				errc <- fmt.Errorf("server: grpc listener: %w", err)
			}
		})
	}
	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
		s.log.Error("server: a listener failed; shutting down", "err", runErr)
	}
	shutErr := s.shutdown()
	wg.Wait()
	return errors.Join(runErr, shutErr)
}

// shutdown stops every listener gracefully within ShutdownTimeout.
func (s *Server) shutdown() error {
	s.draining.Store(true)
	if s.health != nil {
		s.health.Shutdown() // every service NOT_SERVING
	}
	if s.cfg.DrainDelay > 0 {
		s.log.Info("server: shutting down; draining: not ready, still serving", "delay", s.cfg.DrainDelay)
		time.Sleep(s.cfg.DrainDelay)
	}
	s.log.Info("server: shutting down; finishing requests in flight", "timeout", s.cfg.ShutdownTimeout)
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i, l := range []*listener{s.http, s.admin} {
		if l == nil {
			continue
		}
		wg.Go(func() {
			if err := l.srv.Shutdown(ctx); err != nil {
				_ = l.srv.Close()
				errs[i] = fmt.Errorf("server: %s listener: requests still running after %s were cut: %w", l.name, s.cfg.ShutdownTimeout, err)
			}
		})
	}
	if s.grpc != nil {
		wg.Go(func() {
			done := make(chan struct{})
			go func() { s.grpc.GracefulStop(); close(done) }()
			select {
			case <-done:
			case <-ctx.Done():
				s.grpc.Stop()
				<-done
				errs[2] = fmt.Errorf("server: grpc listener: RPCs still running after %s were cut", s.cfg.ShutdownTimeout)
			}
		})
	}
	wg.Wait()
	err := errors.Join(errs...)
	if err != nil {
		s.log.Warn("server: shutdown was not graceful", "err", err)
	} else {
		s.log.Info("server: stopped")
	}
	return err
}
