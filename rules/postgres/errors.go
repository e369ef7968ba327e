package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sluicehq/sluice/rules"
)

// wrap describes a failed operation, marking unique violations with
// rules.ErrConflict and failures to reach PostgreSQL (connection errors,
// timeouts, a server shutting down or out of connections) with
// rules.ErrUnavailable. Errors that already carry a rules sentinel pass
// through with the operation's name.
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	var pgErr *pgconn.PgError
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	switch {
	case errors.Is(err, rules.ErrInvalid), errors.Is(err, rules.ErrNotFound),
		errors.Is(err, rules.ErrConflict), errors.Is(err, rules.ErrUnavailable),
		errors.Is(err, rules.ErrNotMigrated), errors.Is(err, context.Canceled):
		return fmt.Errorf("postgres: %s: %w", op, err)
	case errors.As(err, &pgErr):
		switch {
		case pgErr.Code == "23505": // unique_violation
			return fmt.Errorf("postgres: %s: %w: %w", op, rules.ErrConflict, err)
		case unavailableCode(pgErr.Code):
			return fmt.Errorf("postgres: %s: %w: %w", op, rules.ErrUnavailable, err)
		}
		return fmt.Errorf("postgres: %s: %w", op, err)
	case errors.Is(err, context.DeadlineExceeded), pgconn.Timeout(err),
		errors.As(err, &connectErr), errors.As(err, &netErr),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		pgconn.SafeToRetry(err), strings.Contains(err.Error(), "conn closed"):
		return fmt.Errorf("postgres: %s: %w: %w", op, rules.ErrUnavailable, err)
	}
	return fmt.Errorf("postgres: %s: %w", op, err)
}

// unavailableCode reports whether a SQLSTATE means the server cannot serve
// now: connection exceptions (08), insufficient resources (53), operator
// intervention such as a shutdown (57P0x), or a read-only standby (25006).
func unavailableCode(code string) bool {
	return strings.HasPrefix(code, "08") || strings.HasPrefix(code, "53") ||
		strings.HasPrefix(code, "57P") || code == "25006"
}

// fatalCode reports whether a SQLSTATE means retrying cannot help: rejected
// credentials (28) or a database that does not exist (3D000).
func fatalCode(code string) bool {
	return strings.HasPrefix(code, "28") || code == "3D000"
}
