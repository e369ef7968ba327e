// Package postgres stores rules in PostgreSQL: the scale-out store, shared
// by every Sluice instance. It uses github.com/jackc/pgx/v5 (pgxpool).
//
// Tables live in the schema first on the connection's search_path (set it
// in the URL, as in postgres://host/db?search_path=sluice), so several
// deployments can share one database. Every write sends a notification in
// its transaction, and Watch (LISTEN) delivers it to every instance: a
// change made through any instance's admin API applies everywhere within
// moments. Notification channels are per schema.
//
// The schema is created and upgraded by the migrations embedded in this
// package (see Migrate); Open refuses a database whose schema is older
// unless Options.Migrate is set.
package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sluicehq/sluice/rules"
)

// Defaults of Options.
const (
	DefaultWatchMinBackoff = 100 * time.Millisecond
	DefaultWatchMaxBackoff = 30 * time.Second
)

// Options configures Open. The zero value is usable.
type Options struct {
	// Migrate creates or upgrades the schema on Open. Without it, Open of a
	// database whose schema is older than this program's fails with
	// rules.ErrNotMigrated.
	Migrate bool
	// MaxConns caps the connection pool; 0 means pgxpool's default (the
	// larger of 4 and the number of CPUs), or pool_max_conns in the URL.
	// Watch holds one more connection of its own.
	MaxConns int32
	// WatchMinBackoff and WatchMaxBackoff bound the delay between Watch's
	// attempts to reconnect: it starts at the minimum and doubles up to the
	// maximum. 0 means DefaultWatchMinBackoff and DefaultWatchMaxBackoff.
	WatchMinBackoff time.Duration
	WatchMaxBackoff time.Duration
	// Now is the clock for timestamps; nil means time.Now.
	Now func() time.Time
	// Logger receives migration progress and Watch's connection failures;
	// nil discards.
	Logger *slog.Logger
}

// Repo is a rules.Repository in PostgreSQL. It is safe for concurrent use.
// It is also a rules.Watcher.
type Repo struct {
	pool       *pgxpool.Pool
	listenCfg  *pgx.ConnConfig // Watch's connection
	channel    string          // the notification channel of this schema
	schema     string
	now        func() time.Time
	log        *slog.Logger
	minBackoff time.Duration
	maxBackoff time.Duration
	// watchPID is the backend process id of Watch's connection, for tests.
	watchPID watchPIDs
}

var (
	_ rules.Repository = (*Repo)(nil)
	_ rules.Watcher    = (*Repo)(nil)
)

// Open connects to the PostgreSQL at url (postgres://user:pass@host:port/db
// ?sslmode=…&search_path=…, or a keyword/value string), migrating its
// schema first when opts.Migrate is set. Close the Repo when done.
func Open(ctx context.Context, url string, opts Options) (*Repo, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err) // pgx redacts the password
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.WatchMinBackoff <= 0 {
		opts.WatchMinBackoff = DefaultWatchMinBackoff
	}
	if opts.WatchMaxBackoff <= 0 {
		opts.WatchMaxBackoff = DefaultWatchMaxBackoff
	}
	opts.WatchMaxBackoff = max(opts.WatchMaxBackoff, opts.WatchMinBackoff)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, wrap("connect", err)
	}
	r := &Repo{
		pool: pool, listenCfg: cfg.ConnConfig.Copy(), now: opts.Now, log: opts.Logger,
		minBackoff: opts.WatchMinBackoff, maxBackoff: opts.WatchMaxBackoff,
	}
	if err := r.init(ctx, opts.Migrate); err != nil {
		pool.Close()
		return nil, err
	}
	return r, nil
}

func (r *Repo) init(ctx context.Context, migrateSchema bool) error {
	var schema *string
	if err := r.pool.QueryRow(ctx, "SELECT current_schema()").Scan(&schema); err != nil {
		return wrap("connect", err)
	}
	if schema == nil && migrateSchema {
		// search_path names a schema that does not exist yet: migrating
		// creates it, so that a fresh deployment needs no manual step.
		if name := firstSearchPath(r.listenCfg.RuntimeParams["search_path"]); name != "" {
			if _, err := r.pool.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+pgx.Identifier{name}.Sanitize()); err != nil {
				return wrap("create schema "+name, err)
			}
			// Connections already open cached the missing schema: start afresh.
			r.pool.Reset()
			if err := r.pool.QueryRow(ctx, "SELECT current_schema()").Scan(&schema); err != nil {
				return wrap("connect", err)
			}
		}
	}
	if schema == nil {
		return errors.New("postgres: no schema on the search_path exists; create it, set search_path in the URL, or run `sluice migrate`")
	}
	r.schema = *schema
	r.channel = channelName(r.schema)
	if migrateSchema {
		if _, err := migrate(ctx, r.pool, r.schema, r.log); err != nil {
			return err
		}
		return nil
	}
	return checkSchema(ctx, r.pool, r.schema)
}

// firstSearchPath returns the first schema a search_path setting names,
// unquoted, or "" when it names none or starts with "$user".
func firstSearchPath(sp string) string {
	first, _, _ := strings.Cut(sp, ",")
	first = strings.TrimSpace(first)
	if strings.HasPrefix(first, `"`) && strings.HasSuffix(first, `"`) && len(first) >= 2 {
		first = strings.ReplaceAll(first[1:len(first)-1], `""`, `"`)
	} else {
		first = strings.ToLower(first)
	}
	if first == "$user" {
		return ""
	}
	return first
}

// channelName returns the notification channel of a schema. Channel names
// are identifiers of at most 63 bytes: long schema names are hashed.
func channelName(schema string) string {
	name := "sluice_rules:" + schema
	if len(name) > 63 {
		sum := sha256.Sum256([]byte(schema))
		name = "sluice_rules:" + hex.EncodeToString(sum[:16])
	}
	return name
}

// Ping checks that PostgreSQL answers.
func (r *Repo) Ping(ctx context.Context) error {
	return wrap("ping", r.pool.Ping(ctx))
}

// Close closes the connection pool, waiting for connections in use to be
// returned. A Watch in progress keeps its own connection until its context
// ends.
func (r *Repo) Close() error {
	r.pool.Close()
	return nil
}

// Schema returns the schema the rules live in (the first existing schema on
// the search_path).
func (r *Repo) Schema() string { return r.schema }
