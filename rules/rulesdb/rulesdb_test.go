package rulesdb_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/sluicehq/sluice/rules"
	"github.com/sluicehq/sluice/rules/repotest"
	"github.com/sluicehq/sluice/rules/rulesdb"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestParse(t *testing.T) {
	cases := []struct {
		dsn, backend, target string
	}{
		{"sluice.db", rulesdb.BackendSQLite, "sluice.db"},
		{"/var/lib/sluice/rules.db", rulesdb.BackendSQLite, "/var/lib/sluice/rules.db"},
		{"sqlite:rules.db", rulesdb.BackendSQLite, "rules.db"},
		{"sqlite:/abs/rules.db", rulesdb.BackendSQLite, "/abs/rules.db"},
		{"sqlite:///abs/rules.db", rulesdb.BackendSQLite, "/abs/rules.db"},
		{"sqlite://rel/rules.db", rulesdb.BackendSQLite, "rel/rules.db"},
		{"sqlite:a=b.db", rulesdb.BackendSQLite, "a=b.db"},
		{"postgres://u:p@h:5432/db?sslmode=disable", rulesdb.BackendPostgres, "postgres://u:p@h:5432/db?sslmode=disable"},
		{"postgresql://h/db", rulesdb.BackendPostgres, "postgresql://h/db"},
	}
	for _, c := range cases {
		b, target, err := rulesdb.Parse(c.dsn)
		if err != nil || b != c.backend || target != c.target {
			t.Errorf("Parse(%q) = %q, %q, %v; want %q, %q", c.dsn, b, target, err, c.backend, c.target)
		}
	}
	for _, bad := range []string{"", "  ", "mysql://h/db", "redis://x", "sqlite:", "sqlite://", "host=db dbname=sluice"} {
		if _, _, err := rulesdb.Parse(bad); !errors.Is(err, rulesdb.ErrDSN) {
			t.Errorf("Parse(%q): %v, want ErrDSN", bad, err)
		}
	}
}

func testBackend(t *testing.T, dsn, backend string) {
	// Not migrated yet: Open refuses, telling what to do.
	_, err := rulesdb.Open(t.Context(), dsn, rulesdb.Options{})
	if !errors.Is(err, rules.ErrNotMigrated) || !strings.Contains(err.Error(), "sluice migrate") {
		t.Fatalf("Open(unmigrated): %v, want ErrNotMigrated telling to run sluice migrate", err)
	}
	st, err := rulesdb.SchemaStatus(t.Context(), dsn)
	if err != nil || st.Backend != backend || st.Current != 0 || !st.Pending() {
		t.Fatalf("SchemaStatus(unmigrated) = %+v, %v", st, err)
	}
	for range 2 {
		if err := rulesdb.Migrate(t.Context(), dsn); err != nil {
			t.Fatalf("Migrate: %v", err)
		}
	}
	st, err = rulesdb.SchemaStatus(t.Context(), dsn)
	if err != nil || st.Pending() || st.Current < 1 {
		t.Fatalf("SchemaStatus(migrated) = %+v, %v", st, err)
	}
	r, err := rulesdb.Open(t.Context(), dsn, rulesdb.Options{})
	if err != nil {
		t.Fatalf("Open(migrated): %v", err)
	}
	defer r.Close()
	if _, ok := r.(rules.Watcher); !ok {
		t.Errorf("%T is not a rules.Watcher", r)
	}
	created, err := r.Create(t.Context(), rules.Rule{KeyType: rules.KeyGlobal, KeyValue: "*", Limit: 10, WindowSeconds: 1, Enabled: true}, "t")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Get(t.Context(), created.ID); err != nil {
		t.Fatal(err)
	}
}

func TestSQLite(t *testing.T) {
	dir := t.TempDir()
	t.Run("path", func(t *testing.T) { testBackend(t, filepath.Join(dir, "a.db"), rulesdb.BackendSQLite) })
	t.Run("sqlite:", func(t *testing.T) { testBackend(t, "sqlite:"+filepath.Join(dir, "b.db"), rulesdb.BackendSQLite) })
	t.Run("OpenMigrate", func(t *testing.T) {
		path := filepath.Join(dir, "c.db")
		r, err := rulesdb.Open(t.Context(), path, rulesdb.Options{Migrate: true})
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		if _, err := os.Stat(path); err != nil {
			t.Error(err)
		}
	})
}

func TestPostgres(t *testing.T) {
	testBackend(t, repotest.PostgresURL(t), rulesdb.BackendPostgres)
}
