package sqlite

import (
	"database/sql"
	"testing"
)

// Pragmas returns the writer connection's durability pragmas.
func Pragmas(t *testing.T, r *Repo) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, p := range []string{"journal_mode", "synchronous", "foreign_keys", "busy_timeout"} {
		var v string
		if err := r.writer.QueryRowContext(t.Context(), "PRAGMA "+p).Scan(&v); err != nil {
			t.Fatalf("PRAGMA %s: %v", p, err)
		}
		out[p] = v
	}
	return out
}

// MigrateTo creates the database at path with the schema of the given
// version, as an older program would have left it, and runs the SQL
// statements stmts in it.
func MigrateTo(t *testing.T, path string, version int64, stmts ...string) {
	t.Helper()
	db, err := sql.Open("sqlite", dsn(path, DefaultBusyTimeout, false, true))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	p, err := newProvider(db, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(t.Context(), version); err != nil {
		t.Fatalf("migrate to version %d: %v", version, err)
	}
	for _, s := range stmts {
		if _, err := db.ExecContext(t.Context(), s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}
