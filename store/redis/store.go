package redis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/redis/rueidis"

	"github.com/sluicehq/sluice/algorithm"
	"github.com/sluicehq/sluice/store"
)

// Compile-time checks of the abilities the Store offers.
var (
	_ store.Store  = (*Store)(nil)
	_ store.Leaser = (*Store)(nil)
	_ store.Pinger = (*Store)(nil)
)

// Store is a store.Store, store.Leaser and store.Pinger backed by Redis. It
// is safe for concurrent use. Close it when done.
type Store struct {
	run     runner
	scripts scripts
	prefix  string // Config.Prefix + ":{"
	timeout time.Duration
	now     func() time.Time // nil: Redis TIME
	floor   int64            // the TTL floor in ms
	log     *slog.Logger
}

// New connects to the Redis deployment that cfg.URL names and returns a
// Store using it. For a standalone Redis (redis://, rediss://) New does not
// fail when Redis is unreachable: calls fail until it answers (use Ping for
// readiness). Sentinel and Cluster must answer, to tell their topology.
func New(cfg Config) (*Store, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	opt, err := ParseURL(cfg.URL)
	if err != nil {
		return nil, err
	}
	if cfg.TLS != nil {
		opt.TLSConfig = cfg.TLS
		if opt.Sentinel.MasterSet != "" {
			opt.Sentinel.TLSConfig = cfg.TLS
		}
	}
	connOptions(&opt, cfg.Timeout)
	client, err := rueidis.NewClient(opt)
	if err != nil && (client == nil || !opt.ForceSingleClient) {
		if client != nil {
			client.Close()
		}
		return nil, fmt.Errorf("sluice redis: connect to %s: %w", redact(cfg.URL), err)
	}
	return newStore(client, true, cfg)
}

// connOptions sets the connection-level limits that go with a per-call
// deadline of timeout. A reply later than the deadline is of no use, so a
// connection whose replies stop is dropped soon after (rueidis pings a
// connection that received nothing for KeepAlive and drops it when the PING
// is not answered within ConnWriteTimeout): calls abandoned at their
// deadline then release their place in the connection's queue (4096 places
// each, RingScaleEachConn 12), and the queue cannot fill while Redis hangs
// unless more than about 4096 calls per connection arrive during the half
// second it takes to notice.
func connOptions(opt *rueidis.ClientOption, timeout time.Duration) {
	gap := max(2*timeout, 250*time.Millisecond)
	opt.Dialer.Timeout = max(10*timeout, time.Second)
	opt.Dialer.KeepAlive = gap
	opt.ConnWriteTimeout = gap
	opt.RingScaleEachConn = 12
	opt.DisableCache = true // no client-side caching: every decision asks Redis
	if opt.Sentinel.MasterSet != "" {
		opt.Sentinel.Dialer.Timeout = opt.Dialer.Timeout
		opt.Sentinel.Dialer.KeepAlive = gap
	}
}

// NewWithClient returns a Store using a rueidis client the caller already
// has (standalone, Sentinel or Cluster). cfg.URL is ignored. Close does not
// close the client. The client should have client-side caching disabled
// (rueidis.ClientOption.DisableCache); the store never uses it.
func NewWithClient(client rueidis.Client, cfg Config) (*Store, error) {
	if client == nil {
		return nil, fmt.Errorf("%w: nil client", ErrInvalidConfig)
	}
	cfg.URL = ""
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	return newStore(client, false, cfg)
}

func newStore(client rueidis.Client, owned bool, cfg Config) (*Store, error) {
	sc, err := newScripts()
	if err != nil {
		if owned {
			client.Close()
		}
		return nil, err
	}
	s := &Store{
		run:     runner{client: client, owned: owned, cluster: client.Mode() == rueidis.ClientModeCluster},
		scripts: sc,
		prefix:  cfg.Prefix + ":{",
		timeout: cfg.Timeout,
		now:     cfg.Now,
		log:     cfg.Logger,
	}
	if cfg.Now != nil {
		s.floor = testTTLFloor.Milliseconds()
	}
	return s, nil
}

// Close closes the connections the store opened. A client passed to
// NewWithClient stays open.
func (s *Store) Close() error {
	s.run.close()
	return nil
}

// key returns the Redis key of key's state under suffix suf (see keys.go).
func (s *Store) key(key, suf string) string {
	return s.prefix + key + suf
}

// header appends the arguments every script starts with: the time (” for
// Redis TIME) and the TTL floor. It returns the time of this host's clock
// (or the controlled clock) in µs, the reference for quota periods.
func (s *Store) header(a argBuf) (argBuf, int64) {
	if s.now != nil {
		now := s.now().UnixMicro()
		return a.int(now).int(s.floor), now
	}
	return a.str("").int(0), time.Now().UnixMicro()
}

// deadline bounds one call to Redis.
func (s *Store) deadline(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.timeout)
}

// fail wraps an error of operation op. A call that ran out of time wraps
// context.DeadlineExceeded, whatever layer noticed it.
func fail(ctx context.Context, op string, err error) error {
	if errors.Is(err, ErrClockSkew) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("sluice redis: %s: %w", op, err)
	}
	if errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("sluice redis: %s: %w (%w)", op, context.DeadlineExceeded, err)
	}
	return fmt.Errorf("sluice redis: %s: %w", op, err)
}

// check validates what the store is given: the limiter validates it
// already, but a store must never panic on input.
func check(l algorithm.Limit, cost int64) error {
	if err := l.Validate(); err != nil {
		return err
	}
	if cost < 0 {
		return fmt.Errorf("sluice redis: cost must be >= 0, got %d", cost)
	}
	return nil
}

// decision decodes the six integers of a decision in a script's reply.
func decision(v []int64) algorithm.Decision {
	return algorithm.Decision{
		Allowed:    v[0] == 1,
		Limit:      v[1],
		Remaining:  v[2],
		Reset:      time.Duration(v[3]) * time.Microsecond,
		RetryAfter: time.Duration(v[4]) * time.Microsecond,
		Reason:     algorithm.Reason(v[5]),
	}
}

// decisionInts is the number of integers of one decision in a reply.
const decisionInts = 6

// Take applies a call of the given cost to key under limit in one round
// trip; see store.Store.
func (s *Store) Take(ctx context.Context, key string, limit algorithm.Limit, cost int64) (algorithm.Decision, error) {
	if err := check(limit, cost); err != nil {
		return algorithm.Decision{}, err
	}
	var buf [160]byte
	var ends [16]int
	a := argBuf{b: buf[:0], ends: ends[:0]}
	a, ref := s.header(a)
	a = a.str("0")
	a = a.limit(limit, ref)
	a = a.int(cost)
	var keys [1]string
	var args [16]string
	var reply [1 + decisionInts]int64
	keys[0] = s.key(key, suffix(limit.Algorithm))
	cctx, cancel := s.deadline(ctx)
	got, err := s.run.runOne(cctx, s.scripts.take1[limit.Algorithm], keys[:], a.strings(args[:0]), reply[:0])
	cancel()
	if err != nil {
		return algorithm.Decision{}, fail(cctx, "take", err)
	}
	if len(got) != 1+decisionInts {
		return algorithm.Decision{}, fmt.Errorf("sluice redis: take: reply of %d integers, want %d", len(got), 1+decisionInts)
	}
	return decision(got[1:]), nil
}

// Refund gives back amount of allowance to key under limit; see store.Store.
func (s *Store) Refund(ctx context.Context, key string, limit algorithm.Limit, amount int64) (algorithm.Decision, error) {
	if err := check(limit, 0); err != nil {
		return algorithm.Decision{}, err
	}
	var buf [160]byte
	var ends [16]int
	a := argBuf{b: buf[:0], ends: ends[:0]}
	a, ref := s.header(a)
	a = a.limit(limit, ref)
	a = a.int(amount)
	var keys [1]string
	var args [16]string
	var reply [decisionInts]int64
	keys[0] = s.key(key, suffix(limit.Algorithm))
	cctx, cancel := s.deadline(ctx)
	got, err := s.run.runOne(cctx, s.scripts.refund[limit.Algorithm], keys[:], a.strings(args[:0]), reply[:0])
	cancel()
	if err != nil {
		return algorithm.Decision{}, fail(cctx, "refund", err)
	}
	if len(got) != decisionInts {
		return algorithm.Decision{}, fmt.Errorf("sluice redis: refund: reply of %d integers, want %d", len(got), decisionInts)
	}
	return decision(got), nil
}

// Reset forgets the state of key under every algorithm, and its leases, in
// one round trip; see store.Store.
func (s *Store) Reset(ctx context.Context, key string) error {
	suffixes := allSuffixes()
	keys := make([]string, len(suffixes))
	for i, suf := range suffixes {
		keys[i] = s.key(key, suf)
	}
	cctx, cancel := s.deadline(ctx)
	defer cancel()
	cmds := make(rueidis.Commands, 0, 1)
	if !s.run.cluster {
		cmds = append(cmds, s.run.client.B().Unlink().Key(keys...).Build())
	} else {
		// The keys share their hash tag, so one slot, except for a key
		// starting with '}' (an empty tag, which Redis ignores).
		bySlot := map[uint16][]string{}
		for _, k := range keys {
			bySlot[slot(k)] = append(bySlot[slot(k)], k)
		}
		for _, ks := range bySlot {
			cmds = append(cmds, s.run.client.B().Unlink().Key(ks...).Build())
		}
	}
	for _, res := range s.run.client.DoMulti(cctx, cmds...) {
		if err := res.Error(); err != nil {
			return fail(cctx, "reset", err)
		}
	}
	return nil
}

// Ping checks that the store can decide: it runs the decision script for a
// read (cost 0) of a key of its own, which loads the script if Redis lost
// it. See store.Pinger.
func (s *Store) Ping(ctx context.Context) error {
	var a argBuf
	a, ref := s.header(a)
	a = a.str("0")
	a = a.limit(algorithm.Limit{Requests: 1, Window: time.Second}, ref)
	a = a.int(0)
	calls := []call{{script: s.scripts.take1[algorithm.SlidingWindow], keys: []string{s.prefix[:len(s.prefix)-1] + "ping"}, args: a.strings(nil)}}
	cctx, cancel := s.deadline(ctx)
	defer cancel()
	s.run.run(cctx, calls)
	if err := calls[0].err; err != nil {
		return fail(cctx, "ping", err)
	}
	if len(calls[0].reply) != 1+decisionInts {
		return fmt.Errorf("sluice redis: ping: reply of %d integers, want %d", len(calls[0].reply), 1+decisionInts)
	}
	return nil
}
