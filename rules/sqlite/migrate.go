package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"

	"github.com/pressly/goose/v3"

	"github.com/sluicehq/sluice/rules"
)

// migrations holds the schema, one goose SQL file per version.
//
//go:embed migrations/*.sql
var migrations embed.FS

// versionTable is goose's table of applied versions. It is named for the
// rules so that other parts of Sluice can keep their own in the same file.
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

// Migrate creates or upgrades the schema of the database at path (creating
// the file if needed) and returns its status afterwards. It is idempotent.
func Migrate(ctx context.Context, path string) (Status, error) {
	r, err := Open(ctx, path, Options{Migrate: true})
	if err != nil {
		return Status{}, err
	}
	defer r.Close()
	return status(ctx, r.writer)
}

// SchemaStatus reports the schema version of the database at path without
// changing (or creating) it.
func SchemaStatus(ctx context.Context, path string) (Status, error) {
	latest, err := latestVersion()
	if err != nil {
		return Status{}, err
	}
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return Status{Latest: latest}, nil
	}
	db, err := sql.Open("sqlite", dsn(path, DefaultBusyTimeout, true, false))
	if err != nil {
		return Status{}, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	defer db.Close()
	return status(ctx, db)
}

func newProvider(db *sql.DB, log *slog.Logger) (*goose.Provider, error) {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return goose.NewProvider(goose.DialectSQLite3, db, sub,
		goose.WithTableName(versionTable),
		goose.WithDisableGlobalRegistry(true),
		goose.WithSlog(log),
	)
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
			return 0, fmt.Errorf("sqlite: migration %s: %w", name, err)
		}
		latest = max(latest, v)
	}
	return latest, nil
}

// migrate applies every pending migration and returns the new status.
func migrate(ctx context.Context, db *sql.DB, log *slog.Logger) (Status, error) {
	p, err := newProvider(db, log)
	if err != nil {
		return Status{}, err
	}
	results, err := p.Up(ctx)
	if err != nil {
		return Status{}, wrap("migrate", err)
	}
	for _, res := range results {
		log.Info("applied rules migration", "version", res.Source.Version, "file", res.Source.Path, "duration", res.Duration)
	}
	return status(ctx, db)
}

// currentVersion returns the highest applied schema version, 0 when the
// database has none.
func currentVersion(ctx context.Context, db *sql.DB) (int64, error) {
	var n int
	err := db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?`, versionTable).Scan(&n)
	if err != nil {
		return 0, wrap("read schema version", err)
	}
	if n == 0 {
		return 0, nil
	}
	var v int64
	err = db.QueryRowContext(ctx, `SELECT coalesce(max(version_id), 0) FROM `+versionTable+` WHERE is_applied`).Scan(&v)
	if err != nil {
		return 0, wrap("read schema version", err)
	}
	return v, nil
}

func status(ctx context.Context, db *sql.DB) (Status, error) {
	latest, err := latestVersion()
	if err != nil {
		return Status{}, err
	}
	cur, err := currentVersion(ctx, db)
	if err != nil {
		return Status{}, err
	}
	return Status{Current: cur, Latest: latest}, nil
}

// checkSchema fails with rules.ErrNotMigrated unless the database's schema
// is at least the newest this program knows.
func checkSchema(ctx context.Context, db *sql.DB, path string) error {
	st, err := status(ctx, db)
	if err != nil {
		return err
	}
	if st.Pending() {
		return fmt.Errorf("sqlite: %s: schema version %d, this program needs %d: %w; run `sluice migrate`",
			path, st.Current, st.Latest, rules.ErrNotMigrated)
	}
	return nil
}
