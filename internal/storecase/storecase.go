// Package storecase gives tests of the services a Limiter over each kind of
// store, so that every protocol is tested against the memory store and the
// Redis store alike.
package storecase

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/servicetest"
	"github.com/sluicehq/sluice/store/memory"
	"github.com/sluicehq/sluice/store/redis"
)

// Case makes a Limiter over one kind of store, closed at the test's cleanup.
type Case struct {
	Name string
	New  func(t *testing.T) *sluice.Limiter
}

// All returns the memory case and the Redis case (the shared test Redis,
// under a fresh key prefix that starts with prefix; Unavailable when Redis
// does not answer; its keys are deleted at cleanup). The Redis limiter is fail-closed, so that a store
// failure shows in a test instead of passing as fail-open.
func All(prefix string) []Case {
	return []Case{
		{"memory", func(t *testing.T) *sluice.Limiter {
			m := memory.New(memory.Config{})
			t.Cleanup(func() { _ = m.Close() })
			l := sluice.New(m, sluice.Config{})
			t.Cleanup(func() { _ = l.Close() })
			return l
		}},
		{"redis", func(t *testing.T) *sluice.Limiter {
			addr := servicetest.RedisAddr(t)
			client, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr}, ForceSingleClient: true, DisableCache: true})
			if err != nil {
				t.Fatal(err)
			}
			b := make([]byte, 6)
			_, _ = rand.Read(b)
			cfg := redis.Config{Prefix: prefix + hex.EncodeToString(b), Timeout: 2 * time.Second}
			s, err := redis.NewWithClient(client, cfg)
			if err != nil {
				client.Close()
				t.Fatal(err)
			}
			t.Cleanup(func() {
				if err := servicetest.DeleteRedisPrefix(client, cfg.Prefix); err != nil {
					t.Errorf("deleting the test's keys: %v", err)
				}
				_ = s.Close()
				client.Close()
			})
			l := sluice.New(s, sluice.Config{OnStoreError: sluice.FailClosed})
			t.Cleanup(func() { _ = l.Close() })
			// Warm up: the first call loads the scripts.
			if _, err := l.Peek(context.Background(), "warmup", sluice.MustParseLimit("1/s")); err != nil {
				t.Fatal(err)
			}
			return l
		}},
	}
}
