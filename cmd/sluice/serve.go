package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	_ "time/tzdata" // quota time zones work on hosts without a zoneinfo database

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"google.golang.org/grpc"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/gateway"
	"github.com/sluicehq/sluice/internal/logsample"
	"github.com/sluicehq/sluice/policy"
	"github.com/sluicehq/sluice/policy/auth/keydb"
	sluicev1 "github.com/sluicehq/sluice/proto/sluice/v1"
	"github.com/sluicehq/sluice/rules"
	"github.com/sluicehq/sluice/rules/admin"
	"github.com/sluicehq/sluice/rules/rulesdb"
	"github.com/sluicehq/sluice/server"
	"github.com/sluicehq/sluice/server/envoyrls"
	"github.com/sluicehq/sluice/server/grpcapi"
	"github.com/sluicehq/sluice/server/httpapi"
	"github.com/sluicehq/sluice/server/metrics"
	"github.com/sluicehq/sluice/store"
	"github.com/sluicehq/sluice/store/memory"
	"github.com/sluicehq/sluice/store/redis"
)

// ConfigEnv names the configuration file when --config is not given.
const ConfigEnv = "SLUICE_CONFIG"

// defaultConfigFile is read when present and neither --config nor
// SLUICE_CONFIG names a file.
const defaultConfigFile = "sluice.yaml"

const serveUsage = `Usage: sluice serve [--config FILE]

Run the rate-limit service: the HTTP decision API, the gRPC decision API
and Envoy's rate-limit service, the rules admin API, health and metrics,
and, when routes are configured, the gateway proxying the HTTP listener's
other paths to upstreams through policies.

With no configuration it listens on loopback (HTTP 127.0.0.1:8080, gRPC
127.0.0.1:8081, admin 127.0.0.1:8082), keeps counters in memory and rules in
./sluice.db. The configuration file is --config, else $SLUICE_CONFIG, else
./sluice.yaml when present; SLUICE_<SECTION>_<FIELD> variables override it
(see docs/configuration.md).

SIGHUP, or a change of the file, reloads the configuration; SIGTERM or
SIGINT stops gracefully, and a second one stops at once.

Flags:
`

// runServe is `sluice serve`.
func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sluice serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "the configuration `file` (default $SLUICE_CONFIG, else ./sluice.yaml when present)")
	fs.Usage = func() { fmt.Fprint(fs.Output(), serveUsage); fs.PrintDefaults() }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stdout)
			fs.Usage()
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "sluice serve: unexpected arguments %q\n", fs.Args())
		return 2
	}
	env := config.OSEnv()
	file := configFile(*path, env)
	cfg, err := loadConfig(file, env)
	if err != nil {
		fmt.Fprintf(stderr, "sluice serve: the configuration is not valid:\n%v\n", err)
		return 2
	}
	level := new(slog.LevelVar)
	level.Set(parseLevel(cfg.Log.Level))
	log := newLogger(stderr, cfg.Log.Format, level)
	if err := serve(ctx, file, cfg, env, log, level, stderr); err != nil {
		log.Error("sluice serve: " + err.Error())
		return 1
	}
	return 0
}

// configFile returns the configuration file to read, or "" for none.
func configFile(flagValue string, env config.Env) string {
	if flagValue != "" {
		return flagValue
	}
	if v, ok := env(ConfigEnv); ok && v != "" {
		return v
	}
	if _, err := os.Stat(defaultConfigFile); err == nil {
		return defaultConfigFile
	}
	return ""
}

// loadConfig loads file, or the defaults and environment when file is "".
func loadConfig(file string, env config.Env) (*config.Config, error) {
	if file == "" {
		return config.Parse("", nil, env)
	}
	return config.Load(file, env)
}

func parseLevel(s string) slog.Level {
	var l slog.Level
	if strings.EqualFold(s, "warning") {
		s = "warn"
	}
	_ = l.UnmarshalText([]byte(s)) // validated by config
	return l
}

// logSampling is the interval in which at most logsample.Burst warnings or
// errors with the same message are logged: a failing store would otherwise
// log on every request.
const logSampling = time.Second

func newLogger(w io.Writer, format string, level *slog.LevelVar) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewTextHandler(w, opts)
	if format == "json" {
		h = slog.NewJSONHandler(w, opts)
	}
	return slog.New(logsample.New(h, logSampling, nil))
}

// service is everything serve builds from a configuration, and what a
// reload replaces.
type service struct {
	env       config.Env
	log       *slog.Logger
	level     *slog.LevelVar
	store     store.Store
	closeSt   func() error
	lim       *sluice.Limiter
	repo      rules.Repository
	res       *rules.Resolver
	reg       *prometheus.Registry
	met       *metrics.Metrics
	decisions *server.Swap
	admin     *server.Swap
	envoy     *envoyrls.Service
	grpcAPI   *grpcSwap

	keys    *keydb.Store // the database's API keys; nil without auth.database
	keysAPI *server.Swap // the API keys' admin endpoint; nil without auth.database
	gwMu    sync.Mutex   // serializes reloads of the gateway
	gw      *gateway.Gateway
	gwSwap  *server.Swap // the gateway, or decisions while no route is configured
}

// serve runs the service until ctx is done.
func serve(ctx context.Context, file string, cfg *config.Config, env config.Env, log *slog.Logger, level *slog.LevelVar, stderr io.Writer) error {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP) // from the start: SIGHUP's default is to exit
	defer signal.Stop(hup)
	svc := &service{env: env, log: log, level: level}
	defer svc.close()
	if err := svc.build(ctx, cfg); err != nil {
		return err
	}
	srv, err := server.New(server.Config{
		HTTPAddr:          cfg.HTTP.Addr,
		GRPCAddr:          cfg.GRPC.Addr,
		AdminAddr:         cfg.Admin.Addr,
		Pprof:             cfg.Admin.Pprof,
		Decisions:         svc.decisions,
		Admin:             svc.admin,
		Gateway:           svc.gwSwap,
		AdminRoutes:       svc.adminRoutes(),
		Gatherer:          svc.reg,
		Checks:            svc.checks(),
		GRPCServices:      svc.grpcServices(cfg),
		GRPCOptions:       []grpc.ServerOption{grpc.NumStreamWorkers(uint32(runtime.GOMAXPROCS(0)))},
		ReadHeaderTimeout: cfg.HTTP.ReadHeaderTimeout,
		ReadTimeout:       cfg.HTTP.ReadTimeout,
		WriteTimeout:      cfg.HTTP.WriteTimeout,
		IdleTimeout:       cfg.HTTP.IdleTimeout,
		MaxHeaderBytes:    cfg.HTTP.MaxHeaderBytes,
		ShutdownTimeout:   cfg.ShutdownTimeout,
		DrainDelay:        cfg.ShutdownDelay,
		Logger:            log,
	})
	if err != nil {
		return err
	}
	banner(stderr, log, cfg, srv, file)

	watcher := config.NewWatcher(cfg, config.WatcherConfig{Path: file, Env: env, Logger: log, OnChange: svc.reload})
	bgCtx, stopBg := context.WithCancel(context.Background())
	var bg sync.WaitGroup
	bg.Go(func() { watcher.Run(bgCtx) })
	bg.Go(func() {
		for {
			select {
			case <-bgCtx.Done():
				return
			case <-hup:
				log.Info("config: SIGHUP: reloading")
				_, _ = watcher.Reload()
			}
		}
	})
	err = srv.Run(ctx)
	stopBg()
	bg.Wait()
	return err
}

// build opens the store, the limiter, the rules and the handlers.
func (s *service) build(ctx context.Context, cfg *config.Config) error {
	s.reg = prometheus.NewRegistry()
	s.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	var err error
	if s.met, err = metrics.New(metrics.Config{Registerer: s.reg}); err != nil {
		return err
	}
	if err := s.openStore(cfg.Store); err != nil {
		return err
	}
	mode := map[string]sluice.FailureMode{config.OnErrorOpen: sluice.FailOpen, config.OnErrorClosed: sluice.FailClosed, config.OnErrorLocal: sluice.FailLocal}[cfg.Store.OnError]
	s.lim = sluice.New(s.store, sluice.Config{OnStoreError: mode, BlockCacheSize: cfg.Store.BlockCacheSize, LocalMaxKeys: cfg.Store.MaxKeys})
	if err := s.openRules(ctx, cfg.Rules); err != nil {
		return err
	}
	dec, err := s.decisionAPI(cfg)
	if err != nil {
		return err
	}
	s.decisions = server.NewSwap(dec)
	adm, err := s.adminAPI(cfg)
	if err != nil {
		return err
	}
	s.admin = server.NewSwap(adm)
	if cfg.Auth.Database {
		octx, cancel := context.WithTimeout(ctx, 30*time.Second)
		s.keys, err = keydb.Open(octx, cfg.Rules.Database, keydb.Options{})
		cancel()
		if err != nil {
			return fmt.Errorf("auth.database: %w", err)
		}
		kh, err := s.keysHandler(cfg)
		if err != nil {
			return err
		}
		s.keysAPI = server.NewSwap(kh)
	}
	if err := s.buildGateway(cfg); err != nil {
		return err
	}
	g, err := s.grpcDecisionAPI(cfg)
	if err != nil {
		return err
	}
	s.grpcAPI = &grpcSwap{}
	s.grpcAPI.cur.Store(g)
	s.envoy, err = envoyrls.New(envoyrls.Config{
		Domains: cfg.Envoy.Domains, Headers: cfg.Envoy.Headers,
		Limiter: s.lim, Resolver: s.res, Metrics: s.met, Logger: s.log,
	})
	return err
}

// openStore opens the counter store the configuration names.
func (s *service) openStore(c config.Store) error {
	if c.StoreType() == config.StoreMemory {
		m := memory.New(memory.Config{MaxKeys: c.MaxKeys})
		s.store, s.closeSt = m, m.Close
		return s.reg.Register(metrics.NewMemoryStoreCollector(m))
	}
	r, err := redis.New(redis.Config{URL: c.RedisURL(), Prefix: c.Prefix, Timeout: c.Timeout, Logger: s.log})
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	s.store, s.closeSt = r, r.Close
	return nil
}

// openRules opens (and, as configured, migrates) the rules database and
// starts the resolver.
func (s *service) openRules(ctx context.Context, c config.Rules) error {
	backend, _, err := rulesdb.Parse(c.Database)
	if err != nil {
		return err
	}
	octx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	opts := rulesdb.Options{Migrate: c.Migrate(backend == rulesdb.BackendPostgres), Logger: s.log}
	s.repo, err = rulesdb.Open(octx, c.Database, opts)
	switch {
	case err != nil && backend == rulesdb.BackendPostgres && errors.Is(err, rules.ErrUnavailable):
		// A database server that is down must not keep the limiter down:
		// start on the fallback rules and open it once it answers.
		s.log.Warn("rules database: not reachable at start; serving the fallback rules until it answers", "err", err)
		s.repo = rulesdb.OpenDeferred(c.Database, opts)
	case err != nil:
		return fmt.Errorf("rules database: %w", err)
	}
	fallback, err := c.FallbackRules()
	if err != nil {
		return fmt.Errorf("rules.fallback: %w", err)
	}
	s.res, err = rules.NewResolver(s.repo, rules.ResolverConfig{TTL: c.CacheTTL, Fallback: fallback, Logger: s.log, Registerer: s.reg})
	if err != nil {
		return err
	}
	// Start with the rules loaded, so that the first requests see them; if
	// the database does not answer, serve the fallback meanwhile.
	if err := s.res.Refresh(octx); err != nil {
		s.log.Warn("rules: the first load failed; serving the fallback rules until the database answers", "err", err)
	}
	return nil
}

// decisionAPI builds the HTTP decision API for cfg.
func (s *service) decisionAPI(cfg *config.Config) (http.Handler, error) {
	return httpapi.New(httpapi.Config{Limiter: s.lim, Resolver: s.res, Metrics: s.met, Shadow: cfg.ShadowMode, Logger: s.log})
}

// adminAPI builds the admin API for cfg's tokens; nil without tokens (the
// server then answers 503).
func (s *service) adminAPI(cfg *config.Config) (http.Handler, error) {
	toks, err := cfg.AdminTokens(s.env)
	if err != nil || len(toks) == 0 {
		return server.AdminDisabled(), err
	}
	return admin.New(s.repo, admin.Config{Tokens: toks, Resolver: s.res, Logger: s.log})
}

// keysHandler builds the API keys' admin endpoint for cfg's admin tokens;
// without tokens it answers 503 as the admin API does.
func (s *service) keysHandler(cfg *config.Config) (http.Handler, error) {
	toks, err := cfg.AdminTokens(s.env)
	if err != nil || len(toks) == 0 {
		return server.AdminDisabled(), err
	}
	return keydb.NewHandler(s.keys, keydb.HandlerConfig{Tokens: toks, Logger: s.log})
}

// adminRoutes are the admin endpoints beyond the rules admin API.
func (s *service) adminRoutes() map[string]http.Handler {
	if s.keysAPI == nil {
		return nil
	}
	return map[string]http.Handler{keydb.BasePath: s.keysAPI}
}

// gatewayRoutes builds cfg's gateway routes.
func (s *service) gatewayRoutes(cfg *config.Config) ([]gateway.Route, error) {
	deps := config.GatewayDeps{Env: s.env, Resolver: s.res}
	if s.keys != nil {
		deps.KeyDB = s.keys
	}
	return cfg.GatewayRoutes(deps)
}

// newGateway returns a gateway serving cfg's routes.
func (s *service) newGateway(cfg *config.Config) (*gateway.Gateway, error) {
	routes, err := s.gatewayRoutes(cfg)
	if err != nil {
		return nil, err
	}
	opts := cfg.Gateway.PolicyOptions()
	opts.Logger = s.log
	opts.Observer = policy.ObserverFunc(func(_ context.Context, e policy.Event) {
		s.met.Observe(metrics.ProtocolGateway, e.Policy, "", e.Decision, 0)
	})
	return gateway.New(gateway.Config{Routes: routes, Limiter: s.lim, Policy: opts, Logger: s.log, Timeouts: cfg.Gateway.Upstream.Timeouts()})
}

// buildGateway builds the gateway and the Swap the HTTP listener sends
// paths outside the decision API to: the gateway when routes are
// configured, the decision API (as without a gateway) otherwise.
func (s *service) buildGateway(cfg *config.Config) error {
	gw, err := s.newGateway(cfg)
	if err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	s.gw = gw
	s.gwSwap = server.NewSwap(s.decisions)
	if len(cfg.Routes) > 0 {
		s.gwSwap.Store(s.gw)
	}
	return nil
}

// reloadGateway applies next's policies, routes, auth and gateway settings:
// Gateway.Update when the gateway settings are the same, a new gateway
// otherwise. On error the running routes stay.
func (s *service) reloadGateway(old, next *config.Config) {
	if reflect.DeepEqual(old.Policies, next.Policies) && reflect.DeepEqual(old.Routes, next.Routes) &&
		reflect.DeepEqual(old.Auth, next.Auth) && reflect.DeepEqual(old.Gateway, next.Gateway) {
		return
	}
	s.gwMu.Lock()
	defer s.gwMu.Unlock()
	if reflect.DeepEqual(old.Gateway, next.Gateway) {
		routes, err := s.gatewayRoutes(next)
		if err == nil {
			err = s.gw.Update(routes)
		}
		if err != nil {
			s.log.Error("config: applying the gateway's routes; the old routes stay", "err", err)
			return
		}
	} else {
		gw, err := s.newGateway(next)
		if err != nil {
			s.log.Error("config: applying the gateway; the old routes stay", "err", err)
			return
		}
		prev := s.gw
		s.gw = gw
		defer prev.Close()
	}
	if len(next.Routes) > 0 {
		s.gwSwap.Store(s.gw)
	} else {
		s.gwSwap.Store(s.decisions)
	}
	s.log.Info("config: gateway routes applied", "routes", len(next.Routes))
}

// checks are the readiness checks: the store and the rules database.
func (s *service) checks() []server.Check {
	cs := []server.Check{{Name: "rules", Check: s.repo.Ping}}
	if p, ok := s.store.(store.Pinger); ok {
		cs = append(cs, server.Check{Name: "store", Check: p.Ping})
	}
	return cs
}

// reload applies a new configuration snapshot: the log level, the shadow
// mode, the Envoy domains and the admin tokens (the watcher kept the fields that need a
// restart).
func (s *service) reload(old, next *config.Config) {
	s.level.Set(parseLevel(next.Log.Level))
	if old.ShadowMode != next.ShadowMode {
		h, err := s.decisionAPI(next)
		g, gerr := s.grpcDecisionAPI(next)
		if err = errors.Join(err, gerr); err != nil {
			s.log.Error("config: applying shadow_mode", "err", err)
		} else {
			s.decisions.Store(h)
			s.grpcAPI.cur.Store(g)
		}
	}
	if !reflect.DeepEqual(old.Envoy.Domains, next.Envoy.Domains) {
		if err := s.envoy.Update(next.Envoy.Domains); err != nil {
			s.log.Error("config: applying envoy.domains", "err", err)
		}
	}
	if !reflect.DeepEqual(old.Admin.Tokens, next.Admin.Tokens) {
		if h, err := s.adminAPI(next); err != nil {
			s.log.Error("config: applying admin.tokens", "err", err)
		} else {
			s.admin.Store(h)
		}
		if s.keysAPI != nil {
			if h, err := s.keysHandler(next); err != nil {
				s.log.Error("config: applying admin.tokens to /api/api-keys", "err", err)
			} else {
				s.keysAPI.Store(h)
			}
		}
	}
	s.reloadGateway(old, next)
}

// grpcServices returns the gRPC services: the decision API and Envoy's
// rate-limit service.
func (s *service) grpcServices(cfg *config.Config) []func(grpc.ServiceRegistrar) {
	return []func(grpc.ServiceRegistrar){
		func(r grpc.ServiceRegistrar) { sluicev1.RegisterLimiterServer(r, s.grpcAPI) },
		s.envoy.Register,
	}
}

// grpcDecisionAPI builds the gRPC decision API for cfg.
func (s *service) grpcDecisionAPI(cfg *config.Config) (*grpcapi.Service, error) {
	return grpcapi.New(grpcapi.Config{Limiter: s.lim, Resolver: s.res, Metrics: s.met, Shadow: cfg.ShadowMode, Logger: s.log})
}

// grpcSwap serves sluice.v1.Limiter with the grpcapi.Service last stored,
// so that a reload can change the shadow mode of the gRPC API as Swap does
// for HTTP.
type grpcSwap struct {
	sluicev1.UnimplementedLimiterServer
	cur atomic.Pointer[grpcapi.Service]
}

// Limit serves sluice.v1.Limiter/Limit with the current service.
func (g *grpcSwap) Limit(ctx context.Context, r *sluicev1.LimitRequest) (*sluicev1.LimitResponse, error) {
	return g.cur.Load().Limit(ctx, r)
}

// LimitBatch serves sluice.v1.Limiter/LimitBatch with the current service.
func (g *grpcSwap) LimitBatch(ctx context.Context, r *sluicev1.LimitBatchRequest) (*sluicev1.LimitBatchResponse, error) {
	return g.cur.Load().LimitBatch(ctx, r)
}

// Peek serves sluice.v1.Limiter/Peek with the current service.
func (g *grpcSwap) Peek(ctx context.Context, r *sluicev1.PeekRequest) (*sluicev1.LimitResponse, error) {
	return g.cur.Load().Peek(ctx, r)
}

// Reset serves sluice.v1.Limiter/Reset with the current service.
func (g *grpcSwap) Reset(ctx context.Context, r *sluicev1.ResetRequest) (*sluicev1.ResetResponse, error) {
	return g.cur.Load().Reset(ctx, r)
}

// CheckRules serves sluice.v1.Limiter/CheckRules with the current service.
func (g *grpcSwap) CheckRules(ctx context.Context, r *sluicev1.CheckRulesRequest) (*sluicev1.CheckRulesResponse, error) {
	return g.cur.Load().CheckRules(ctx, r)
}

// close releases everything build opened, in reverse order.
func (s *service) close() {
	if s.gw != nil {
		_ = s.gw.Close()
	}
	if s.keys != nil {
		_ = s.keys.Close()
	}
	if s.res != nil {
		_ = s.res.Close()
	}
	if s.repo != nil {
		if err := s.repo.Close(); err != nil {
			s.log.Warn("closing the rules database", "err", err)
		}
	}
	if s.lim != nil {
		_ = s.lim.Close()
	}
	if s.closeSt != nil {
		if err := s.closeSt(); err != nil {
			s.log.Warn("closing the store", "err", err)
		}
	}
}

// banner logs, in one line, where sluice listens and how to try it.
func banner(w io.Writer, log *slog.Logger, cfg *config.Config, srv *server.Server, file string) {
	var where, try []string
	if a := srv.HTTPAddr(); a != nil {
		where = append(where, "http://"+a.String())
		try = append(try, fmt.Sprintf(`curl -s -XPOST %s/v1/limit -H 'content-type: application/json' -d '{"key":"demo","limit":"5/1m"}'`, curlHost(a)))
	}
	if a := srv.GRPCAddr(); a != nil {
		where = append(where, "gRPC "+a.String())
	}
	if a := srv.AdminAddr(); a != nil {
		where = append(where, "admin http://"+a.String())
	}
	source := "defaults"
	if file != "" {
		source = file
	}
	if cfg.Log.Format == "json" {
		log.Info("sluice listening", "on", where, "try", strings.Join(try, ""), "config", source, "store", cfg.Store.StoreType())
		return
	}
	line := "sluice listening on " + where[0]
	if len(where) > 1 {
		line += " (" + strings.Join(where[1:], ", ") + ")"
	}
	if len(try) > 0 {
		line += " — try: " + try[0]
	}
	fmt.Fprintf(w, "%s\n", line)
	log.Debug("sluice configuration", "config", source, "store", cfg.Store.StoreType(), "rules", redactDSN(cfg.Rules.Database))
}

// curlHost is how curl reaches addr: localhost for loopback and wildcard
// addresses.
func curlHost(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	ip := net.ParseIP(host)
	if ip == nil || ip.IsLoopback() || ip.IsUnspecified() {
		return "localhost:" + port
	}
	return a.String()
}

// redactDSN hides the password of a database URL.
func redactDSN(dsn string) string {
	if i := strings.Index(dsn, "://"); i >= 0 {
		if at := strings.LastIndex(dsn, "@"); at > i {
			if colon := strings.Index(dsn[i+3:at], ":"); colon >= 0 {
				return dsn[:i+3+colon] + ":***" + dsn[at:]
			}
		}
	}
	return dsn
}
