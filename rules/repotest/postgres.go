package repotest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice/internal/servicetest"
)

// Environment variables the helpers read.
const (
	// EnvPostgresURL is the PostgreSQL the tests use; DefaultPostgresURL
	// when unset.
	EnvPostgresURL = "SLUICE_POSTGRES_URL"
)

// DefaultPostgresURL is the PostgreSQL used when SLUICE_POSTGRES_URL is unset.
const DefaultPostgresURL = "postgres://root@127.0.0.1:5432/test?sslmode=disable"

// schemaPrefix starts the name of every schema PostgresURL creates.
const schemaPrefix = "sluice_test_"

// staleSchemaAge is how old a test schema must be for PostgresURL to drop
// it as left behind by a test process that was killed.
const staleSchemaAge = 6 * time.Hour

// PostgresURL returns the URL of the test PostgreSQL (SLUICE_POSTGRES_URL,
// default DefaultPostgresURL) with search_path set to a new, empty schema of
// the test's own, dropped (with everything in it) when the test ends. Tests
// sharing one PostgreSQL thus never see each other's tables. When
// PostgreSQL does not answer, the test is skipped (failed with
// SLUICE_REQUIRE_SERVICES=1).
func PostgresURL(t testing.TB) string {
	t.Helper()
	base := os.Getenv(EnvPostgresURL)
	if base == "" {
		base = DefaultPostgresURL
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := connect(ctx, base)
	if err != nil {
		servicetest.Unavailable(t, "PostgreSQL did not answer: %v", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))

	dropStaleSchemas(ctx, t, conn)
	schema := newSchemaName()
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()); err != nil {
		t.Fatalf("create test schema %s: %v", schema, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := connect(ctx, base)
		if err != nil {
			t.Errorf("drop test schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
			t.Errorf("drop test schema %s: %v", schema, err)
		}
	})
	u, err := withSearchPath(base, schema)
	if err != nil {
		t.Fatalf("%s: %v", EnvPostgresURL, err)
	}
	return u
}

func connect(ctx context.Context, url string) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", EnvPostgresURL, err)
	}
	cfg.ConnectTimeout = 5 * time.Second
	return pgx.ConnectConfig(ctx, cfg)
}

// newSchemaName returns sluice_test_<unix seconds>_<random>: unique, and
// datable by dropStaleSchemas.
func newSchemaName() string {
	var b [6]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return schemaPrefix + strconv.FormatInt(time.Now().Unix(), 10) + "_" + hex.EncodeToString(b[:])
}

// dropStaleSchemas drops test schemas older than staleSchemaAge, left by
// test processes killed before their cleanup ran. Failures are ignored:
// another process may be dropping the same schema.
func dropStaleSchemas(ctx context.Context, t testing.TB, conn *pgx.Conn) {
	rows, err := conn.Query(ctx, `SELECT nspname FROM pg_namespace WHERE starts_with(nspname, $1)`, schemaPrefix)
	if err != nil {
		return
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return
	}
	for _, name := range names {
		stamp, _, _ := strings.Cut(strings.TrimPrefix(name, schemaPrefix), "_")
		sec, err := strconv.ParseInt(stamp, 10, 64)
		if err != nil || time.Since(time.Unix(sec, 0)) < staleSchemaAge {
			continue
		}
		if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{name}.Sanitize()+" CASCADE"); err == nil {
			t.Logf("dropped stale test schema %s", name)
		}
	}
}

// withSearchPath adds search_path=schema to a PostgreSQL URL or keyword/value
// connection string.
func withSearchPath(base, schema string) (string, error) {
	if strings.HasPrefix(base, "postgres://") || strings.HasPrefix(base, "postgresql://") {
		u, err := url.Parse(base)
		if err != nil {
			return "", err
		}
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		return u.String(), nil
	}
	return base + " search_path=" + schema, nil
}
