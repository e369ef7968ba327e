package repotest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/rules"
)

func testEnabled(t *testing.T, r rules.Repository) {
	got, err := r.Enabled(ctx(t))
	if err != nil || len(got) != 0 {
		t.Fatalf("Enabled on an empty repository: %v, %v", got, err)
	}
	var want []rules.Rule
	for i := range 10 {
		rule := sample(i)
		rule.Enabled = i%3 != 0
		created := mustCreate(t, r, rule)
		if created.Enabled {
			want = append(want, created)
		}
	}
	got, err = r.Enabled(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids(got), ids(want)) {
		t.Fatalf("Enabled = %v, want %v", ids(got), ids(want))
	}
	for i := range want {
		expectRule(t, "enabled rule", got[i], want[i])
	}
	// The snapshot follows changes.
	if _, err := r.Update(ctx(t), want[0].ID, rules.Patch{Enabled: ptr(false)}, "bob"); err != nil {
		t.Fatal(err)
	}
	if err := r.Delete(ctx(t), want[1].ID, "bob"); err != nil {
		t.Fatal(err)
	}
	got, err = r.Enabled(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids(got), ids(want[2:])) {
		t.Errorf("Enabled after disabling and deleting = %v, want %v", ids(got), ids(want[2:]))
	}
}

func testTimestamps(t *testing.T, r rules.Repository) {
	for i := range 20 {
		rule := mustCreate(t, r, sample(i))
		stored := mustGet(t, r, rule.ID)
		for _, ts := range []time.Time{rule.CreatedAt, rule.UpdatedAt, stored.CreatedAt, stored.UpdatedAt} {
			if ts.Location() != time.UTC {
				t.Fatalf("timestamp %v is not UTC", ts)
			}
			if ts.Nanosecond()%1000 != 0 {
				t.Fatalf("timestamp %v is finer than microseconds: the stored value would differ", ts)
			}
			if d := time.Since(ts); d < -time.Second || d > time.Minute {
				t.Fatalf("timestamp %v is %v from now", ts, d)
			}
		}
		expectRule(t, "stored timestamps", stored, rule)
	}
}

// testConcurrentWriters runs creates, updates of one shared rule, and
// reads at once (run the suite with -race).
func testConcurrentWriters(t *testing.T, r rules.Repository) {
	const writers, each = 6, 15
	shared := mustCreate(t, r, sample(9999))
	var wg sync.WaitGroup
	errs := make(chan error, writers*each*3)
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				rule := sample(w*1000 + i)
				if _, err := r.Create(ctx(t), rule, fmt.Sprintf("writer-%d", w)); err != nil {
					errs <- fmt.Errorf("create: %w", err)
				}
				if _, err := r.Update(ctx(t), shared.ID, rules.Patch{Priority: ptr(w*1000 + i)}, "writer"); err != nil {
					errs <- fmt.Errorf("update: %w", err)
				}
				if _, err := r.Enabled(ctx(t)); err != nil {
					errs <- fmt.Errorf("enabled: %w", err)
				}
			}
		})
	}
	// Two writers racing for the same key: exactly one wins.
	var won sync.Map
	for range 4 {
		wg.Go(func() {
			_, err := r.Create(ctx(t), sample(5555), "racer")
			won.Store(err == nil, true)
			if err != nil && !isConflict(err) {
				errs <- fmt.Errorf("racing Create: %w", err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	all := listAll(t, r, rules.Filter{Limit: 1000})
	if want := 1 + writers*each + 1; len(all) != want {
		t.Errorf("%d rules after concurrent creates, want %d", len(all), want)
	}
	entries := mustAudit(t, r, shared.ID)
	if want := 1 + writers*each; len(entries) != want {
		t.Errorf("%d audit entries for the shared rule, want %d", len(entries), want)
	}
	// Each update saw the one before it: before of entry i is after of i-1.
	for i := 1; i < len(entries); i++ {
		if entries[i].Before == nil || entries[i-1].After == nil ||
			sameRule(*entries[i].Before, *entries[i-1].After) != "" {
			t.Fatalf("audit entry %d does not continue entry %d: a lost update", i, i-1)
		}
		if !entries[i].After.UpdatedAt.After(entries[i-1].After.UpdatedAt) {
			t.Fatalf("updated_at did not increase at entry %d", i)
		}
	}
	final := mustGet(t, r, shared.ID)
	if last := entries[len(entries)-1].After; last == nil || sameRule(final, *last) != "" {
		t.Errorf("stored rule differs from the last audit entry's after")
	}
}

func isConflict(err error) bool { return errors.Is(err, rules.ErrConflict) }

// testWatch checks the optional rules.Watcher ability.
func testWatch(t *testing.T, r rules.Repository) {
	w, ok := r.(rules.Watcher)
	if !ok {
		t.Skip("the repository is not a rules.Watcher")
	}
	calls := make(chan struct{}, 100)
	c, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- w.Watch(c, func() { calls <- struct{}{} }) }()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Watch returned %v after its context ended, want nil", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Watch did not return within 10s of its context ending")
		}
	}()
	wait := func(what string) {
		t.Helper()
		select {
		case <-calls:
		case <-time.After(15 * time.Second):
			t.Fatalf("changed was not called %s", what)
		}
	}
	wait("when watching started")
	drain := func() {
		for {
			select {
			case <-calls:
			case <-time.After(100 * time.Millisecond):
				return
			}
		}
	}
	drain()
	rule := mustCreate(t, r, sample(1))
	wait("after Create")
	drain()
	if _, err := r.Update(ctx(t), rule.ID, rules.Patch{Limit: ptr(int64(3))}, "bob"); err != nil {
		t.Fatal(err)
	}
	wait("after Update")
	drain()
	if err := r.Delete(ctx(t), rule.ID, "bob"); err != nil {
		t.Fatal(err)
	}
	wait("after Delete")
}
