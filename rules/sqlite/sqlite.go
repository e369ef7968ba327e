// Package sqlite stores rules in a SQLite file: the embedded default of
// Sluice, with no server to run. It uses the pure-Go driver modernc.org/sqlite
// (no cgo).
//
// The file is opened in WAL mode with synchronous=FULL, so a write that
// returned is on disk and survives a crash of the process or the machine;
// foreign keys are on and a busy timeout waits for other processes' locks.
// Writes go through a single connection and BEGIN IMMEDIATE transactions, so
// concurrent writers in one process queue instead of failing with
// SQLITE_BUSY; reads use a separate pool of read-only connections and never
// wait for writes. Several processes may open the same file (`sluice serve`
// and `sluice rules`); Watch notices the others' writes by polling the
// file's data version.
//
// The schema is created and upgraded by the migrations embedded in this
// package (see Migrate); Open refuses a file whose schema is older unless
// Options.Migrate is set.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"time"

	_ "modernc.org/sqlite" // the "sqlite" database/sql driver

	"github.com/sluicehq/sluice/rules"
)

// Defaults of Options.
const (
	DefaultBusyTimeout  = 5 * time.Second
	DefaultPollInterval = time.Second
)

// Options configures Open. The zero value is usable.
type Options struct {
	// Migrate creates or upgrades the schema on Open. Without it, Open of a
	// file whose schema is older than this program's fails with
	// rules.ErrNotMigrated, and Open of a file that does not exist fails
	// instead of creating it.
	Migrate bool
	// BusyTimeout is how long a statement waits for another process's lock
	// on the file before failing; 0 means DefaultBusyTimeout.
	BusyTimeout time.Duration
	// PollInterval is how often Watch checks the file for changes made by
	// any connection; 0 means DefaultPollInterval.
	PollInterval time.Duration
	// Now is the clock for timestamps; nil means time.Now.
	Now func() time.Time
	// Logger receives migration progress; nil discards.
	Logger *slog.Logger
}

// Repo is a rules.Repository in a SQLite file. It is safe for concurrent
// use. It is also a rules.Watcher.
type Repo struct {
	path   string
	writer *sql.DB // one connection, BEGIN IMMEDIATE
	reader *sql.DB // read-only connections
	now    func() time.Time
	poll   time.Duration
	log    *slog.Logger
}

var (
	_ rules.Repository = (*Repo)(nil)
	_ rules.Watcher    = (*Repo)(nil)
)

// Open opens the SQLite database at path (a file name such as "sluice.db"),
// migrating it first when opts.Migrate is set. Close the Repo when done.
func Open(ctx context.Context, path string, opts Options) (*Repo, error) {
	if path == "" {
		return nil, errors.New("sqlite: empty database path")
	}
	if opts.BusyTimeout <= 0 {
		opts.BusyTimeout = DefaultBusyTimeout
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = DefaultPollInterval
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	r := &Repo{path: path, now: opts.Now, poll: opts.PollInterval, log: opts.Logger}
	if !opts.Migrate {
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("sqlite: %s does not exist: %w; run `sluice migrate` to create it", path, rules.ErrNotMigrated)
		}
	}

	writer, err := sql.Open("sqlite", dsn(path, opts.BusyTimeout, false, opts.Migrate))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	writer.SetMaxOpenConns(1)
	writer.SetMaxIdleConns(1)
	writer.SetConnMaxIdleTime(0)
	writer.SetConnMaxLifetime(0)
	r.writer = writer
	// The first connection applies the pragmas, WAL mode among them, before
	// any reader opens the file.
	if err := writer.PingContext(ctx); err != nil {
		writer.Close()
		return nil, wrap("open "+path, err)
	}
	if opts.Migrate {
		if _, err := migrate(ctx, writer, opts.Logger); err != nil {
			writer.Close()
			return nil, fmt.Errorf("sqlite: migrate %s: %w", path, err)
		}
	} else if err := checkSchema(ctx, writer, path); err != nil {
		writer.Close()
		return nil, err
	}

	reader, err := sql.Open("sqlite", dsn(path, opts.BusyTimeout, true, false))
	if err != nil {
		writer.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	n := max(4, runtime.GOMAXPROCS(0))
	reader.SetMaxOpenConns(n)
	reader.SetMaxIdleConns(n)
	r.reader = reader
	if err := reader.PingContext(ctx); err != nil {
		r.Close()
		return nil, wrap("open "+path, err)
	}
	return r, nil
}

// dsn returns the driver's data source name for path: a file: URI (so any
// file name works) with the connection's pragmas.
func dsn(path string, busy time.Duration, readOnly, create bool) string {
	q := url.Values{}
	q.Set("_busy_timeout", strconv.FormatInt(busy.Milliseconds(), 10))
	q.Set("_foreign_keys", "1")
	if readOnly {
		q.Set("_query_only", "1")
		q.Set("mode", "rw")
	} else {
		q.Set("_journal_mode", "WAL")
		q.Set("_synchronous", "FULL")
		q.Set("_txlock", "immediate")
		q.Set("mode", "rw")
		if create {
			q.Set("mode", "rwc")
		}
	}
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
}

// Ping checks that the database file can be read.
func (r *Repo) Ping(ctx context.Context) error {
	var one int
	if err := r.reader.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return wrap("ping", err)
	}
	return nil
}

// Close closes the database. A Watch in progress ends with an error.
func (r *Repo) Close() error {
	var errs []error
	if r.reader != nil {
		errs = append(errs, r.reader.Close())
	}
	errs = append(errs, r.writer.Close())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("sqlite: close: %w", err)
	}
	return nil
}
