package postgres

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"hash/fnv"
	"io/fs"
	"log/slog"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/sluicehq/sluice/rules"
)

// migrations holds the schema, one goose SQL file per version.
//
//go:embed migrations/*.sql
var migrations embed.FS

// versionTable is goose's table of applied versions, in the same schema as
// the rules. It is named for the rules so that other parts of Sluice can
// keep their own.
const versionTable = "sluice_rules_migrations"

// Status is the schema version of a database and the newest one this
// program knows.
type Status struct {
	// Current is the version the database is at; 0 when it has no schema.
	Current int64
	// Latest is the newest version embedded in this program.
	Latest int64
}

// Pending reports whether the database needs migrating.
func (s Status) Pending() bool { return s.Current < s.Latest }

// Migrate creates or upgrades the rules schema in the database at url (in
// the schema first on its search_path) and returns its status afterwards.
// It is idempotent, and safe to run from several processes at once: they
// take turns under an advisory lock.
func Migrate(ctx context.Context, url string) (Status, error) {
	r, err := Open(ctx, url, Options{Migrate: true})
	if err != nil {
		return Status{}, err
	}
	defer r.Close()
	return status(ctx, r.pool)
}

// SchemaStatus reports the schema version of the database at url without
// changing it.
func SchemaStatus(ctx context.Context, url string) (Status, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return Status{}, fmt.Errorf("postgres: %w", err)
	}
	cfg.MaxConns = 1
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return Status{}, wrap("connect", err)
	}
	defer pool.Close()
	return status(ctx, pool)
}

// latestVersion returns the newest embedded schema version.
func latestVersion() (int64, error) {
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return 0, err
	}
	var latest int64
	for _, name := range names {
		v, err := goose.NumericComponent(name)
		if err != nil {
			return 0, fmt.Errorf("postgres: migration %s: %w", name, err)
		}
		latest = max(latest, v)
	}
	return latest, nil
}

// newProvider returns the goose provider of the embedded migrations over db,
// with the options opts added.
func newProvider(db *sql.DB, log *slog.Logger, opts ...goose.ProviderOption) (*goose.Provider, error) {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, err
	}
	return goose.NewProvider(goose.DialectPostgres, db, sub, append([]goose.ProviderOption{
		goose.WithTableName(versionTable),
		goose.WithDisableGlobalRegistry(true),
		goose.WithSlog(log),
	}, opts...)...)
}

// migrate applies every pending migration under an advisory lock of the
// schema, and returns the new status.
func migrate(ctx context.Context, pool *pgxpool.Pool, schema string, log *slog.Logger) (Status, error) {
	h := fnv.New64a()
	h.Write([]byte("sluice rules migrations " + schema))
	locker, err := lock.NewPostgresSessionLocker(
		lock.WithLockID(int64(h.Sum64())),
		lock.WithLockTimeout(1, 600), // wait up to 10 minutes for another migrator
	)
	if err != nil {
		return Status{}, fmt.Errorf("postgres: migrate: %w", err)
	}
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	p, err := newProvider(db, log, goose.WithSessionLocker(locker))
	if err != nil {
		return Status{}, fmt.Errorf("postgres: migrate: %w", err)
	}
	results, err := p.Up(ctx)
	if err != nil {
		return Status{}, wrap("migrate", err)
	}
	for _, res := range results {
		log.Info("applied rules migration", "schema", schema, "version", res.Source.Version, "file", res.Source.Path, "duration", res.Duration)
	}
	return status(ctx, pool)
}

// currentVersion returns the highest applied schema version in the current
// schema (the first existing one on the search_path), 0 when it has none.
func currentVersion(ctx context.Context, pool *pgxpool.Pool) (int64, error) {
	var schema *string
	var exists bool
	err := pool.QueryRow(ctx, `SELECT current_schema(),
		to_regclass(format('%I.%I', current_schema(), $1::text)) IS NOT NULL`, versionTable).Scan(&schema, &exists)
	if err != nil {
		return 0, wrap("read schema version", err)
	}
	if schema == nil || !exists {
		return 0, nil
	}
	var v int64
	table := pgx.Identifier{*schema, versionTable}.Sanitize()
	err = pool.QueryRow(ctx, `SELECT coalesce(max(version_id), 0) FROM `+table+` WHERE is_applied`).Scan(&v)
	if err != nil {
		return 0, wrap("read schema version", err)
	}
	return v, nil
}

func status(ctx context.Context, pool *pgxpool.Pool) (Status, error) {
	latest, err := latestVersion()
	if err != nil {
		return Status{}, err
	}
	cur, err := currentVersion(ctx, pool)
	if err != nil {
		return Status{}, err
	}
	return Status{Current: cur, Latest: latest}, nil
}

// checkSchema fails with rules.ErrNotMigrated unless the schema is at least
// the newest this program knows.
func checkSchema(ctx context.Context, pool *pgxpool.Pool, schema string) error {
	st, err := status(ctx, pool)
	if err != nil {
		return err
	}
	if st.Pending() {
		return fmt.Errorf("postgres: schema %q: rules schema version %d, this program needs %d: %w; run `sluice migrate`",
			schema, st.Current, st.Latest, rules.ErrNotMigrated)
	}
	return nil
}
