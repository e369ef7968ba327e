package postgres_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/goleak"

	"github.com/sluicehq/sluice/rules"
	"github.com/sluicehq/sluice/rules/postgres"
	"github.com/sluicehq/sluice/rules/repotest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func open(t *testing.T, url string, opts postgres.Options) *postgres.Repo {
	t.Helper()
	r, err := postgres.Open(t.Context(), url, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return r
}

func TestRepository(t *testing.T) {
	repotest.Run(t, func(t *testing.T) rules.Repository {
		return open(t, repotest.PostgresURL(t), postgres.Options{Migrate: true})
	})
}

func TestReopen(t *testing.T) {
	url := repotest.PostgresURL(t)
	repotest.RunReopen(t, func(t *testing.T) rules.Repository {
		return open(t, url, postgres.Options{Migrate: true})
	})
}

func TestCrash(t *testing.T) {
	repotest.RunCrash(t, func(t *testing.T) string { return repotest.PostgresURL(t) },
		func(t *testing.T, url string) rules.Repository { return open(t, url, postgres.Options{Migrate: true}) })
}

func TestOpenUnmigrated(t *testing.T) {
	url := repotest.PostgresURL(t)
	_, err := postgres.Open(t.Context(), url, postgres.Options{})
	if !errors.Is(err, rules.ErrNotMigrated) || !strings.Contains(err.Error(), "sluice migrate") {
		t.Errorf("Open of an empty schema without Migrate: %v, want ErrNotMigrated telling to run sluice migrate", err)
	}
	st, err := postgres.SchemaStatus(t.Context(), url)
	if err != nil || st.Current != 0 || !st.Pending() {
		t.Errorf("SchemaStatus(empty) = %+v, %v", st, err)
	}
}

func TestMigrateConcurrently(t *testing.T) {
	url := repotest.PostgresURL(t)
	errs := make(chan error, 3)
	for range 3 {
		go func() {
			_, err := postgres.Migrate(t.Context(), url)
			errs <- err
		}()
	}
	for range 3 {
		if err := <-errs; err != nil {
			t.Errorf("concurrent Migrate: %v", err)
		}
	}
	st, err := postgres.Migrate(t.Context(), url) // idempotent
	if err != nil || st.Pending() || st.Current != st.Latest {
		t.Fatalf("Migrate again: %+v, %v", st, err)
	}
	r := open(t, url, postgres.Options{})
	defer r.Close()
	if err := r.Ping(t.Context()); err != nil {
		t.Fatal(err)
	}
}

func TestUnavailable(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	_, err := postgres.Open(ctx, "postgres://nobody@127.0.0.1:1/none?sslmode=disable&connect_timeout=2", postgres.Options{})
	if !errors.Is(err, rules.ErrUnavailable) {
		t.Errorf("Open of a closed port: %v, want ErrUnavailable", err)
	}
}

// TestSchemasIsolated checks that two schemas in one database neither share
// rules nor notifications.
func TestSchemasIsolated(t *testing.T) {
	a := open(t, repotest.PostgresURL(t), postgres.Options{Migrate: true})
	defer a.Close()
	b := open(t, repotest.PostgresURL(t), postgres.Options{Migrate: true})
	defer b.Close()
	if a.Schema() == b.Schema() {
		t.Fatalf("both in schema %s", a.Schema())
	}
	ctx, cancel := context.WithCancel(t.Context())
	calls := make(chan struct{}, 10)
	done := make(chan error)
	go func() { done <- b.Watch(ctx, func() { calls <- struct{}{} }) }()
	<-calls // watching
	if _, err := a.Create(t.Context(), rules.Rule{KeyType: rules.KeyGlobal, KeyValue: "*", Limit: 1, WindowSeconds: 1}, "x"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-calls:
		t.Error("a write in another schema notified this one")
	case <-time.After(300 * time.Millisecond):
	}
	if page, err := b.List(t.Context(), rules.Filter{}); err != nil || len(page.Rules) != 0 {
		t.Errorf("other schema sees %d rules, %v", len(page.Rules), err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Error(err)
	}
}

// TestMigrateCreatesSchema checks that migrating creates the search_path's
// schema when it does not exist yet.
func TestMigrateCreatesSchema(t *testing.T) {
	url := repotest.PostgresURL(t) // dropped again when the test ends
	r := open(t, url, postgres.Options{Migrate: true})
	schema := r.Schema()
	r.Close()
	admin, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	if _, err := admin.Exec(t.Context(), "DROP SCHEMA "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
		t.Fatal(err)
	}
	if _, err := postgres.Open(t.Context(), url, postgres.Options{}); err == nil {
		t.Fatal("Open without Migrate succeeded on a missing schema")
	}
	st, err := postgres.Migrate(t.Context(), url)
	if err != nil || st.Pending() {
		t.Fatalf("Migrate of a missing schema: %+v, %v", st, err)
	}
	r = open(t, url, postgres.Options{})
	defer r.Close()
	if r.Schema() != schema {
		t.Errorf("schema %q, want %q", r.Schema(), schema)
	}
}

// TestUpgradeFromVersion1 migrates a schema left at version 1, before rules
// had a time zone (see repotest.RunUpgradeFromVersion1).
func TestUpgradeFromVersion1(t *testing.T) {
	repotest.RunUpgradeFromVersion1(t, repotest.Upgrade{
		AtVersion1: func(t *testing.T, insert string) string {
			url := repotest.PostgresURL(t)
			postgres.MigrateTo(t, url, 1, insert)
			return url
		},
		Status: func(ctx context.Context, url string) (int64, int64, error) {
			st, err := postgres.SchemaStatus(ctx, url)
			return st.Current, st.Latest, err
		},
		Open: func(ctx context.Context, url string) (rules.Repository, error) {
			return postgres.Open(ctx, url, postgres.Options{})
		},
		Migrate: func(ctx context.Context, url string) error {
			_, err := postgres.Migrate(ctx, url)
			return err
		},
	})
}
