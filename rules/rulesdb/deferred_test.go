package rulesdb_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/servicetest"
	"github.com/sluicehq/sluice/rules"
	"github.com/sluicehq/sluice/rules/repotest"
	"github.com/sluicehq/sluice/rules/rulesdb"
)

// TestDeferred: a PostgreSQL that does not answer at start is unavailable
// (the resolver's fallback applies, the admin API says 503) until it
// comes back; then the deferred repository opens it, tells its watcher at
// once, and serves the stored rules.
func TestDeferred(t *testing.T) {
	ctx := context.Background()
	real := repotest.PostgresURL(t)
	if err := rulesdb.Migrate(ctx, real); err != nil {
		t.Fatal(err)
	}
	repo, err := rulesdb.Open(ctx, real, rulesdb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	want, err := repo.Create(ctx, rules.Rule{KeyType: rules.KeyUserID, KeyValue: "alice", Limit: 5, WindowSeconds: 60, Enabled: true}, "test")
	_ = repo.Close()
	if err != nil {
		t.Fatal(err)
	}

	proxy, dsn := servicetest.ProxyURL(t, real)
	proxy.SetDown(true)
	if _, err := rulesdb.Open(ctx, dsn, rulesdb.Options{}); !errors.Is(err, rules.ErrUnavailable) {
		t.Fatalf("Open behind a proxy that is down: %v, want ErrUnavailable", err)
	}
	d := rulesdb.OpenDeferred(dsn, rulesdb.Options{})
	defer d.Close()
	if _, err := d.Enabled(ctx); !errors.Is(err, rules.ErrUnavailable) {
		t.Fatalf("Enabled before the database answers: %v", err)
	}
	if _, err := d.Create(ctx, rules.Rule{KeyType: rules.KeyIP, KeyValue: "*", Limit: 1, WindowSeconds: 1, Enabled: true}, "test"); !errors.Is(err, rules.ErrUnavailable) {
		t.Fatalf("Create before the database answers: %v", err)
	}
	if err := d.Ping(ctx); !errors.Is(err, rules.ErrUnavailable) {
		t.Fatalf("Ping before the database answers: %v", err)
	}

	wctx, stop := context.WithCancel(ctx)
	changed := make(chan struct{}, 8)
	watched := make(chan error, 1)
	go func() { watched <- d.Watch(wctx, func() { changed <- struct{}{} }) }()
	select {
	case <-changed:
		t.Fatal("the watcher was told of a change before the database answered")
	case <-time.After(300 * time.Millisecond):
	}

	proxy.SetDown(false)
	select {
	case <-changed:
	case <-time.After(20 * time.Second):
		t.Fatal("the database answers again, but the watcher was not told")
	}
	got, err := d.Enabled(ctx)
	if err != nil || len(got) != 1 || got[0].ID != want.ID {
		t.Fatalf("Enabled once open: %v, %v; want the stored rule %s", got, err, want.ID)
	}
	if err := d.Ping(ctx); err != nil {
		t.Fatalf("Ping once open: %v", err)
	}
	stop()
	select {
	case <-watched:
	case <-time.After(5 * time.Second):
		t.Error("Watch did not return after its context ended")
	}
}

// TestDeferredGivesUpOnWhatRetryCannotFix: a database that answers with a
// schema that is not migrated is not retried; calls stay unavailable and
// Close returns at once.
func TestDeferredGivesUpOnWhatRetryCannotFix(t *testing.T) {
	d := rulesdb.OpenDeferred(repotest.PostgresURL(t), rulesdb.Options{})
	time.Sleep(200 * time.Millisecond)
	if err := d.Ping(context.Background()); !errors.Is(err, rules.ErrUnavailable) {
		t.Errorf("Ping of an unmigrated database: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- d.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return")
	}
}
