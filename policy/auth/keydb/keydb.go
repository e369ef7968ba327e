// Package keydb keeps API keys in the rules database, SQLite or
// PostgreSQL, in a table of its own (sluice_api_keys) that it creates when
// opened; keys are stored only as their SHA-256 hashes. Store is an
// auth.KeyStore; Handler is the admin endpoint /api/api-keys that creates
// keys (returning the key itself once), lists and deletes them.
package keydb

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
	_ "modernc.org/sqlite"             // the "sqlite" database/sql driver

	"github.com/sluicehq/sluice/policy/auth"
	"github.com/sluicehq/sluice/rules/rulesdb"
)

// ErrNotFound is returned for a key ID that does not exist.
var ErrNotFound = errors.New("api key not found")

// ErrInvalid is wrapped by errors about input: a consumer name or metadata
// that is not acceptable.
var ErrInvalid = errors.New("invalid api key")

// Defaults of Options.
const (
	// DefaultCacheTTL is how long a looked-up key is remembered. A key
	// deleted through another instance keeps working here for at most
	// this long; through this one, it stops at once.
	DefaultCacheTTL = 10 * time.Second
	// DefaultBusyTimeout is how long a SQLite statement waits for a lock.
	DefaultBusyTimeout = 5 * time.Second
	// MaxMetadataBytes caps the JSON of a key's metadata.
	MaxMetadataBytes = 16 << 10
	// maxCached bounds the lookup cache; it is emptied when full.
	maxCached = 10_000
)

// Options configures Open. The zero value is usable.
type Options struct {
	// CacheTTL is how long a looked-up key is remembered. Zero means
	// DefaultCacheTTL; a negative value turns the cache off.
	CacheTTL time.Duration
	// BusyTimeout is how long a SQLite statement waits for another
	// connection's lock; zero means DefaultBusyTimeout.
	BusyTimeout time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Key is a stored API key, without the key itself.
type Key struct {
	// ID identifies the key in the admin API: "ak_" and 24 hex digits.
	ID string `json:"id"`
	// Consumer is who the key belongs to: the user's subject.
	Consumer string `json:"consumer"`
	// Metadata is the user's Data, such as customerId and plan.
	Metadata map[string]any `json:"metadata"`
	// CreatedAt is when the key was created, in UTC.
	CreatedAt time.Time `json:"created_at"`
}

// Store is an auth.KeyStore in a SQLite or PostgreSQL database. It is safe
// for concurrent use; Close it when done.
type Store struct {
	db    *sql.DB
	now   func() time.Time
	cache *cache // nil when off
}

var _ auth.KeyStore = (*Store)(nil)

// The schema: the same statements work on SQLite and PostgreSQL.
// created_at is Unix milliseconds; key_hash the hex SHA-256 of the key.
const (
	createTable = `CREATE TABLE IF NOT EXISTS sluice_api_keys (
		id         TEXT PRIMARY KEY,
		consumer   TEXT NOT NULL,
		key_hash   TEXT NOT NULL UNIQUE,
		metadata   TEXT NOT NULL,
		created_at BIGINT NOT NULL
	)`
	createIndex = `CREATE INDEX IF NOT EXISTS sluice_api_keys_consumer ON sluice_api_keys (consumer)`
)

// Open opens the key table in the database dsn names, in the forms the
// rules database accepts (rulesdb.Parse): a SQLite file such as sluice.db
// or sqlite:/path/rules.db, or a postgres:// URL (with search_path for a
// schema). It creates the table when it does not exist.
func Open(ctx context.Context, dsn string, opts Options) (*Store, error) {
	backend, target, err := rulesdb.Parse(dsn)
	if err != nil {
		return nil, fmt.Errorf("keydb: %w", err)
	}
	var db *sql.DB
	switch backend {
	case rulesdb.BackendPostgres:
		db, err = sql.Open("pgx", target)
	default:
		busy := opts.BusyTimeout
		if busy <= 0 {
			busy = DefaultBusyTimeout
		}
		q := url.Values{}
		q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busy.Milliseconds()))
		q.Add("_pragma", "journal_mode(WAL)")
		q.Set("_txlock", "immediate")
		db, err = sql.Open("sqlite", "file:"+(&url.URL{Path: target}).EscapedPath()+"?"+q.Encode())
		if err == nil {
			db.SetMaxOpenConns(4)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("keydb: open: %w", err)
	}
	s, err := New(ctx, db, opts)
	if err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// New returns a Store over db, an open SQLite ("sqlite" driver) or
// PostgreSQL ("pgx" driver) database, creating the table when it does not
// exist. Close closes db.
func New(ctx context.Context, db *sql.DB, opts Options) (*Store, error) {
	for _, stmt := range []string{createTable, createIndex} {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			return nil, fmt.Errorf("keydb: create table: %w", err)
		}
	}
	s := &Store{db: db, now: opts.Now}
	if s.now == nil {
		s.now = time.Now
	}
	ttl := opts.CacheTTL
	if ttl == 0 {
		ttl = DefaultCacheTTL
	}
	if ttl > 0 {
		s.cache = newCache(ttl, s.now)
	}
	return s, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return fmt.Errorf("keydb: ping: %w", err)
	}
	return nil
}

// LookupKey returns the consumer of the key with hash h, or an error
// wrapping auth.ErrKeyNotFound.
func (s *Store) LookupKey(ctx context.Context, h auth.KeyHash) (auth.Consumer, error) {
	if c, ok := s.cache.get(h); ok {
		return c, nil
	}
	var id, name, meta string
	err := s.db.QueryRowContext(ctx,
		`SELECT id, consumer, metadata FROM sluice_api_keys WHERE key_hash = $1`, h.String()).Scan(&id, &name, &meta)
	if errors.Is(err, sql.ErrNoRows) {
		return auth.Consumer{}, auth.ErrKeyNotFound
	}
	if err != nil {
		return auth.Consumer{}, fmt.Errorf("keydb: look up key: %w", err)
	}
	md, err := decodeMetadata(meta)
	if err != nil {
		return auth.Consumer{}, err
	}
	c := auth.WithKeyID(name, md, id)
	s.cache.put(h, c)
	return c, nil
}

// Create makes a new key for consumer with metadata and returns it with
// the key itself, which is not stored and cannot be shown again.
func (s *Store) Create(ctx context.Context, consumer string, metadata map[string]any) (Key, string, error) {
	if err := auth.ValidateConsumer(consumer); err != nil {
		return Key{}, "", fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if metadata == nil {
		metadata = map[string]any{}
	}
	meta, err := json.Marshal(metadata)
	if err != nil {
		return Key{}, "", fmt.Errorf("%w: metadata: %w", ErrInvalid, err)
	}
	if len(meta) > MaxMetadataBytes {
		return Key{}, "", fmt.Errorf("%w: metadata is %d bytes of JSON, at most %d are accepted", ErrInvalid, len(meta), MaxMetadataBytes)
	}
	plain, err := auth.GenerateKey()
	if err != nil {
		return Key{}, "", err
	}
	id, err := newID()
	if err != nil {
		return Key{}, "", err
	}
	created := s.now().UTC().Truncate(time.Millisecond)
	_, err = s.db.ExecContext(ctx,
		`INSERT INTO sluice_api_keys (id, consumer, key_hash, metadata, created_at) VALUES ($1, $2, $3, $4, $5)`,
		id, consumer, auth.HashKey(plain).String(), string(meta), created.UnixMilli())
	if err != nil {
		return Key{}, "", fmt.Errorf("keydb: create key: %w", err)
	}
	md, err := decodeMetadata(string(meta))
	if err != nil {
		return Key{}, "", err
	}
	return Key{ID: id, Consumer: consumer, Metadata: md, CreatedAt: created}, plain, nil
}

// Get returns the key with id, or an error wrapping ErrNotFound.
func (s *Store) Get(ctx context.Context, id string) (Key, error) {
	rows, err := s.db.QueryContext(ctx,
		`SELECT id, consumer, metadata, created_at FROM sluice_api_keys WHERE id = $1`, id)
	if err != nil {
		return Key{}, fmt.Errorf("keydb: get key: %w", err)
	}
	keys, err := scanKeys(rows)
	if err != nil {
		return Key{}, err
	}
	if len(keys) == 0 {
		return Key{}, fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	return keys[0], nil
}

// List returns the keys, oldest first; those of consumer only unless it is
// empty.
func (s *Store) List(ctx context.Context, consumer string) ([]Key, error) {
	q := `SELECT id, consumer, metadata, created_at FROM sluice_api_keys`
	var args []any
	if consumer != "" {
		q += ` WHERE consumer = $1`
		args = append(args, consumer)
	}
	rows, err := s.db.QueryContext(ctx, q+` ORDER BY created_at, id`, args...)
	if err != nil {
		return nil, fmt.Errorf("keydb: list keys: %w", err)
	}
	return scanKeys(rows)
}

// Delete removes the key with id; it stops authenticating through this
// Store at once. The error wraps ErrNotFound when there is no such key.
func (s *Store) Delete(ctx context.Context, id string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM sluice_api_keys WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("keydb: delete key: %w", err)
	}
	s.cache.clear()
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	return nil
}

func scanKeys(rows *sql.Rows) ([]Key, error) {
	defer rows.Close()
	keys := []Key{}
	for rows.Next() {
		var k Key
		var meta string
		var created int64
		if err := rows.Scan(&k.ID, &k.Consumer, &meta, &created); err != nil {
			return nil, fmt.Errorf("keydb: read key: %w", err)
		}
		md, err := decodeMetadata(meta)
		if err != nil {
			return nil, err
		}
		k.Metadata, k.CreatedAt = md, time.UnixMilli(created).UTC()
		keys = append(keys, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("keydb: read keys: %w", err)
	}
	return keys, nil
}

// decodeMetadata decodes stored metadata, keeping numbers as json.Number.
func decodeMetadata(s string) (map[string]any, error) {
	md := map[string]any{}
	if err := decodeJSON([]byte(s), &md); err != nil {
		return nil, fmt.Errorf("keydb: stored metadata: %w", err)
	}
	return md, nil
}

// newID returns a random key ID.
func newID() (string, error) {
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("keydb: new id: %w", err)
	}
	return "ak_" + hex.EncodeToString(b[:]), nil
}
