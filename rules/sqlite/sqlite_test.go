package sqlite_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sluicehq/sluice/rules"
	"github.com/sluicehq/sluice/rules/repotest"
	"github.com/sluicehq/sluice/rules/sqlite"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func openPath(t *testing.T, path string, opts sqlite.Options) *sqlite.Repo {
	t.Helper()
	r, err := sqlite.Open(t.Context(), path, opts)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	return r
}

func TestRepository(t *testing.T) {
	repotest.Run(t, func(t *testing.T) rules.Repository {
		return openPath(t, filepath.Join(t.TempDir(), "rules.db"), sqlite.Options{Migrate: true, PollInterval: 50 * time.Millisecond})
	})
}

func TestReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sluice.db")
	repotest.RunReopen(t, func(t *testing.T) rules.Repository {
		return openPath(t, path, sqlite.Options{Migrate: true})
	})
}

func TestCrash(t *testing.T) {
	repotest.RunCrash(t,
		func(t *testing.T) string { return filepath.Join(t.TempDir(), "crash.db") },
		func(t *testing.T, path string) rules.Repository {
			return openPath(t, path, sqlite.Options{Migrate: true})
		})
}

func TestOpenUnmigrated(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.db")
	_, err := sqlite.Open(t.Context(), missing, sqlite.Options{})
	if !errors.Is(err, rules.ErrNotMigrated) || !strings.Contains(err.Error(), "sluice migrate") {
		t.Errorf("Open of a missing file without Migrate: %v, want ErrNotMigrated telling to run sluice migrate", err)
	}
	if _, statErr := os.Stat(missing); !errors.Is(statErr, os.ErrNotExist) {
		t.Errorf("Open without Migrate created %s", missing)
	}

	empty := filepath.Join(dir, "empty.db")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = sqlite.Open(t.Context(), empty, sqlite.Options{})
	if !errors.Is(err, rules.ErrNotMigrated) || !strings.Contains(err.Error(), "sluice migrate") {
		t.Errorf("Open of an empty file without Migrate: %v, want ErrNotMigrated telling to run sluice migrate", err)
	}
	st, err := sqlite.SchemaStatus(t.Context(), empty)
	if err != nil || st.Current != 0 || st.Latest < 1 || !st.Pending() {
		t.Errorf("SchemaStatus(empty) = %+v, %v", st, err)
	}
}

func TestMigrate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub dir?#%", "x.db")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	for range 2 { // idempotent
		st, err := sqlite.Migrate(t.Context(), path)
		if err != nil {
			t.Fatalf("Migrate: %v", err)
		}
		if st.Current != st.Latest || st.Pending() {
			t.Fatalf("after Migrate: %+v", st)
		}
	}
	r := openPath(t, path, sqlite.Options{})
	defer r.Close()
	if err := r.Ping(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("database not at the path given (special characters escaped?): %v", err)
	}
}

// TestPragmas checks the durability settings: WAL, synchronous=FULL,
// foreign keys, busy timeout.
func TestPragmas(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.db")
	r := openPath(t, path, sqlite.Options{Migrate: true, BusyTimeout: 1234 * time.Millisecond})
	defer r.Close()
	got := sqlite.Pragmas(t, r)
	want := map[string]string{"journal_mode": "wal", "synchronous": "2", "foreign_keys": "1", "busy_timeout": "1234"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("pragma %s = %q, want %q", k, got[k], v)
		}
	}
}

// TestTwoProcesses opens the same file twice (as `sluice serve` and
// `sluice rules` would) and checks that a write by one is seen by the other,
// and that Watch reports it.
func TestTwoProcesses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "shared.db")
	a := openPath(t, path, sqlite.Options{Migrate: true, PollInterval: 20 * time.Millisecond})
	defer a.Close()
	b := openPath(t, path, sqlite.Options{})
	defer b.Close()

	ctx, cancel := context.WithCancel(t.Context())
	calls := make(chan struct{}, 10)
	done := make(chan error)
	go func() { done <- a.Watch(ctx, func() { calls <- struct{}{} }) }()
	<-calls // the first call, when watching starts

	rule, err := b.Create(t.Context(), rules.Rule{KeyType: rules.KeyGlobal, KeyValue: "*", Limit: 1, WindowSeconds: 1, Enabled: true}, "cli")
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-calls:
	case <-time.After(5 * time.Second):
		t.Error("Watch did not report another connection's write")
	}
	if _, err := a.Get(t.Context(), rule.ID); err != nil {
		t.Errorf("write by the other connection not visible: %v", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Watch: %v", err)
	}
}

// TestUpgradeFromVersion1 migrates a database left at version 1, before
// rules had a time zone (see repotest.RunUpgradeFromVersion1).
func TestUpgradeFromVersion1(t *testing.T) {
	repotest.RunUpgradeFromVersion1(t, repotest.Upgrade{
		AtVersion1: func(t *testing.T, insert string) string {
			path := filepath.Join(t.TempDir(), "v1.db")
			sqlite.MigrateTo(t, path, 1, insert)
			return path
		},
		Status: func(ctx context.Context, path string) (int64, int64, error) {
			st, err := sqlite.SchemaStatus(ctx, path)
			return st.Current, st.Latest, err
		},
		Open: func(ctx context.Context, path string) (rules.Repository, error) {
			return sqlite.Open(ctx, path, sqlite.Options{})
		},
		Migrate: func(ctx context.Context, path string) error {
			_, err := sqlite.Migrate(ctx, path)
			return err
		},
	})
}
