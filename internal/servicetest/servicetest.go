// Package servicetest is how Sluice's tests find the services they need
// (Redis, a redis-server of their own) and what they do when a service is
// missing: skip, or fail when SLUICE_REQUIRE_SERVICES=1, as CI sets it. It
// is the one copy of these helpers; test files of every package use it.
package servicetest

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// RequireEnv names the variable that turns a missing service from a skip
// into a failure.
const RequireEnv = "SLUICE_REQUIRE_SERVICES"

// Unavailable skips the test for a missing service, or fails it when
// SLUICE_REQUIRE_SERVICES=1.
func Unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv(RequireEnv) == "1" {
		t.Fatalf("%s (%s=1: services are required)", msg, RequireEnv)
	}
	t.Skipf("%s (set %s=1 to fail instead of skipping)", msg, RequireEnv)
}

// RedisAddr returns the address of the shared test Redis,
// $SLUICE_REDIS_ADDR or 127.0.0.1:6379, after checking that it answers
// PING; Unavailable otherwise.
func RedisAddr(t testing.TB) string {
	t.Helper()
	addr := os.Getenv("SLUICE_REDIS_ADDR")
	if addr == "" {
		addr = "127.0.0.1:6379"
	}
	if !Ping(addr) {
		Unavailable(t, "no Redis answers at %s", addr)
	}
	return addr
}

// Ping reports whether a Redis at addr answers PING within a second.
func Ping(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && line == "+PONG\r\n"
}

// Redis is a redis-server of the test's own, on a free loopback port with
// no persistence, so that a test can kill, pause and restart it.
type Redis struct {
	t    testing.TB
	Port int
	dir  string
	cmd  *exec.Cmd
}

// StartRedis starts a redis-server for the test and stops it at cleanup.
// Without redis-server installed the test is Unavailable.
func StartRedis(t testing.TB) *Redis {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		Unavailable(t, "redis-server is not installed: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	r := &Redis{t: t, Port: port, dir: t.TempDir()}
	r.Start()
	t.Cleanup(func() {
		if r.cmd != nil {
			_ = r.cmd.Process.Signal(syscall.SIGCONT)
			r.Kill()
		}
	})
	return r
}

// Addr is the server's host:port.
func (r *Redis) Addr() string { return fmt.Sprintf("127.0.0.1:%d", r.Port) }

// Start starts the server (again, after Kill) on its port and waits until
// it answers.
func (r *Redis) Start() {
	r.t.Helper()
	r.cmd = exec.Command("redis-server", "--port", fmt.Sprint(r.Port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", r.dir, "--logfile", filepath.Join(r.dir, "redis.log"))
	if err := r.cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	for range 100 {
		if Ping(r.Addr()) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	log, _ := os.ReadFile(filepath.Join(r.dir, "redis.log"))
	r.t.Fatalf("redis-server on %s did not start:\n%s", r.Addr(), log)
}

// Kill ends the server with SIGKILL: no shutdown, connections reset.
func (r *Redis) Kill() {
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Kill()
	_ = r.cmd.Wait()
	r.cmd = nil
}

// Signal sends sig to the server, such as SIGSTOP to make it hang.
func (r *Redis) Signal(sig syscall.Signal) {
	r.t.Helper()
	if r.cmd == nil {
		r.t.Fatal("redis-server is not running")
	}
	if err := r.cmd.Process.Signal(sig); err != nil {
		r.t.Fatal(err)
	}
}
