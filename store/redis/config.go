package redis

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// Defaults of Config.
const (
	// DefaultURL is the Redis a zero Config connects to.
	DefaultURL = "redis://127.0.0.1:6379"
	// DefaultPrefix begins every key of a zero Config.
	DefaultPrefix = "sluice"
	// DefaultTimeout bounds each call to Redis: long enough for a round trip
	// on a loaded network (a healthy one takes well under a millisecond),
	// short enough that a request path waiting on a hung Redis gives up
	// quickly and the limiter applies its fail-open/closed policy.
	DefaultTimeout = 100 * time.Millisecond
	// maxPrefix bounds the length of Config.Prefix.
	maxPrefix = 64
	// testTTLFloor is the shortest TTL a key gets when Config.Now is set.
	testTTLFloor = 10 * time.Minute
)

// ErrInvalidConfig is wrapped by every error about a malformed Config or URL.
var ErrInvalidConfig = errors.New("invalid redis store config")

// ErrClockSkew is returned for a quota limit when the Redis clock and the
// application's clock differ by more than the neighbouring calendar
// periods: the script received the bounds of the previous, current and next
// period around the application's clock, and Redis's time is in none.
var ErrClockSkew = errors.New("sluice redis: the Redis clock and this host's clock differ by more than a quota period")

// Config configures a Store. The zero Config is ready: Redis on
// 127.0.0.1:6379, keys under "sluice:", a 100ms deadline per call.
type Config struct {
	// URL selects the deployment; see ParseURL for the forms accepted
	// (standalone, TLS, Sentinel, Cluster). Empty means DefaultURL. Ignored
	// by NewWithClient.
	URL string

	// Prefix begins every key the store writes, followed by ':'. Several
	// applications sharing a Redis use different prefixes. Empty means
	// DefaultPrefix; at most 64 bytes, no '{' or '}' (they would change
	// the Cluster hash slot of keys).
	Prefix string

	// Timeout is the deadline of each call to Redis, applied on top of the
	// caller's context: a call returns an error wrapping
	// context.DeadlineExceeded once it has waited this long. Zero means
	// DefaultTimeout.
	Timeout time.Duration

	// TLS, when set, is the TLS configuration for the connection (it turns
	// TLS on for any URL). Nil uses what the URL says: TLS with the system
	// roots for rediss://.
	TLS *tls.Config

	// Now, when set, is the clock of every decision instead of Redis's TIME:
	// for tests that control time (the conformance suite). Production
	// leaves it nil. Because such a clock runs apart from Redis's, keys then
	// keep a TTL of at least 10 minutes of real time.
	Now func() time.Time

	// Logger receives warnings the store cannot return as errors (an
	// all-or-nothing check across Cluster slots that could not be undone).
	// Nil discards them.
	Logger *slog.Logger
}

// withDefaults returns c with defaults filled in, or an error if c is malformed.
func (c Config) withDefaults() (Config, error) {
	if c.URL == "" {
		c.URL = DefaultURL
	}
	if c.Prefix == "" {
		c.Prefix = DefaultPrefix
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, c.Validate()
}

// Validate reports whether c is well formed. Empty fields are valid: they
// take their defaults. Errors wrap ErrInvalidConfig.
func (c Config) Validate() error {
	if len(c.Prefix) > maxPrefix {
		return fmt.Errorf("%w: prefix is %d bytes, at most %d are accepted", ErrInvalidConfig, len(c.Prefix), maxPrefix)
	}
	if strings.ContainsAny(c.Prefix, "{}") {
		return fmt.Errorf("%w: prefix %q contains '{' or '}', which would change the Cluster hash slot of keys", ErrInvalidConfig, c.Prefix)
	}
	if c.Timeout < 0 {
		return fmt.Errorf("%w: timeout must be positive (or zero for %s), got %s", ErrInvalidConfig, DefaultTimeout, c.Timeout)
	}
	if c.URL != "" {
		if _, err := ParseURL(c.URL); err != nil {
			return err
		}
	}
	return nil
}
