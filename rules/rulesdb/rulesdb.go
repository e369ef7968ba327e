// Package rulesdb opens the rules repository a DSN names: a SQLite file
// (the embedded default) or a PostgreSQL database. It is what `sluice
// serve`, `sluice rules` and `sluice migrate` call, so that every command
// accepts the same DSN:
//
//	sluice.db                         a SQLite file (created by Migrate)
//	sqlite:/var/lib/sluice/rules.db   the same, explicitly
//	sqlite:///var/lib/sluice/rules.db the same, URL style
//	postgres://user:pass@host:5432/db?sslmode=require&search_path=sluice
//	postgresql://…                    the same
package rulesdb

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"github.com/sluicehq/sluice/rules"
	"github.com/sluicehq/sluice/rules/postgres"
	"github.com/sluicehq/sluice/rules/sqlite"
)

// The backends a DSN can name.
const (
	BackendSQLite   = "sqlite"
	BackendPostgres = "postgres"
)

// Options configures Open. The zero value opens an already migrated
// database.
type Options struct {
	// Migrate creates or upgrades the schema on Open (creating a SQLite
	// file that does not exist). Without it, Open of a database whose
	// schema is older than this program's fails with rules.ErrNotMigrated
	// and a message telling the user to run `sluice migrate`.
	Migrate bool
	// Logger receives migration progress and, for PostgreSQL, Watch's
	// connection failures; nil discards.
	Logger *slog.Logger
	// Now is the clock for timestamps; nil means time.Now.
	Now func() time.Time
}

// Status is the schema version of a database and the newest one this
// program knows.
type Status struct {
	// Backend is BackendSQLite or BackendPostgres.
	Backend string
	// Current is the version the database is at; 0 when it has no schema.
	Current int64
	// Latest is the newest version this program knows.
	Latest int64
}

// Pending reports whether the database needs `sluice migrate`.
func (s Status) Pending() bool { return s.Current < s.Latest }

// Open opens the rules repository dsn names (see the package documentation
// for the forms accepted). The repository is a *sqlite.Repo or a
// *postgres.Repo; both are also rules.Watcher.
func Open(ctx context.Context, dsn string, opts Options) (rules.Repository, error) {
	backend, target, err := Parse(dsn)
	if err != nil {
		return nil, err
	}
	switch backend {
	case BackendPostgres:
		r, err := postgres.Open(ctx, target, postgres.Options{Migrate: opts.Migrate, Logger: opts.Logger, Now: opts.Now})
		if err != nil {
			return nil, err
		}
		return r, nil
	default:
		r, err := sqlite.Open(ctx, target, sqlite.Options{Migrate: opts.Migrate, Logger: opts.Logger, Now: opts.Now})
		if err != nil {
			return nil, err
		}
		return r, nil
	}
}

// Migrate creates or upgrades the rules schema of the database dsn names
// (creating a SQLite file that does not exist). It is idempotent; use
// SchemaStatus to report the version reached.
func Migrate(ctx context.Context, dsn string) error {
	_, err := MigrateStatus(ctx, dsn)
	return err
}

// MigrateStatus is Migrate, returning the database's status afterwards.
func MigrateStatus(ctx context.Context, dsn string) (Status, error) {
	backend, target, err := Parse(dsn)
	if err != nil {
		return Status{}, err
	}
	if backend == BackendPostgres {
		st, err := postgres.Migrate(ctx, target)
		return Status{Backend: backend, Current: st.Current, Latest: st.Latest}, err
	}
	st, err := sqlite.Migrate(ctx, target)
	return Status{Backend: backend, Current: st.Current, Latest: st.Latest}, err
}

// SchemaStatus reports the schema version of the database dsn names without
// changing it (nor creating a SQLite file).
func SchemaStatus(ctx context.Context, dsn string) (Status, error) {
	backend, target, err := Parse(dsn)
	if err != nil {
		return Status{}, err
	}
	if backend == BackendPostgres {
		st, err := postgres.SchemaStatus(ctx, target)
		return Status{Backend: backend, Current: st.Current, Latest: st.Latest}, err
	}
	st, err := sqlite.SchemaStatus(ctx, target)
	return Status{Backend: backend, Current: st.Current, Latest: st.Latest}, err
}

// ErrDSN is wrapped by the errors of Parse.
var ErrDSN = errors.New("invalid rules database DSN")

// keywordDSN matches the start of a PostgreSQL keyword/value string such as
// "host=db dbname=sluice", which would otherwise be taken for a file name.
var keywordDSN = regexp.MustCompile(`^\s*[a-z_]+\s*=`)

// Parse returns the backend a DSN names (BackendSQLite or BackendPostgres)
// and what to open: the file path, or the PostgreSQL URL unchanged.
func Parse(dsn string) (backend, target string, err error) {
	const accepted = `accepted: a file path such as sluice.db, sqlite:<path>, or postgres://user:pass@host:5432/db?search_path=<schema>`
	switch {
	case strings.TrimSpace(dsn) == "":
		return "", "", fmt.Errorf("%w: empty; %s", ErrDSN, accepted)
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		return BackendPostgres, dsn, nil
	case strings.HasPrefix(dsn, "sqlite:"):
		path := strings.TrimPrefix(dsn, "sqlite:")
		path = strings.TrimPrefix(path, "//") // sqlite:///abs/path and sqlite://rel/path
		if path == "" {
			return "", "", fmt.Errorf("%w: %q names no file; %s", ErrDSN, dsn, accepted)
		}
		return BackendSQLite, path, nil
	case strings.Contains(dsn, "://"):
		scheme, _, _ := strings.Cut(dsn, "://")
		return "", "", fmt.Errorf("%w: unsupported scheme %q; %s", ErrDSN, scheme, accepted)
	case keywordDSN.MatchString(dsn):
		return "", "", fmt.Errorf("%w: looks like a PostgreSQL keyword/value string; write it as a postgres:// URL (or prefix a file name with sqlite:); %s", ErrDSN, accepted)
	}
	return BackendSQLite, dsn, nil
}
