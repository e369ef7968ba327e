package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice/rules"
	"github.com/sluicehq/sluice/rules/repotest"
)

// TestWatchReconnects kills Watch's backend and checks that Watch reconnects,
// calls changed after reconnecting, and delivers later notifications.
func TestWatchReconnects(t *testing.T) {
	url := repotest.PostgresURL(t)
	r, err := Open(t.Context(), url, Options{Migrate: true, WatchMinBackoff: 20 * time.Millisecond, WatchMaxBackoff: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()

	ctx, cancel := context.WithCancel(t.Context())
	calls := make(chan struct{}, 100)
	done := make(chan error, 1)
	go func() { done <- r.Watch(ctx, func() { calls <- struct{}{} }) }()
	wait := func(what string) {
		t.Helper()
		select {
		case <-calls:
		case <-time.After(10 * time.Second):
			t.Fatalf("changed not called %s", what)
		}
	}
	wait("when watching started")

	admin, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	for round := range 3 {
		pid := r.watchPID.Load()
		if pid == 0 {
			t.Fatal("no watch connection")
		}
		if _, err := admin.Exec(t.Context(), "SELECT pg_terminate_backend($1)", int32(pid)); err != nil {
			t.Fatal(err)
		}
		wait("after reconnecting")
		deadline := time.Now().Add(10 * time.Second)
		for r.watchPID.Load() == pid || r.watchPID.Load() == 0 {
			if time.Now().After(deadline) {
				t.Fatal("Watch did not reconnect")
			}
			time.Sleep(10 * time.Millisecond)
		}
		if _, err := r.Create(t.Context(), rules.Rule{KeyType: rules.KeyUserID, KeyValue: "u" + string(rune('a'+round)),
			Limit: 1, WindowSeconds: 1}, "x"); err != nil {
			t.Fatal(err)
		}
		wait("after a write following the reconnect")
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Watch returned %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Watch did not stop when its context ended")
	}
}

// TestWatchRetriesWhileDown checks that Watch keeps trying while PostgreSQL
// does not answer, and stops when its context ends.
func TestWatchRetriesWhileDown(t *testing.T) {
	r, err := Open(t.Context(), repotest.PostgresURL(t), Options{Migrate: true, WatchMinBackoff: 10 * time.Millisecond, WatchMaxBackoff: 40 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	r.listenCfg.Port = 1 // nobody listens there
	r.listenCfg.ConnectTimeout = time.Second
	ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	defer cancel()
	called := false
	if err := r.Watch(ctx, func() { called = true }); err != nil {
		t.Errorf("Watch while PostgreSQL is down returned %v, want nil when its context ends", err)
	}
	if called {
		t.Error("changed called without a connection")
	}
}

// TestWatchFatal checks that Watch gives up when retrying cannot help.
func TestWatchFatal(t *testing.T) {
	r, err := Open(t.Context(), repotest.PostgresURL(t), Options{Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	r.listenCfg.Database = "sluice_no_such_database"
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := r.Watch(ctx, func() {}); err == nil || ctx.Err() != nil {
		t.Errorf("Watch on a missing database: %v (context: %v), want an error at once", err, ctx.Err())
	}
}
