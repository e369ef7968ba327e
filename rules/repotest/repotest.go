// Package repotest is the conformance suite every rules.Repository passes,
// plus test helpers shared by the packages that test against real databases:
// PostgresURL (a fresh PostgreSQL schema per test), ServiceUnavailable (skip,
// or fail when SLUICE_REQUIRE_SERVICES=1), RunReopen (rules survive a
// restart) and RunCrash (acknowledged writes survive SIGKILL).
//
// A repository package runs the suite from its tests:
//
//	func TestRepository(t *testing.T) {
//		repotest.Run(t, func(t *testing.T) rules.Repository {
//			r, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "rules.db"), sqlite.Options{Migrate: true})
//			if err != nil {
//				t.Fatal(err)
//			}
//			return r
//		})
//	}
package repotest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/sluicehq/sluice/rules"
)

// Run runs the conformance suite against the repositories open returns.
// open is called once per subtest and must return a repository over an
// empty, migrated database of its own; the suite closes it.
func Run(t *testing.T, open func(t *testing.T) rules.Repository) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, r rules.Repository)
	}{
		{"CreateGet", testCreateGet},
		{"CreateCanonical", testCreateCanonical},
		{"CreateInvalid", testCreateInvalid},
		{"GetNotFound", testGetNotFound},
		{"Conflict", testConflict},
		{"ListFilters", testListFilters},
		{"ListPagination", testListPagination},
		{"ListInvalid", testListInvalid},
		{"Update", testUpdate},
		{"UpdateValidatesResult", testUpdateValidatesResult},
		{"UpdateNoop", testUpdateNoop},
		{"UpdateNotFound", testUpdateNotFound},
		{"TimeZone", testTimeZone},
		{"Delete", testDelete},
		{"Audit", testAudit},
		{"AuditFailedWrites", testAuditFailedWrites},
		{"AuditLimit", testAuditLimit},
		{"Enabled", testEnabled},
		{"Timestamps", testTimestamps},
		{"ConcurrentWriters", testConcurrentWriters},
		{"CanceledContext", testCanceledContext},
		{"Ping", testPing},
		{"Watch", testWatch},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := open(t)
			t.Cleanup(func() {
				if err := r.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tc.fn(t, r)
		})
	}
}

// ctx returns a context for one test step, ending with the test.
func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// sample returns a valid user_id rule whose key_value is distinct for each n.
func sample(n int) rules.Rule {
	return rules.Rule{
		KeyType:       rules.KeyUserID,
		KeyValue:      fmt.Sprintf("user-%04d", n),
		Limit:         100,
		WindowSeconds: 60,
		Algorithm:     "sliding_window",
		Enabled:       true,
		Priority:      n % 7,
		Description:   fmt.Sprintf("sample rule %d", n),
	}
}

func mustCreate(t *testing.T, r rules.Repository, rule rules.Rule) rules.Rule {
	t.Helper()
	got, err := r.Create(ctx(t), rule, "tester")
	if err != nil {
		t.Fatalf("Create(%+v): %v", rule, err)
	}
	return got
}

func mustGet(t *testing.T, r rules.Repository, id string) rules.Rule {
	t.Helper()
	got, err := r.Get(ctx(t), id)
	if err != nil {
		t.Fatalf("Get(%s): %v", id, err)
	}
	return got
}

func mustAudit(t *testing.T, r rules.Repository, id string) []rules.AuditEntry {
	t.Helper()
	entries, err := r.Audit(ctx(t), id, rules.MaxAuditEntries)
	if err != nil {
		t.Fatalf("Audit(%q): %v", id, err)
	}
	return entries
}

// sameRule reports how got differs from want, or "" when they are the same
// rule: equal fields, equal instants (both UTC).
func sameRule(got, want rules.Rule) string {
	if got.CreatedAt.Location() != time.UTC || got.UpdatedAt.Location() != time.UTC {
		return fmt.Sprintf("timestamps not in UTC: %v, %v", got.CreatedAt, got.UpdatedAt)
	}
	if !got.CreatedAt.Equal(want.CreatedAt) || !got.UpdatedAt.Equal(want.UpdatedAt) {
		return fmt.Sprintf("timestamps %v/%v, want %v/%v", got.CreatedAt, got.UpdatedAt, want.CreatedAt, want.UpdatedAt)
	}
	got.CreatedAt, got.UpdatedAt = want.CreatedAt, want.UpdatedAt
	if got != want {
		return fmt.Sprintf("\n got %+v\nwant %+v", got, want)
	}
	return ""
}

func expectRule(t *testing.T, what string, got, want rules.Rule) {
	t.Helper()
	if d := sameRule(got, want); d != "" {
		t.Errorf("%s: %s", what, d)
	}
}

func expectErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: error %v, want one wrapping %v", what, err, target)
	}
}

func ptr[T any](v T) *T { return &v }
