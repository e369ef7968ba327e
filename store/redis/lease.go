package redis

import (
	"context"
	"fmt"
	"time"

	"github.com/sluicehq/sluice/algorithm"
)

// maxLeaseID bounds the length of a lease id.
const maxLeaseID = 256

// Acquire takes the lease id on key if fewer than maxLeases leases are held; see
// store.Leaser. The leases of a key are a sorted set of ids scored by their
// expiry, at <prefix>:{key}:lease, whose TTL is the latest expiry. Taking an
// id already held renews it.
func (s *Store) Acquire(ctx context.Context, key, id string, maxLeases int64, ttl time.Duration) (algorithm.Decision, error) {
	if err := checkLease(id); err != nil {
		return algorithm.Decision{}, err
	}
	if maxLeases < 1 || maxLeases > algorithm.MaxRequests {
		return algorithm.Decision{}, fmt.Errorf("sluice redis: acquire: max leases must be between 1 and %d, got %d", int64(algorithm.MaxRequests), maxLeases)
	}
	if ttl < time.Microsecond || ttl > algorithm.MaxWindow {
		return algorithm.Decision{}, fmt.Errorf("sluice redis: acquire: lease ttl must be between 1µs and %s, got %s", algorithm.MaxWindow, ttl)
	}
	var a argBuf
	a, _ = s.header(a)
	a = a.str("acquire")
	a = a.str(id)
	a = a.int(maxLeases)
	a = a.int(ttl.Microseconds())
	reply, err := s.lease(ctx, "acquire", key, a)
	if err != nil {
		return algorithm.Decision{}, err
	}
	if len(reply) != decisionInts {
		return algorithm.Decision{}, fmt.Errorf("sluice redis: acquire: reply of %d integers, want %d", len(reply), decisionInts)
	}
	return decision(reply), nil
}

// Release gives the lease id on key back; see store.Leaser.
func (s *Store) Release(ctx context.Context, key, id string) error {
	if err := checkLease(id); err != nil {
		return err
	}
	var a argBuf
	a, _ = s.header(a)
	a = a.str("release")
	a = a.str(id)
	_, err := s.lease(ctx, "release", key, a)
	return err
}

func (s *Store) lease(ctx context.Context, op, key string, a argBuf) ([]int64, error) {
	calls := []call{{script: s.scripts.lease, keys: []string{s.key(key, "}:"+leaseSuffix)}, args: a.strings(nil)}}
	cctx, cancel := s.deadline(ctx)
	defer cancel()
	s.run.run(cctx, calls)
	if err := calls[0].err; err != nil {
		return nil, fail(cctx, op, err)
	}
	return calls[0].reply, nil
}

func checkLease(id string) error {
	if id == "" || len(id) > maxLeaseID {
		return fmt.Errorf("sluice redis: lease id must be 1 to %d bytes, got %d", maxLeaseID, len(id))
	}
	return nil
}
