package bench

// The load benchmark of `sluice serve` (BenchmarkLoadServe): the real
// binary as a subprocess, driven by the clients of load_client_test.go.

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// BenchmarkLoadServe measures `sluice serve` as it runs in production: the
// real binary as a subprocess on loopback, driven over HTTP (POST
// /v1/limit) and gRPC (sluice.v1.Limiter/Limit) by closed-loop clients,
// with counters in memory and in Redis. It reports decisions per second,
// latency quantiles and the CPU each decision cost; docs/BENCHMARKS.md
// ("Load") records the figures.
//
// Each sub-benchmark (protocol=<p>/store=<s>/clients=<n>) is one load run
// of a fixed duration, whatever b.N is: run it with -benchtime=1x (a
// -benchtime longer than one run makes the framework call it again, one
// run per call). Each logs its row of the table in docs/BENCHMARKS.md;
// with -v the whole table follows the last one. The full sweep of
// docs/BENCHMARKS.md is
//
//	cd bench && SLUICE_LOAD_DURATION=5s SLUICE_LOAD_CONCURRENCY=16,64,256 \
//		go test -run '^$' -bench LoadServe -benchtime=1x -v -timeout 30m .
//
// SLUICE_LOAD_DURATION (default 3s per run, after a 1s warm-up),
// SLUICE_LOAD_CONCURRENCY (default 64), SLUICE_LOAD_STORES (default
// memory,redis) and SLUICE_LOAD_PROTOCOLS (default http,grpc) widen or
// narrow it; SLUICE_LOAD_TARGET="http=127.0.0.1:8080;grpc=127.0.0.1:8081"
// drives a server already running instead (store=target).
func BenchmarkLoadServe(b *testing.B) {
	duration, levels := loadSettings(b)
	protocols := envList("SLUICE_LOAD_PROTOCOLS", "http,grpc")
	if target := os.Getenv("SLUICE_LOAD_TARGET"); target != "" {
		// A server already running: http=host:port;grpc=host:port.
		srv := &serveProcess{}
		for _, kv := range strings.Split(target, ";") {
			k, v, _ := strings.Cut(kv, "=")
			switch k {
			case "http":
				srv.http = v
			case "grpc":
				srv.grpc = v
			}
		}
		runLoads(b, srv, "target", protocols, levels, duration)
		return
	}
	bin := buildSluice(b)
	var rows []string
	for _, st := range envList("SLUICE_LOAD_STORES", "memory,redis") {
		env := []string{"SLUICE_STORE_TYPE=" + st}
		if st == "redis" {
			addr := redisAddrForBench()
			c, err := net.DialTimeout("tcp", addr, time.Second)
			if err != nil {
				b.Logf("leaving out the Redis store: %s does not answer: %v", addr, err)
				continue
			}
			c.Close()
			env = append(env, "SLUICE_STORE_URL=redis://"+addr, "SLUICE_STORE_PREFIX="+benchPrefix())
		}
		srv := startServeProcess(b, bin, env)
		rows = append(rows, runLoads(b, srv, st, protocols, levels, duration)...)
		srv.stop(b)
	}
	if len(rows) > 0 {
		b.Logf("\n| protocol | store | concurrency | decisions/s | p50 | p99 | p99.9 | server CPU µs/decision | client CPU µs/decision | errors |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n%s",
			strings.Join(rows, "\n"))
	}
}

// envList returns the comma-separated list in the variable, or def.
func envList(name, def string) []string {
	v := os.Getenv(name)
	if v == "" {
		v = def
	}
	return strings.Split(v, ",")
}

// loadSettings returns how long each load run is measured
// (SLUICE_LOAD_DURATION, default 3s, at most 5m) and the client counts to
// run (SLUICE_LOAD_CONCURRENCY, default 64, each from 1 to 4096).
func loadSettings(b *testing.B) (time.Duration, []int) {
	b.Helper()
	duration := 3 * time.Second
	if v := os.Getenv("SLUICE_LOAD_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 || d > 5*time.Minute {
			b.Fatalf("SLUICE_LOAD_DURATION=%q: a duration up to 5m", v)
		}
		duration = d
	}
	var levels []int
	for _, s := range envList("SLUICE_LOAD_CONCURRENCY", "64") {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 4096 {
			b.Fatalf("SLUICE_LOAD_CONCURRENCY: %q is not 1 to 4096", s)
		}
		levels = append(levels, n)
	}
	return duration, levels
}

// runLoads runs one sub-benchmark, protocol=<proto>/store=<store>/clients=<n>,
// per protocol and client count against srv: one load run of d each,
// whatever b.N is. Each reports what it measured and logs its row of the
// table in docs/BENCHMARKS.md; runLoads returns the rows.
func runLoads(b *testing.B, srv *serveProcess, store string, protocols []string, levels []int, d time.Duration) []string {
	var rows []string
	for _, proto := range protocols {
		for _, n := range levels {
			b.Run(fmt.Sprintf("protocol=%s/store=%s/clients=%d", proto, store, n), func(b *testing.B) {
				res := srv.load(b, proto, n, d)
				reportLoad(b, res, "decisions/s")
				if _, ok := srv.cpu(); ok {
					b.ReportMetric(res.cpuPerDecision(res.serverCPU), "server-cpu-µs/decision")
				}
				b.ReportMetric(res.cpuPerDecision(res.clientCPU), "client-cpu-µs/decision")
				var row string
				if srv.cmd == nil {
					row = fmt.Sprintf("| %s | %s | %d | %.0f | %s | %s | %s | %d |", proto, store, n, res.perSecond(),
						ms(res.quantile(0.5)), ms(res.quantile(0.99)), ms(res.quantile(0.999)), res.errors)
				} else {
					row = fmt.Sprintf("| %s | %s | %d | %.0f | %s | %s | %s | %.1f | %.1f | %d |", proto, store, n, res.perSecond(),
						ms(res.quantile(0.5)), ms(res.quantile(0.99)), ms(res.quantile(0.999)),
						res.cpuPerDecision(res.serverCPU), res.cpuPerDecision(res.clientCPU), res.errors)
				}
				b.Log(row)
				rows = append(rows, row)
			})
		}
	}
	return rows
}

// reportLoad reports a load run: its throughput (rate is the unit, per
// second), its latency quantiles in milliseconds and its errors, and fails
// the benchmark when there were any. It suppresses ns/op: the one op is
// the whole run, warm-up included.
func reportLoad(b *testing.B, res serveResult, rate string) {
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(res.perSecond(), rate)
	b.ReportMetric(millis(res.quantile(0.5)), "p50-ms")
	b.ReportMetric(millis(res.quantile(0.99)), "p99-ms")
	b.ReportMetric(millis(res.quantile(0.999)), "p999-ms")
	b.ReportMetric(float64(res.errors), "errors")
	if res.errors > 0 {
		b.Errorf("%d errors in %d attempts", res.errors, len(res.lat))
	}
}

// millis returns a duration in milliseconds.
func millis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// ms formats a latency in milliseconds.
func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", millis(d)) }

// buildSluice builds cmd/sluice of the main module.
func buildSluice(b *testing.B) string {
	b.Helper()
	bin := filepath.Join(b.TempDir(), "sluice")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/sluice")
	cmd.Dir = ".."
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("go build ./cmd/sluice: %v\n%s", err, out)
	}
	return bin
}

// serveProcess is a running `sluice serve`.
type serveProcess struct {
	cmd        *exec.Cmd
	http, grpc string
	done       chan error
}

var listeningRE = regexp.MustCompile(`sluice listening on http://(\S+) \(gRPC ([^,)\s]+)`)

// startServeProcess runs `sluice serve` in a temporary directory on ports
// of the system's choosing, with env added.
func startServeProcess(b *testing.B, bin string, env []string) *serveProcess {
	b.Helper()
	cmd := exec.Command(bin, "serve")
	cmd.Dir = b.TempDir()
	cmd.Env = append(os.Environ(), append([]string{
		"SLUICE_HTTP_ADDR=127.0.0.1:0", "SLUICE_GRPC_ADDR=127.0.0.1:0", "SLUICE_ADMIN_ADDR=127.0.0.1:0",
		"SLUICE_LOG_LEVEL=warn",
	}, env...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatalf("start sluice serve: %v", err)
	}
	p := &serveProcess{cmd: cmd, done: make(chan error, 1)}
	found := make(chan []string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := listeningRE.FindStringSubmatch(sc.Text()); m != nil {
				found <- m
			} else {
				b.Log("sluice serve: " + sc.Text())
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
		p.done <- cmd.Wait()
	}()
	select {
	case m := <-found:
		p.http, p.grpc = m[1], m[2]
	case err := <-p.done:
		b.Fatalf("sluice serve exited: %v", err)
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		b.Fatal("sluice serve did not start within 30s")
	}
	b.Cleanup(func() { _ = cmd.Process.Kill() })
	return p
}

// load runs n workers of proto against the process, a 1s warm-up then d
// measured, with the benchmark timer running only while they run.
func (p *serveProcess) load(b *testing.B, proto string, n int, d time.Duration) serveResult {
	b.Helper()
	workers := make([]serveWorker, n)
	switch proto {
	case "http":
		for i := range workers {
			w, err := newHTTPWorker(p.http, i)
			if err != nil {
				b.Fatalf("dial: %v", err)
			}
			workers[i] = w
		}
	case "grpc":
		conns, err := dialGRPC(p.grpc, min(4, n))
		if err != nil {
			b.Fatal(err)
		}
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for i := range workers {
			workers[i] = newGRPCWorker(conns[i%len(conns)], i)
		}
	default:
		b.Fatalf("unknown protocol %q (accepted: http, grpc)", proto)
	}
	b.ResetTimer()
	res := runWorkers(workers, time.Second, d, func() (time.Duration, time.Duration) {
		server, _ := p.cpu()
		return server, selfCPU()
	})
	b.StopTimer()
	for _, w := range workers {
		w.close()
	}
	return res
}

// cpu returns the user and system CPU time the server process has used,
// and false when that is not known: a server already running
// (SLUICE_LOAD_TARGET), or no /proc.
func (p *serveProcess) cpu() (time.Duration, bool) {
	if p.cmd == nil {
		return 0, false
	}
	return gwStatCPU(p.cmd.Process.Pid)
}

// selfCPU returns the user and system CPU time of this process.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// stop stops the process gracefully.
func (p *serveProcess) stop(b *testing.B) {
	b.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		if err != nil {
			b.Errorf("sluice serve: %v", err)
		}
	case <-time.After(30 * time.Second):
		b.Error("sluice serve did not stop within 30s")
	}
}
