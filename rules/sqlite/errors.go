package sqlite

import (
	"context"
	"errors"
	"fmt"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/sluicehq/sluice/rules"
)

// wrap describes a failed operation, marking constraint violations with
// rules.ErrConflict and failures of the file or its locks with
// rules.ErrUnavailable. Errors that already carry a rules sentinel (such as
// validation errors) pass through with the operation's name.
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	var se *sqlite.Error
	switch {
	case errors.Is(err, rules.ErrInvalid), errors.Is(err, rules.ErrNotFound),
		errors.Is(err, rules.ErrConflict), errors.Is(err, rules.ErrUnavailable),
		errors.Is(err, context.Canceled):
		return fmt.Errorf("sqlite: %s: %w", op, err)
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("sqlite: %s: %w: %w", op, rules.ErrUnavailable, err)
	case errors.As(err, &se):
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return fmt.Errorf("sqlite: %s: %w: %w", op, rules.ErrConflict, err)
		}
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_FULL,
			sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_NOTADB,
			sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_PROTOCOL, sqlite3.SQLITE_PERM:
			return fmt.Errorf("sqlite: %s: %w: %w", op, rules.ErrUnavailable, err)
		}
	case err.Error() == "sql: database is closed":
		return fmt.Errorf("sqlite: %s: %w: %w", op, rules.ErrUnavailable, err)
	}
	return fmt.Errorf("sqlite: %s: %w", op, err)
}
