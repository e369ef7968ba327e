package bench

// TestLoadServe measures `sluice serve` as it runs in production: the real
// binary as a subprocess on loopback, driven over HTTP (POST /v1/limit)
// and gRPC (sluice.v1.Limiter/Limit) by closed-loop clients at several
// concurrency levels, with counters in memory and in Redis. It reports
// decisions per second and latency quantiles; docs/BENCHMARKS.md ("Load")
// records the figures. It is a measurement, not a pass/fail test, and
// runs only when asked:
//
//	cd bench && SLUICE_LOAD=1 go test -run TestLoadServe -v -timeout 30m .
//
// SLUICE_LOAD_TARGET="http=127.0.0.1:8080;grpc=127.0.0.1:8081" drives a
// server already running instead. SLUICE_LOAD_DURATION (default 5s per run, after a 1s warm-up),
// SLUICE_LOAD_CONCURRENCY (default 16,64,256), SLUICE_LOAD_STORES
// (default memory,redis) and SLUICE_LOAD_PROTOCOLS (default http,grpc)
// narrow it.

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

// envList returns the comma-separated list in the variable, or def.
func envList(name, def string) []string {
	v := os.Getenv(name)
	if v == "" {
		v = def
	}
	return strings.Split(v, ",")
}

func TestLoadServe(t *testing.T) {
	if os.Getenv("SLUICE_LOAD") != "1" {
		t.Skip("a load measurement: run with SLUICE_LOAD=1 (see docs/BENCHMARKS.md)")
	}
	duration := 5 * time.Second
	if v := os.Getenv("SLUICE_LOAD_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 || d > 5*time.Minute {
			t.Fatalf("SLUICE_LOAD_DURATION=%q: a duration up to 5m", v)
		}
		duration = d
	}
	var levels []int
	for _, s := range envList("SLUICE_LOAD_CONCURRENCY", "16,64,256") {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 4096 {
			t.Fatalf("SLUICE_LOAD_CONCURRENCY: %q is not 1 to 4096", s)
		}
		levels = append(levels, n)
	}
	var rows []string
	if target := os.Getenv("SLUICE_LOAD_TARGET"); target != "" {
		// A server already running: http=host:port,grpc=host:port.
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
		for _, proto := range envList("SLUICE_LOAD_PROTOCOLS", "http,grpc") {
			for _, n := range levels {
				res := srv.load(t, proto, n, duration)
				t.Logf("| %s | target | %d | %.0f | %s | %s | %s | %d |", proto, n, res.perSecond(),
					ms(res.quantile(0.5)), ms(res.quantile(0.99)), ms(res.quantile(0.999)), res.errors)
			}
		}
		return
	}
	bin := buildSluice(t)
	for _, st := range envList("SLUICE_LOAD_STORES", "memory,redis") {
		env := []string{"SLUICE_STORE_TYPE=" + st}
		if st == "redis" {
			addr := redisAddrForBench()
			if c, err := net.DialTimeout("tcp", addr, time.Second); err != nil {
				t.Logf("skipping the Redis store: %s does not answer: %v", addr, err)
				continue
			} else {
				c.Close()
			}
			env = append(env, "SLUICE_STORE_URL=redis://"+addr, "SLUICE_STORE_PREFIX="+benchPrefix())
		}
		srv := startServeProcess(t, bin, env)
		for _, proto := range envList("SLUICE_LOAD_PROTOCOLS", "http,grpc") {
			for _, n := range levels {
				res := srv.load(t, proto, n, duration)
				row := fmt.Sprintf("| %s | %s | %d | %.0f | %s | %s | %s | %.1f | %.1f | %d |", proto, st, n, res.perSecond(),
					ms(res.quantile(0.5)), ms(res.quantile(0.99)), ms(res.quantile(0.999)),
					res.serverCPU.Seconds()*1e6/float64(res.decisions), res.clientCPU.Seconds()*1e6/float64(res.decisions), res.errors)
				t.Log(row)
				rows = append(rows, row)
			}
		}
		srv.stop(t)
	}
	t.Logf("\n| protocol | store | concurrency | decisions/s | p50 | p99 | p99.9 | server CPU µs/decision | client CPU µs/decision | errors |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n%s",
		strings.Join(rows, "\n"))
}

// ms formats a latency in milliseconds.
func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }

// buildSluice builds cmd/sluice of the main module.
func buildSluice(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "sluice")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/sluice")
	cmd.Dir = ".."
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/sluice: %v\n%s", err, out)
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
func startServeProcess(t *testing.T, bin string, env []string) *serveProcess {
	t.Helper()
	cmd := exec.Command(bin, "serve")
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), append([]string{
		"SLUICE_HTTP_ADDR=127.0.0.1:0", "SLUICE_GRPC_ADDR=127.0.0.1:0", "SLUICE_ADMIN_ADDR=127.0.0.1:0",
		"SLUICE_LOG_LEVEL=warn",
	}, env...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start sluice serve: %v", err)
	}
	p := &serveProcess{cmd: cmd, done: make(chan error, 1)}
	found := make(chan []string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := listeningRE.FindStringSubmatch(sc.Text()); m != nil {
				found <- m
			} else {
				t.Log("sluice serve: " + sc.Text())
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
		p.done <- cmd.Wait()
	}()
	select {
	case m := <-found:
		p.http, p.grpc = m[1], m[2]
	case err := <-p.done:
		t.Fatalf("sluice serve exited: %v", err)
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("sluice serve did not start within 30s")
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	return p
}

// load runs n workers of proto against the process for d.
func (p *serveProcess) load(t *testing.T, proto string, n int, d time.Duration) serveResult {
	t.Helper()
	workers := make([]serveWorker, n)
	switch proto {
	case "http":
		for i := range workers {
			w, err := newHTTPWorker(p.http, i)
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			workers[i] = w
		}
	case "grpc":
		conns, err := dialGRPC(p.grpc, min(4, n))
		if err != nil {
			t.Fatal(err)
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
		t.Fatalf("unknown protocol %q (accepted: http, grpc)", proto)
	}
	res := runWorkers(workers, time.Second, d, func() (time.Duration, time.Duration) {
		if p.cmd == nil {
			return 0, selfCPU()
		}
		return processCPU(p.cmd.Process.Pid), selfCPU()
	})
	for _, w := range workers {
		w.close()
	}
	if res.errors > 0 {
		t.Errorf("%s ×%d: %d errors", proto, n, res.errors)
	}
	return res
}

// processCPU returns the user and system CPU time the process pid has
// used, from /proc (0 where there is no /proc).
func processCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The fields after the command name (which may hold spaces, in
	// parentheses): utime and stime are the 14th and 15th of the line.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	const ticksPerSecond = 100 // USER_HZ on Linux
	return time.Duration(ut+st) * time.Second / ticksPerSecond
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
func (p *serveProcess) stop(t *testing.T) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		if err != nil {
			t.Errorf("sluice serve: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Error("sluice serve did not stop within 30s")
	}
}
