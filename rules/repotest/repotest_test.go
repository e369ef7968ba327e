package repotest

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestRunPattern(t *testing.T) {
	for name, want := range map[string]string{
		"TestCrash":         "^TestCrash$",
		"TestX/sub_test(1)": `^TestX$/^sub_test\(1\)$`,
		"TestA.B/c+d/e[f]":  `^TestA\.B$/^c\+d$/^e\[f\]$`,
	} {
		if got := runPattern(name); got != want {
			t.Errorf("runPattern(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestWithSearchPath(t *testing.T) {
	got, err := withSearchPath("postgres://root@127.0.0.1:5432/test?sslmode=disable", "s1")
	if err != nil || !strings.Contains(got, "search_path=s1") || !strings.Contains(got, "sslmode=disable") {
		t.Errorf("URL: %q, %v", got, err)
	}
	got, err = withSearchPath("host=127.0.0.1 dbname=test", "s1")
	if err != nil || got != "host=127.0.0.1 dbname=test search_path=s1" {
		t.Errorf("keyword/value: %q, %v", got, err)
	}
}

// TestPostgresURL checks that the schema exists during the test, is the
// connection's current schema, and is dropped afterwards.
func TestPostgresURL(t *testing.T) {
	var url, schema string
	t.Run("inner", func(t *testing.T) {
		url = PostgresURL(t)
		conn, err := pgx.Connect(t.Context(), url)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.Background())
		if err := conn.QueryRow(t.Context(), "SELECT current_schema()").Scan(&schema); err != nil {
			t.Fatalf("current_schema: %v", err)
		}
		if !strings.HasPrefix(schema, schemaPrefix) {
			t.Errorf("schema %q", schema)
		}
	})
	if schema == "" {
		t.Skip("PostgreSQL unavailable")
	}
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var exists bool
	if err := conn.QueryRow(t.Context(), "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", schema).Scan(&exists); err != nil {
		t.Fatal(err)
	}
	if exists {
		t.Errorf("schema %s left behind after its test ended", schema)
	}
}
