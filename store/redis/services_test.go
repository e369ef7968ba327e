package redis

// The one place where tests find their services. Redis is at
// $SLUICE_REDIS_ADDR (default 127.0.0.1:6379); a Redis Cluster at
// $SLUICE_REDIS_CLUSTER_ADDRS (comma-separated), or, when that is unset,
// one the tests start themselves with scripts/redis-cluster.sh on free
// ports and stop at the end. A test whose service does not answer is
// skipped, or fails when SLUICE_REQUIRE_SERVICES=1.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/rueidis"
	"go.uber.org/goleak"

	"github.com/sluicehq/sluice/internal/servicetest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(withServices{m},
		// After a Cluster topology refresh, rueidis closes the replaced
		// connections 5 seconds later from a goroutine that then ends: not
		// a leak, just later than the tests.
		goleak.IgnoreAnyFunction("github.com/redis/rueidis.(*clusterClient)._refresh.func2"))
}

// withServices stops the services the tests started once they have run,
// before goleak looks for leaks.
type withServices struct{ m *testing.M }

func (w withServices) Run() int {
	code := w.m.Run()
	ownCluster.stop()
	return code
}

func redisAddr() string {
	if a := os.Getenv("SLUICE_REDIS_ADDR"); a != "" {
		return a
	}
	return "127.0.0.1:6379"
}

// standaloneClient returns a client of the test Redis, closed at cleanup.
func standaloneClient(t testing.TB) rueidis.Client {
	t.Helper()
	c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{redisAddr()}, ForceSingleClient: true, DisableCache: true})
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err = c.Do(ctx, c.B().Ping().Build()).Error()
		cancel()
		if err != nil {
			c.Close()
		}
	}
	if err != nil {
		servicetest.Unavailable(t, "no Redis at %s: %v", redisAddr(), err)
	}
	t.Cleanup(c.Close)
	return c
}

// clusterClient returns a client of the test Redis Cluster, closed at cleanup.
func clusterClient(t testing.TB) rueidis.Client {
	t.Helper()
	addrs, err := clusterAddrs()
	if err != nil {
		servicetest.Unavailable(t, "no Redis Cluster: %v", err)
	}
	c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: addrs, DisableCache: true})
	if err == nil && c.Mode() != rueidis.ClientModeCluster {
		c.Close()
		err = fmt.Errorf("%v is not a cluster", addrs)
	}
	if err != nil {
		servicetest.Unavailable(t, "no Redis Cluster at %v: %v", addrs, err)
	}
	t.Cleanup(c.Close)
	return c
}

// ownCluster is the cluster the tests start when none is given. Test-only
// state: the library itself has none.
var ownCluster clusterProcess

type clusterProcess struct {
	once  sync.Once
	ports []string
	addrs []string
	err   error
}

func clusterAddrs() ([]string, error) {
	if env := os.Getenv("SLUICE_REDIS_CLUSTER_ADDRS"); env != "" {
		return strings.Split(env, ","), nil
	}
	ownCluster.once.Do(ownCluster.start)
	return ownCluster.addrs, ownCluster.err
}

// start runs scripts/redis-cluster.sh on three free ports (and their bus
// ports, +10000).
func (c *clusterProcess) start() {
	c.ports, c.err = freeClusterPorts(3)
	if c.err != nil {
		return
	}
	cmd := exec.Command(clusterScript(), append([]string{"start"}, c.ports...)...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		c.err = fmt.Errorf("SLUICE_REDIS_CLUSTER_ADDRS is unset and scripts/redis-cluster.sh start failed: %w", err)
		return
	}
	c.addrs = strings.Split(strings.TrimSpace(string(out)), ",")
}

func (c *clusterProcess) stop() {
	if len(c.addrs) == 0 {
		return
	}
	cmd := exec.Command(clusterScript(), append([]string{"stop"}, c.ports...)...)
	cmd.Stderr = os.Stderr
	_ = cmd.Run()
}

func clusterScript() string {
	p, _ := filepath.Abs(filepath.Join("..", "..", "scripts", "redis-cluster.sh"))
	return p
}

// freeClusterPorts finds n ports that are free along with port+10000.
func freeClusterPorts(n int) ([]string, error) {
	var ports []string
	for try := 0; len(ports) < n && try < 200; try++ {
		p, err := freePort()
		if err != nil {
			return nil, err
		}
		if p >= 55535 {
			continue
		}
		if l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p+10000)); err == nil {
			l.Close()
			ports = append(ports, fmt.Sprint(p))
		}
	}
	if len(ports) < n {
		return nil, fmt.Errorf("found only %d free port pairs", len(ports))
	}
	return ports, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// testPrefix is a key prefix no other test run uses.
func testPrefix(t testing.TB) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "sluicetest-" + hex.EncodeToString(b[:])
}

// newTestStore returns a Store on client with cfg (a fresh prefix unless
// cfg has one), whose keys are deleted and which is closed at cleanup.
// Unless cfg says otherwise its calls may take 5s: tests of behaviour, not
// of speed, run on loaded CI machines under the race detector.
func newTestStore(t testing.TB, client rueidis.Client, cfg Config) *Store {
	t.Helper()
	if cfg.Prefix == "" {
		cfg.Prefix = testPrefix(t)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	s, err := NewWithClient(client, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := servicetest.DeleteRedisPrefix(client, cfg.Prefix); err != nil {
			t.Errorf("deleting the test's keys: %v", err)
		}
		s.Close()
	})
	return s
}
