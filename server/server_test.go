package server

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// start runs a Server on loopback ports chosen by the system and returns
// it with a function that stops it and returns Run's error.
func start(t *testing.T, cfg Config) (*Server, func() error) {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	var once bool
	var runErr error
	stop := func() error {
		if !once {
			once = true
			cancel()
			runErr = <-done
		}
		return runErr
	}
	t.Cleanup(func() { _ = stop() })
	return s, stop
}

// get fetches url and returns the status and body.
func get(t *testing.T, c *http.Client, url string) (int, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading body: %v", url, err)
	}
	return resp.StatusCode, string(b)
}

func client(t *testing.T) *http.Client {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 5 * time.Second}
}

func TestRoutes(t *testing.T) {
	reg := prometheus.NewRegistry()
	hits := prometheus.NewCounter(prometheus.CounterOpts{Name: "test_hits_total", Help: "Hits."})
	reg.MustRegister(hits)
	storeErr := errors.New("store: connection refused")
	var storeDown atomic.Bool
	s, stop := start(t, Config{
		HTTPAddr:  "127.0.0.1:0",
		GRPCAddr:  "127.0.0.1:0",
		AdminAddr: "127.0.0.1:0",
		Pprof:     true,
		Decisions: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hits.Inc()
			_, _ = io.WriteString(w, "decision "+r.URL.Path)
		}),
		Gatherer: reg,
		Checks: []Check{
			{Name: "store", Check: func(context.Context) error {
				if storeDown.Load() {
					return storeErr
				}
				return nil
			}},
			{Name: "rules", Check: func(context.Context) error { return nil }},
		},
	})
	c := client(t)
	httpURL := "http://" + s.HTTPAddr().String()
	adminURL := "http://" + s.AdminAddr().String()

	if code, body := get(t, c, httpURL+"/v1/limit"); code != 200 || body != "decision /v1/limit" {
		t.Errorf("decision: %d %q", code, body)
	}
	if code, body := get(t, c, httpURL+"/healthz"); code != 200 || !strings.Contains(body, "ok") {
		t.Errorf("healthz: %d %q", code, body)
	}
	if code, body := get(t, c, httpURL+"/readyz"); code != 200 || !strings.Contains(body, `"store":"ok"`) {
		t.Errorf("readyz: %d %q", code, body)
	}
	storeDown.Store(true)
	code, body := get(t, c, adminURL+"/readyz")
	var rd Readiness
	if err := json.Unmarshal([]byte(body), &rd); err != nil || code != 503 || rd.Checks["store"] != storeErr.Error() || rd.Checks["rules"] != "ok" {
		t.Errorf("readyz with the store down: %d %q", code, body)
	}
	// A fail-open deployment's probe can leave the shared store out.
	code, body = get(t, c, adminURL+"/readyz?exclude=store")
	if err := json.Unmarshal([]byte(body), &rd); err != nil || code != 200 || rd.Checks["store"] != "excluded" || rd.Checks["rules"] != "ok" {
		t.Errorf("readyz?exclude=store with the store down: %d %q", code, body)
	}
	if code, body := get(t, c, adminURL+"/readyz?exclude=stor"); code != 400 || !strings.Contains(body, "the checks are") {
		t.Errorf("readyz?exclude=stor: %d %q", code, body)
	}
	storeDown.Store(false)
	for _, u := range []string{httpURL, adminURL} {
		if code, body := get(t, c, u+"/metrics"); code != 200 || !strings.Contains(body, "test_hits_total 1") {
			t.Errorf("%s/metrics: %d %q", u, code, body)
		}
	}
	// The admin API is on the admin listener only, and answers 503 when
	// not configured; the HTTP listener hands the path to the decisions.
	if code, body := get(t, c, adminURL+AdminPath); code != 503 || !strings.Contains(body, "SLUICE_ADMIN_TOKENS") {
		t.Errorf("admin off: %d %q", code, body)
	}
	if code, body := get(t, c, httpURL+AdminPath); code != 200 || !strings.HasPrefix(body, "decision") {
		t.Errorf("admin path on the HTTP listener: %d %q", code, body)
	}
	if code, _ := get(t, c, adminURL+"/debug/pprof/"); code != 200 {
		t.Errorf("pprof on the admin listener: %d", code)
	}
	if code, body := get(t, c, httpURL+"/debug/pprof/"); strings.Contains(body, "goroutine") {
		t.Errorf("pprof on the HTTP listener: %d", code)
	}

	conn, err := grpc.NewClient(s.GRPCAddr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	hr, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil || hr.Status != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("grpc health: %v %v", hr, err)
	}
	c.CloseIdleConnections()
	if err := stop(); err != nil {
		t.Errorf("Run: %v", err)
	}
}

func TestAdminOnHTTPListener(t *testing.T) {
	admin := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "admin "+r.URL.Path) })
	s, _ := start(t, Config{HTTPAddr: "127.0.0.1:0", Admin: NewSwap(admin)})
	c := client(t)
	u := "http://" + s.HTTPAddr().String()
	for _, p := range []string{AdminPath, AdminPath + "/abc"} {
		if code, body := get(t, c, u+p); code != 200 || body != "admin "+p {
			t.Errorf("%s: %d %q", p, code, body)
		}
	}
	if code, _ := get(t, c, u+"/v1/limit"); code != 404 {
		t.Errorf("no decisions handler: %d, want 404", code)
	}
	resp, err := c.Post(u+"/healthz", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 405 || resp.Header.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST /healthz: %d %q, want 405", resp.StatusCode, resp.Header.Get("Allow"))
	}
	if s.GRPCAddr() != nil || s.AdminAddr() != nil {
		t.Error("listeners that were not configured have addresses")
	}
}

func TestNewErrors(t *testing.T) {
	if _, err := New(Config{HTTPAddr: "127.0.0.1:0", Pprof: true}); err == nil {
		t.Error("pprof without an admin listener was accepted")
	}
	if _, err := New(Config{}); err == nil {
		t.Error("no listener was accepted")
	}
	if _, err := New(Config{HTTPAddr: "127.0.0.1:0", Checks: []Check{{Name: "x"}}}); err == nil {
		t.Error("a check without a function was accepted")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, err = New(Config{HTTPAddr: "127.0.0.1:0", GRPCAddr: ln.Addr().String()})
	if err == nil || !strings.Contains(err.Error(), "grpc listener") {
		t.Errorf("a port in use: %v", err)
	}
}

// TestGracefulShutdown stops the server while a request is in flight: the
// request completes, readiness turns 503 meanwhile, new connections are
// refused, and Run returns nil.
func TestGracefulShutdown(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	s, stop := start(t, Config{
		HTTPAddr: "127.0.0.1:0",
		Decisions: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			close(entered)
			<-release
			_, _ = io.WriteString(w, strings.Repeat("x", 1<<16))
		}),
		ShutdownTimeout: 5 * time.Second,
	})
	c := client(t)
	u := "http://" + s.HTTPAddr().String()
	type result struct {
		n   int
		err error
	}
	res := make(chan result, 1)
	go func() {
		resp, err := c.Get(u + "/slow")
		if err != nil {
			res <- result{0, err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		res <- result{len(b), err}
	}()
	<-entered
	stopped := make(chan error, 1)
	go func() { stopped <- stop() }()
	deadline := time.Now().Add(5 * time.Second)
	for !s.draining.Load() && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if body, ok := s.Ready(context.Background()); ok || body.Status != "shutting down" {
		t.Errorf("Ready while shutting down = %+v %v", body, ok)
	}
	close(release)
	r := <-res
	if r.err != nil || r.n != 1<<16 {
		t.Errorf("in-flight request: %d bytes, %v; want the whole body", r.n, r.err)
	}
	if err := <-stopped; err != nil {
		t.Errorf("Run: %v", err)
	}
	if _, err := net.DialTimeout("tcp", s.HTTPAddr().String(), time.Second); err == nil {
		t.Error("the listener still accepts connections after shutdown")
	}
}

// TestShutdownTimeout cuts a request that outlives ShutdownTimeout and
// reports it.
func TestShutdownTimeout(t *testing.T) {
	entered := make(chan struct{})
	s, stop := start(t, Config{
		HTTPAddr: "127.0.0.1:0",
		Decisions: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			close(entered)
			<-r.Context().Done()
		}),
		ShutdownTimeout: 100 * time.Millisecond,
	})
	c := client(t)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if resp, err := c.Get("http://" + s.HTTPAddr().String() + "/hang"); err == nil {
			resp.Body.Close()
		}
	}()
	<-entered
	if err := stop(); err == nil || !strings.Contains(err.Error(), "were cut") {
		t.Errorf("Run = %v, want an error about cut requests", err)
	}
	<-done
}

func TestSwap(t *testing.T) {
	sw := NewSwap(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "a") }))
	s, _ := start(t, Config{HTTPAddr: "127.0.0.1:0", Decisions: sw})
	c := client(t)
	u := "http://" + s.HTTPAddr().String() + "/"
	if _, body := get(t, c, u); body != "a" {
		t.Errorf("before: %q", body)
	}
	sw.Store(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "b") }))
	if _, body := get(t, c, u); body != "b" {
		t.Errorf("after: %q", body)
	}
}

// TestDrainDelay keeps serving, not ready, for DrainDelay after shutdown
// begins.
func TestDrainDelay(t *testing.T) {
	s, stop := start(t, Config{HTTPAddr: "127.0.0.1:0", GRPCAddr: "127.0.0.1:0", DrainDelay: 500 * time.Millisecond})
	c := client(t)
	u := "http://" + s.HTTPAddr().String()
	stopped := make(chan error, 1)
	begun := time.Now()
	go func() { stopped <- stop() }()
	deadline := time.Now().Add(5 * time.Second)
	for !s.draining.Load() && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if code, body := get(t, c, u+"/readyz"); code != 503 || !strings.Contains(body, "shutting down") {
		t.Errorf("readyz while draining: %d %q", code, body)
	}
	if code, _ := get(t, c, u+"/healthz"); code != 200 {
		t.Errorf("healthz while draining: %d", code)
	}
	conn, err := grpc.NewClient(s.GRPCAddr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if hr, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}); err != nil || hr.Status != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Errorf("grpc health while draining: %v %v", hr, err)
	}
	c.CloseIdleConnections()
	if err := <-stopped; err != nil {
		t.Errorf("Run: %v", err)
	}
	if d := time.Since(begun); d < 500*time.Millisecond {
		t.Errorf("stopped after %s, before the drain delay", d)
	}
}

// TestGatewayAndAdminRoutes checks that the gateway serves what is not the
// decision API, health, metrics or admin, and that AdminRoutes mount on
// the admin listener (on the HTTP listener without one).
func TestGatewayAndAdminRoutes(t *testing.T) {
	named := func(name string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, name) })
	}
	for _, ownAdmin := range []bool{true, false} {
		cfg := Config{
			HTTPAddr: "127.0.0.1:0", Decisions: named("decisions"), Admin: named("admin"),
			Gateway: named("gateway"), AdminRoutes: map[string]http.Handler{"/api/api-keys": named("keys")},
		}
		if ownAdmin {
			cfg.AdminAddr = "127.0.0.1:0"
		}
		s, _ := start(t, cfg)
		c := client(t)
		h := "http://" + s.HTTPAddr().String()
		adm := h
		if ownAdmin {
			adm = "http://" + s.AdminAddr().String()
		}
		for url, want := range map[string]string{
			h + "/v1/limit": "decisions", h + "/api/things": "gateway", h + "/": "gateway",
			adm + AdminPath: "admin", adm + "/api/api-keys": "keys", adm + "/api/api-keys/ak_1": "keys",
		} {
			if code, body := get(t, c, url); code != 200 || body != want {
				t.Errorf("admin listener %v: GET %s: %d %q, want %q", ownAdmin, url, code, body, want)
			}
		}
		if ownAdmin {
			if _, body := get(t, c, h+"/api/api-keys"); body != "gateway" {
				t.Errorf("/api/api-keys on the HTTP listener with an admin listener: %q, want the gateway", body)
			}
		}
		if code, _ := get(t, c, h+"/healthz"); code != 200 {
			t.Errorf("/healthz: %d", code)
		}
	}
}
