package envoyrls_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"os"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/store/memory"
	"github.com/sluicehq/sluice/store/redis"
)

// storeCase makes a Limiter over one kind of store.
type storeCase struct {
	name string
	new  func(t *testing.T) *sluice.Limiter
}

// stores are the stores every service test runs against: memory, and the
// Redis at $SLUICE_REDIS_ADDR (default 127.0.0.1:6379), which is skipped
// when it does not answer unless SLUICE_REQUIRE_SERVICES=1.
var stores = []storeCase{
	{"memory", func(t *testing.T) *sluice.Limiter {
		m := memory.New(memory.Config{})
		t.Cleanup(func() { _ = m.Close() })
		l := sluice.New(m, sluice.Config{})
		t.Cleanup(func() { _ = l.Close() })
		return l
	}},
	{"redis", func(t *testing.T) *sluice.Limiter {
		addr := os.Getenv("SLUICE_REDIS_ADDR")
		if addr == "" {
			addr = "127.0.0.1:6379"
		}
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			if os.Getenv("SLUICE_REQUIRE_SERVICES") == "1" {
				t.Fatalf("redis at %s: %v (SLUICE_REQUIRE_SERVICES=1)", addr, err)
			}
			t.Skipf("redis at %s: %v; set SLUICE_REQUIRE_SERVICES=1 to fail instead", addr, err)
		}
		_ = conn.Close()
		b := make([]byte, 6)
		_, _ = rand.Read(b)
		s, err := redis.New(redis.Config{URL: "redis://" + addr, Prefix: "sluicetest-envoy-" + hex.EncodeToString(b), Timeout: 2 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		l := sluice.New(s, sluice.Config{OnStoreError: sluice.FailClosed})
		t.Cleanup(func() { _ = l.Close() })
		// Warm up: the first call loads the scripts.
		if _, err := l.Peek(context.Background(), "warmup", sluice.MustParseLimit("1/s")); err != nil {
			t.Fatal(err)
		}
		return l
	}},
}
