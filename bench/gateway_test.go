package bench

// The gateway benchmark: proxy overhead on loopback. One upstream (a Go
// net/http server answering 200 with a 2-byte body, in the benchmark's own
// process) is reached three ways, side by side in one run, with the same
// load generator:
//
//   - direct:  the upstream itself;
//   - sluice:  through gateway.Gateway with one rateLimitBy ip policy
//     (sliding window, a limit nothing reaches; memory store; IETF
//     RateLimit headers on every response), served by net/http in a
//     process of its own, as `sluice serve` runs (the test binary
//     re-executed as the gateway process: see TestMain);
//   - nginx:   through nginx with limit_req on $binary_remote_addr, also a
//     process of its own (skipped when nginx is not installed).
//
// Two loads: conns=64 (64 keep-alive connections, one request in flight on
// each: throughput) and conns=1 (one connection: the latency one request
// adds, without queueing). Each op is one request; the benchmark reports
// req/s, the p50 and p99 latency the generator saw, and for the proxies
// the CPU time their processes took per request. Run it with
//
//	cd bench && go test -run '^$' -bench Gateway -benchtime 10s
//
// Figures and the machine are in docs/BENCHMARKS.md, "Gateway".

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime/pprof"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/gateway"
	"github.com/sluicehq/sluice/policy"
	"github.com/sluicehq/sluice/store/memory"
)

// envGatewayUpstream tells the re-executed test binary to serve the gateway
// in front of this upstream (host:port) instead of running benchmarks.
const envGatewayUpstream = "SLUICE_BENCH_GATEWAY_UPSTREAM"

// envGatewayProcs, when set, is the GOMAXPROCS of the gateway process
// (default: the number of CPUs, as for `sluice serve`).
const envGatewayProcs = "SLUICE_BENCH_GATEWAY_GOMAXPROCS"

// envGatewayProfile, when set, is the file the gateway process writes its
// CPU profile to (go tool pprof bench.test <file>); the process inherits
// it from the benchmark's environment.
const envGatewayProfile = "SLUICE_BENCH_GATEWAY_CPUPROFILE"

func BenchmarkGateway(b *testing.B) {
	upAddr := gwServe(b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, "ok")
	}))
	sluiceAddr, sluicePID := startGatewayProcess(b, upAddr)
	nginxAddr, nginxPID, nginxMissing := gwStartNginx(b, upAddr)
	targets := []struct {
		name string
		addr string
		pid  int // the proxy's process, whose CPU time is measured; 0: none
	}{
		{"direct", upAddr, 0},
		{"sluice", sluiceAddr, sluicePID},
		{"nginx", nginxAddr, nginxPID},
	}
	for _, conns := range []int{64, 1} {
		for _, tg := range targets {
			b.Run(fmt.Sprintf("conns=%d/%s", conns, tg.name), func(b *testing.B) {
				if tg.addr == "" {
					b.Skip(nginxMissing)
				}
				gwMeasure(b, tg.addr, tg.pid, conns)
			})
		}
	}
}

// gwMeasure runs b.N requests over conns connections to addr and reports
// req/s, p50 and p99, and the CPU time process pid (and its children) took
// per request when pid is not 0.
func gwMeasure(b *testing.B, addr string, pid, conns int) {
	lc, err := gwDial(addr, "/api/items", conns)
	if err != nil {
		b.Fatal(err)
	}
	defer lc.close()
	lc.run(8 * conns) // warm up: connections, the upstream pool
	cpu0, cpuOK := gwProcCPU(pid)
	b.ResetTimer()
	res := lc.run(max(b.N, conns))
	b.StopTimer()
	cpu1, _ := gwProcCPU(pid)
	if res.errors > 0 || res.non2xx > 0 {
		b.Fatalf("%d errors and %d non-2xx answers in %d requests", res.errors, res.non2xx, res.requests)
	}
	b.ReportMetric(res.rps(), "req/s")
	b.ReportMetric(float64(res.percentile(50).Nanoseconds())/1e3, "p50-µs")
	b.ReportMetric(float64(res.percentile(99).Nanoseconds())/1e3, "p99-µs")
	if pid != 0 && cpuOK {
		b.ReportMetric(float64((cpu1-cpu0).Nanoseconds())/1e3/float64(res.requests), "proxy-cpu-µs/req")
	}
}

// startGatewayProcess re-executes the test binary as the gateway process
// (see TestMain) and returns its address and process ID. Closing its stdin
// stops it.
func startGatewayProcess(b *testing.B, upstream string) (string, int) {
	b.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), envGatewayUpstream+"="+upstream)
	if n := os.Getenv(envGatewayProcs); n != "" {
		cmd.Env = append(cmd.Env, "GOMAXPROCS="+n)
	}
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = stdin.Close()
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if addr, ok := strings.CutPrefix(sc.Text(), "listening on "); ok {
				lines <- addr
			}
		}
		close(lines)
	}()
	select {
	case addr, ok := <-lines:
		if !ok {
			b.Fatal("the gateway process ended before it listened")
		}
		return addr, cmd.Process.Pid
	case <-time.After(30 * time.Second):
		b.Fatal("the gateway process did not start")
	}
	return "", 0
}

// TestMain makes the test binary the gateway process of BenchmarkGateway
// when $SLUICE_BENCH_GATEWAY_UPSTREAM is set (startGatewayProcess sets it),
// and otherwise runs the tests and benchmarks as usual.
func TestMain(m *testing.M) {
	upstream := os.Getenv(envGatewayUpstream)
	if upstream == "" {
		m.Run()
		return
	}
	if err := serveGateway(upstream); err != nil {
		fmt.Fprintln(os.Stderr, "gateway process:", err)
		os.Exit(1)
	}
}

// serveGateway is the gateway process of BenchmarkGateway: it serves a
// Gateway with one ip policy in front of upstream on a free loopback port,
// prints "listening on <addr>", and stops when stdin closes. It profiles
// its CPU into $SLUICE_BENCH_GATEWAY_CPUPROFILE when that is set.
func serveGateway(upstream string) (err error) {
	if p := os.Getenv(envGatewayProfile); p != "" {
		f, perr := os.Create(p)
		if perr != nil {
			return perr
		}
		if perr := pprof.StartCPUProfile(f); perr != nil {
			_ = f.Close()
			return perr
		}
		defer func() {
			pprof.StopCPUProfile()
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}()
	}
	st := memory.New(memory.Config{})
	lim := sluice.New(st, sluice.Config{})
	defer func() { _ = lim.Close(); _ = st.Close() }()
	g, err := gateway.New(gateway.Config{
		Routes: []gateway.Route{{
			Path:     "*",
			Upstream: "http://" + upstream,
			Policies: []*policy.Policy{{Name: "per-ip", By: policy.ByIP, Limit: sluice.MustParseLimit("1000000000/1m")}},
		}},
		Limiter: lim,
		Logger:  slog.New(slog.DiscardHandler),
	})
	if err != nil {
		return err
	}
	defer g.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: g, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 120 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	fmt.Printf("listening on %s\n", ln.Addr())
	_, _ = io.Copy(io.Discard, os.Stdin) // until the benchmark closes stdin
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(ctx)
	<-done
	return nil
}

// gwServe serves h on a free loopback port until the benchmark ends, with
// the timeouts `sluice serve` uses, and returns the address.
func gwServe(b *testing.B, h http.Handler) string {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 120 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-done
	})
	return ln.Addr().String()
}
