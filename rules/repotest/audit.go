package repotest

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/sluicehq/sluice/rules"
)

func testAudit(t *testing.T, r rules.Repository) {
	created := mustCreate(t, r, sample(1))
	other := mustCreate(t, r, sample(2))
	updated, err := r.Update(ctx(t), created.ID, rules.Patch{Enabled: ptr(false)}, "bob")
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Delete(ctx(t), created.ID, "carol"); err != nil {
		t.Fatal(err)
	}

	entries := mustAudit(t, r, created.ID)
	if len(entries) != 3 {
		t.Fatalf("Audit(rule): %d entries, want 3: %+v", len(entries), entries)
	}
	want := []struct {
		action, actor string
		before, after *rules.Rule
	}{
		{rules.ActionCreate, "tester", nil, &created},
		{rules.ActionUpdate, "bob", &created, &updated},
		{rules.ActionDelete, "carol", &updated, nil},
	}
	for i, w := range want {
		e := entries[i]
		if e.Action != w.action || e.Actor != w.actor || e.RuleID != created.ID {
			t.Errorf("entry %d: %s by %q on %s, want %s by %q on %s", i, e.Action, e.Actor, e.RuleID, w.action, w.actor, created.ID)
		}
		if i > 0 && e.ID <= entries[i-1].ID {
			t.Errorf("entry ids not increasing: %d after %d", e.ID, entries[i-1].ID)
		}
		if e.At.Location() != time.UTC || e.At.IsZero() || (i > 0 && e.At.Before(entries[i-1].At)) {
			t.Errorf("entry %d at %v: want UTC, not before the previous entry", i, e.At)
		}
		for _, side := range []struct {
			name      string
			got, want *rules.Rule
		}{{"before", e.Before, w.before}, {"after", e.After, w.after}} {
			switch {
			case side.want == nil && side.got != nil:
				t.Errorf("entry %d (%s): %s = %+v, want none", i, e.Action, side.name, *side.got)
			case side.want != nil && side.got == nil:
				t.Errorf("entry %d (%s): no %s, want %+v", i, e.Action, side.name, *side.want)
			case side.want != nil:
				expectRule(t, e.Action+" "+side.name, *side.got, *side.want)
			}
		}
	}
	if !entries[0].At.Equal(created.CreatedAt) || !entries[1].At.Equal(updated.UpdatedAt) {
		t.Errorf("entries at %v, %v; want the rule's created_at %v and updated_at %v",
			entries[0].At, entries[1].At, created.CreatedAt, updated.UpdatedAt)
	}

	all := mustAudit(t, r, "")
	if len(all) != 4 || all[1].RuleID != other.ID {
		t.Errorf("Audit(all): %d entries (second on %s), want 4 with the second on %s", len(all), all[1].RuleID, other.ID)
	}
	if got := mustAudit(t, r, uuid.NewString()); len(got) != 0 {
		t.Errorf("Audit(unknown rule): %d entries", len(got))
	}
	if got := mustAudit(t, r, "nope"); len(got) != 0 {
		t.Errorf("Audit(bad id): %d entries", len(got))
	}
}

// testAuditFailedWrites checks that a write that fails leaves no audit entry:
// the entry is written in the same transaction as the change.
func testAuditFailedWrites(t *testing.T, r rules.Repository) {
	a := mustCreate(t, r, sample(1))
	b := mustCreate(t, r, sample(2))
	before := len(mustAudit(t, r, ""))

	dup := sample(1)
	_, err := r.Create(ctx(t), dup, "mallory")
	expectErr(t, "Create duplicate", err, rules.ErrConflict)
	dup.ID = b.ID
	dup.KeyValue = "fresh"
	_, err = r.Create(ctx(t), dup, "mallory")
	expectErr(t, "Create duplicate id", err, rules.ErrConflict)
	_, err = r.Update(ctx(t), a.ID, rules.Patch{KeyValue: ptr(b.KeyValue)}, "mallory")
	expectErr(t, "Update to a taken key", err, rules.ErrConflict)
	_, err = r.Update(ctx(t), a.ID, rules.Patch{Limit: ptr(int64(0))}, "mallory")
	expectErr(t, "invalid Update", err, rules.ErrInvalid)
	expectErr(t, "Delete missing", r.Delete(ctx(t), uuid.NewString(), "mallory"), rules.ErrNotFound)

	after := mustAudit(t, r, "")
	if len(after) != before {
		t.Errorf("failed writes left %d audit entries", len(after)-before)
	}
	for _, e := range after {
		if e.Actor == "mallory" {
			t.Errorf("audit entry of a failed write: %+v", e)
		}
	}
	expectRule(t, "rule after failed updates", mustGet(t, r, a.ID), a)
}

func testAuditLimit(t *testing.T, r rules.Repository) {
	rule := mustCreate(t, r, sample(1))
	for i := range 12 {
		if _, err := r.Update(ctx(t), rule.ID, rules.Patch{Priority: ptr(i + 100)}, "bob"); err != nil {
			t.Fatal(err)
		}
	}
	got, err := r.Audit(ctx(t), rule.ID, 5)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 5 || got[0].Action != rules.ActionCreate {
		t.Errorf("Audit(limit 5): %d entries starting with %q, want the oldest 5", len(got), got[0].Action)
	}
	if got, err := r.Audit(ctx(t), rule.ID, 0); err != nil || len(got) != 13 {
		t.Errorf("Audit(limit 0): %d entries, %v; want all 13", len(got), err)
	}
	_, err = r.Audit(ctx(t), rule.ID, -1)
	expectErr(t, "Audit(limit -1)", err, rules.ErrInvalid)
}
