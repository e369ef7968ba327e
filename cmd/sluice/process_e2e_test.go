package main

// Helpers of the end-to-end tests: they build the sluice binary once per
// test run and drive it as a user would, as a subprocess on loopback.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/rueidis"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/sluicehq/sluice/internal/servicetest"
	"github.com/sluicehq/sluice/rules/repotest"
)

// e2eBin is the binary the end-to-end tests run, built once by TestMain.
type e2eBuild struct {
	once sync.Once
	dir  string
	path string
	err  error
}

// build is shared by the tests of one run; TestMain removes its directory.
var build e2eBuild

func TestMain(m *testing.M) {
	code := m.Run()
	if build.dir != "" {
		_ = os.RemoveAll(build.dir)
	}
	os.Exit(code)
}

// binary builds the sluice binary (go build -o <tmp>/sluice .) the first
// time it is called in a test run and returns its path.
func binary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end: builds and runs the binary")
	}
	build.once.Do(func() {
		build.dir, build.err = os.MkdirTemp("", "sluice-e2e-")
		if build.err != nil {
			return
		}
		build.path = filepath.Join(build.dir, "sluice")
		out, err := exec.Command("go", "build", "-o", build.path, ".").CombinedOutput()
		if err != nil {
			build.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if build.err != nil {
		t.Fatal(build.err)
	}
	return build.path
}

// logBuffer collects a process's output, safe for concurrent use.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// proc is a running `sluice serve`.
type proc struct {
	t      *testing.T
	cmd    *exec.Cmd
	out    *logBuffer
	done   chan struct{}
	err    error // the process's exit, once done is closed
	http   string
	grpc   string
	admin  string
	client *http.Client
}

// loopbackEnv makes every listener bind a port of the system's choosing,
// read back from the banner.
var loopbackEnv = []string{
	"SLUICE_HTTP_ADDR=127.0.0.1:0",
	"SLUICE_GRPC_ADDR=127.0.0.1:0",
	"SLUICE_ADMIN_ADDR=127.0.0.1:0",
}

// bannerRE reads the addresses from the line serve logs when it listens.
var bannerRE = regexp.MustCompile(`sluice listening on http://(\S+) \(gRPC (\S+), admin http://([^)\s]+)\)`)

// startServe runs `sluice serve args...` in dir with env added to the
// test's environment, waits until it listens, and stops it (SIGKILL) when
// the test ends if it is still running.
func startServe(t *testing.T, dir string, env []string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(binary(t), append([]string{"serve"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(cleanEnv(), env...)
	p := &proc{t: t, cmd: cmd, out: &logBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start sluice serve: %v", err)
	}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("sluice serve output:\n%s", p.out.String())
		}
	})
	deadline := time.After(30 * time.Second)
	for {
		if m := bannerRE.FindStringSubmatch(p.out.String()); m != nil {
			p.http, p.grpc, p.admin = m[1], m[2], m[3]
			break
		}
		select {
		case <-p.done:
			t.Fatalf("sluice serve exited before listening (%v):\n%s", p.err, p.out.String())
		case <-deadline:
			t.Fatalf("sluice serve did not log where it listens within 30s:\n%s", p.out.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	t.Cleanup(tr.CloseIdleConnections)
	p.client = &http.Client{Transport: tr, Timeout: 10 * time.Second}
	return p
}

// cleanEnv is the test's environment without SLUICE_ variables, so that a
// developer's settings do not leak into the process under test (the
// service-location variables of the test helpers are kept).
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "SLUICE_") && !strings.HasPrefix(kv, repotest.EnvPostgresURL+"=") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// signal sends sig to the process.
func (p *proc) signal(sig os.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("signal %v: %v", sig, err)
	}
}

// wait waits for the process to exit and returns its exit code.
func (p *proc) wait(timeout time.Duration) int {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		p.t.Fatalf("sluice serve did not exit within %s:\n%s", timeout, p.out.String())
	}
	var exit *exec.ExitError
	switch {
	case p.err == nil:
		return 0
	case errors.As(p.err, &exit):
		if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return exit.ExitCode()
	}
	p.t.Fatalf("wait: %v", p.err)
	return -1
}

// waitLog waits until the process's output contains s.
func (p *proc) waitLog(s string, timeout time.Duration) {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	for !strings.Contains(p.out.String(), s) {
		if time.Now().After(deadline) {
			p.t.Fatalf("sluice serve did not log %q within %s:\n%s", s, timeout, p.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// decision is the body of a decision.
type decision struct {
	Allowed    bool   `json:"allowed"`
	Limit      int64  `json:"limit"`
	Remaining  int64  `json:"remaining"`
	RetryAfter int64  `json:"retry_after"`
	Reason     string `json:"reason"`
	Shadow     bool   `json:"shadow"`
}

// post sends a JSON body to the HTTP listener and returns the response and
// its body.
func (p *proc) post(path, body string, header ...string) (*http.Response, []byte) {
	p.t.Helper()
	return p.do(http.MethodPost, "http://"+p.http+path, body, header...)
}

func (p *proc) do(method, url, body string, header ...string) (*http.Response, []byte) {
	p.t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		p.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := p.client.Do(req)
	if err != nil {
		p.t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		p.t.Fatalf("%s %s: reading the body: %v", method, url, err)
	}
	return resp, b
}

// limit asks POST /v1/limit for key under limit and decodes the decision.
func (p *proc) limit(key, limit string) (int, http.Header, decision) {
	p.t.Helper()
	resp, body := p.post("/v1/limit", fmt.Sprintf(`{"key":%q,"limit":%q}`, key, limit))
	var d decision
	if err := json.Unmarshal(body, &d); err != nil {
		p.t.Fatalf("POST /v1/limit: %d %s: %v", resp.StatusCode, body, err)
	}
	return resp.StatusCode, resp.Header, d
}

// grpcConn dials the gRPC listener.
func (p *proc) grpcConn() *grpc.ClientConn {
	p.t.Helper()
	conn, err := grpc.NewClient(p.grpc, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		p.t.Fatal(err)
	}
	p.t.Cleanup(func() { conn.Close() })
	return conn
}

// runSluice runs a sluice command to completion in dir and returns its
// exit code, stdout and stderr.
func runSluice(t *testing.T, dir string, env []string, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary(t), args...)
	cmd.Dir = dir
	cmd.Env = append(cleanEnv(), env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		return exit.ExitCode(), out.String(), errOut.String()
	case err != nil:
		t.Fatalf("sluice %q: %v", args, err)
	}
	return 0, out.String(), errOut.String()
}

// needRedis skips the test when Redis does not answer on 127.0.0.1:6379
// (fails with SLUICE_REQUIRE_SERVICES=1).
func needRedis(t *testing.T) string {
	t.Helper()
	addr := "127.0.0.1:6379"
	conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err == nil {
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
		_, err = conn.Write([]byte("PING\r\n"))
		buf := make([]byte, 7)
		if err == nil {
			_, err = io.ReadFull(conn, buf)
		}
		if err == nil && string(buf) != "+PONG\r\n" {
			err = fmt.Errorf("PING answered %q", buf)
		}
	}
	if err != nil {
		servicetest.Unavailable(t, "Redis on %s did not answer: %v", addr, err)
	}
	return addr
}

// uniquePrefix is a Redis key prefix no other test run uses; the keys under
// it on the Redis at addr are deleted when the test ends (after the servers
// it started have stopped, as cleanups run last-registered first).
func uniquePrefix(t *testing.T, addr string) string {
	prefix := fmt.Sprintf("e2e-%d-%d", os.Getpid(), time.Now().UnixNano())
	t.Cleanup(func() {
		client, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr}, DisableCache: true})
		if err != nil {
			t.Errorf("cleaning up Redis prefix %s: %v", prefix, err)
			return
		}
		defer client.Close()
		if err := servicetest.DeleteRedisPrefix(client, prefix); err != nil {
			t.Errorf("cleaning up Redis prefix %s: %v", prefix, err)
		}
	})
	return prefix
}

// writeConfig writes a configuration file in dir and returns its path.
func writeConfig(t *testing.T, dir, name, data string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
