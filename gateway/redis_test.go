package gateway

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/policy"
	"github.com/sluicehq/sluice/store/redis"
)

// startRedis runs a redis-server of the test's own on a free loopback
// port, with no persistence, and returns its address and a function that
// kills it. Without redis-server the test is skipped, or fails when
// SLUICE_REQUIRE_SERVICES=1.
func startRedis(t *testing.T) (addr string, kill func()) {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv("SLUICE_REQUIRE_SERVICES") == "1" {
			t.Fatalf("redis-server is not installed: %v (SLUICE_REQUIRE_SERVICES=1)", err)
		}
		t.Skipf("redis-server is not installed: %v (set SLUICE_REQUIRE_SERVICES=1 to fail instead)", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	dir := t.TempDir()
	cmd := exec.Command("redis-server", "--port", fmt.Sprint(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", dir, "--logfile", filepath.Join(dir, "redis.log"))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	kill = func() {
		if !killed {
			killed = true
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	}
	t.Cleanup(kill)
	addr = fmt.Sprintf("127.0.0.1:%d", port)
	for range 100 {
		if redisPing(addr) {
			return addr, kill
		}
		time.Sleep(50 * time.Millisecond)
	}
	log, _ := os.ReadFile(filepath.Join(dir, "redis.log"))
	t.Fatalf("redis-server on %s did not start:\n%s", addr, log)
	return "", nil
}

func redisPing(addr string) bool {
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

// TestRedisStopped: with the counters in Redis, a route whose policy fails
// open lets requests through once Redis is gone, and one whose policy
// throws on failure (fail-closed) answers 503, never reaching the upstream.
func TestRedisStopped(t *testing.T) {
	addr, kill := startRedis(t)
	st, err := redis.New(redis.Config{URL: "redis://" + addr, Prefix: "gwtest", Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	lim := sluice.New(st, sluice.Config{BlockCacheSize: -1})
	defer lim.Close()
	up := newUpstream(t, nil)
	g := newGateway(t, Config{
		Routes: []Route{
			{Path: "/open", Upstream: up.URL, Policies: []*policy.Policy{{Name: "open", By: policy.ByIP, Limit: limit("2/1h")}}},
			{Path: "/closed", Upstream: up.URL, Policies: []*policy.Policy{{Name: "closed", By: policy.ByIP, Limit: limit("2/1h"), ThrowOnFailure: true}}},
		},
		Limiter: lim,
	})
	url, c := front(t, g)

	// Redis up: both routes count.
	for _, path := range []string{"/open", "/closed"} {
		if got := codes(t, c, url+path, 3); !slices.Equal(got, []int{200, 200, 429}) {
			t.Fatalf("%s with Redis up: %v", path, got)
		}
	}
	kill()
	before := up.hits.Load()
	if got := codes(t, c, url+"/open", 3); !slices.Equal(got, []int{200, 200, 200}) {
		t.Errorf("fail-open with Redis stopped: %v", got)
	}
	if up.hits.Load() != before+3 {
		t.Errorf("fail-open: upstream reached %d times, want 3", up.hits.Load()-before)
	}
	before = up.hits.Load()
	for range 2 {
		resp, body := get(t, c, "GET", url+"/closed")
		if p := problemOf(t, resp, body); resp.StatusCode != 503 || p.Type != policy.ProblemStoreUnavailable {
			t.Errorf("fail-closed with Redis stopped: %d %+v", resp.StatusCode, p)
		}
	}
	if up.hits.Load() != before {
		t.Error("fail-closed: a request reached the upstream")
	}
}
