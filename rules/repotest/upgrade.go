package repotest

import (
	"context"
	"errors"
	"testing"

	"github.com/sluicehq/sluice/rules"
)

// Upgrade is what RunUpgradeFromVersion1 needs of a backend.
type Upgrade struct {
	// AtVersion1 creates a database at schema version 1, as a program
	// before rules had a time zone left it, runs the SQL statement insert
	// in it, and returns its DSN.
	AtVersion1 func(t *testing.T, insert string) string
	// Status returns the schema version of the database and the newest
	// one this program knows.
	Status func(ctx context.Context, dsn string) (current, latest int64, err error)
	// Open opens the repository without migrating it.
	Open func(ctx context.Context, dsn string) (rules.Repository, error)
	// Migrate brings the schema up to date.
	Migrate func(ctx context.Context, dsn string) error
}

// RunUpgradeFromVersion1 migrates a database left at schema version 1:
// Open refuses it until it is migrated, and its rules then count in UTC (no
// time zone) and can be given one.
func RunUpgradeFromVersion1(t *testing.T, b Upgrade) {
	t.Helper()
	const id = "0190b1c2-7e4a-7c3d-9f00-6b1d2e3f4a5b"
	dsn := b.AtVersion1(t, `INSERT INTO rules (id, key_type, key_value, "limit", window_seconds, algorithm, created_at, updated_at)
		VALUES ('`+id+`', 'user_id', '*', 1000, 86400, 'quota', '2025-04-02T17:10:00.000000Z', '2025-04-02T17:10:00.000000Z')`)
	current, latest, err := b.Status(ctx(t), dsn)
	if err != nil || current != 1 || latest < 2 {
		t.Fatalf("status of a version 1 database = %d of %d, %v; want version 1 of at least 2", current, latest, err)
	}
	if r, err := b.Open(ctx(t), dsn); !errors.Is(err, rules.ErrNotMigrated) {
		if err == nil {
			_ = r.Close()
		}
		t.Fatalf("Open of a version 1 database without migrating: %v, want ErrNotMigrated", err)
	}
	if err := b.Migrate(ctx(t), dsn); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	if current, latest, err := b.Status(ctx(t), dsn); err != nil || current != latest {
		t.Fatalf("status after Migrate = %d of %d, %v", current, latest, err)
	}
	r, err := b.Open(ctx(t), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got := mustGet(t, r, id)
	if got.TimeZone != "" || got.Algorithm != "quota" || got.Limit != 1000 {
		t.Fatalf("rule after the upgrade: %+v; want the quota without a time zone", got)
	}
	got, err = r.Update(ctx(t), id, rules.Patch{TimeZone: ptr("Europe/Berlin")}, "tester")
	if err != nil || got.TimeZone != "Europe/Berlin" {
		t.Errorf("Update of the upgraded rule to Europe/Berlin: %+v, %v", got, err)
	}
}
