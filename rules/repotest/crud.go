package repotest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/sluicehq/sluice/rules"
)

func testCreateGet(t *testing.T, r rules.Repository) {
	in := rules.Rule{
		KeyType:       rules.KeyRoute,
		KeyValue:      "/api/chat",
		Method:        "POST",
		Plan:          "pro",
		Limit:         5000,
		WindowSeconds: 3600,
		Algorithm:     "token_bucket",
		Burst:         200,
		Enabled:       true,
		Shadow:        true,
		Priority:      -3,
		Description:   "chat: 5000/h, bursts of 200 — ünïcode",
	}
	before := time.Now()
	got := mustCreate(t, r, in)
	after := time.Now()
	if _, err := uuid.Parse(got.ID); err != nil || got.ID != strings.ToLower(got.ID) {
		t.Fatalf("assigned id %q is not a lowercase UUID", got.ID)
	}
	if got.CreatedAt.Before(before.Truncate(time.Microsecond)) || got.CreatedAt.After(after) {
		t.Errorf("created_at %v not between %v and %v", got.CreatedAt, before, after)
	}
	if !got.UpdatedAt.Equal(got.CreatedAt) {
		t.Errorf("updated_at %v, want created_at %v", got.UpdatedAt, got.CreatedAt)
	}
	want := in
	want.ID, want.CreatedAt, want.UpdatedAt = got.ID, got.CreatedAt, got.UpdatedAt
	expectRule(t, "Create", got, want)
	expectRule(t, "Get", mustGet(t, r, got.ID), want)

	// A caller-chosen id is kept (canonicalized).
	id := uuid.New()
	in2 := sample(1)
	in2.ID = strings.ToUpper(id.String())
	got2 := mustCreate(t, r, in2)
	if got2.ID != id.String() {
		t.Errorf("id %q stored as %q, want %q", in2.ID, got2.ID, id.String())
	}
	expectRule(t, "Get by uppercase id", mustGet(t, r, in2.ID), got2)
}

func testCreateCanonical(t *testing.T, r rules.Repository) {
	cases := []struct {
		in       rules.Rule
		keyValue string
	}{
		{rules.Rule{KeyType: rules.KeyIP, KeyValue: "10.1.2.3/8"}, "10.0.0.0/8"},
		{rules.Rule{KeyType: rules.KeyIP, KeyValue: "2001:DB8::1/32"}, "2001:db8::/32"},
		{rules.Rule{KeyType: rules.KeyIP, KeyValue: "192.0.2.7/32"}, "192.0.2.7"},
		{rules.Rule{KeyType: rules.KeyRoute, KeyValue: "/api/users/{id}/"}, "/api/users/{id}"},
	}
	for _, c := range cases {
		c.in.Limit, c.in.WindowSeconds, c.in.Enabled = 10, 1, true
		got := mustCreate(t, r, c.in)
		if got.KeyValue != c.keyValue || got.Algorithm != "sliding_window" {
			t.Errorf("Create(%q): key_value %q algorithm %q, want %q sliding_window", c.in.KeyValue, got.KeyValue, got.Algorithm, c.keyValue)
		}
		expectRule(t, "Get", mustGet(t, r, got.ID), got)
	}
}

func testCreateInvalid(t *testing.T, r rules.Repository) {
	bad := []rules.Rule{
		{},
		{KeyType: "nope", KeyValue: "x", Limit: 1, WindowSeconds: 1},
		{KeyType: rules.KeyUserID, KeyValue: "", Limit: 1, WindowSeconds: 1},
		{KeyType: rules.KeyUserID, KeyValue: "x", Limit: 0, WindowSeconds: 1},
		{KeyType: rules.KeyUserID, KeyValue: "x", Limit: 1, WindowSeconds: 0},
		{KeyType: rules.KeyUserID, KeyValue: "x", Limit: 1, WindowSeconds: 1, Algorithm: "leaky"},
		{KeyType: rules.KeyUserID, KeyValue: "x", Limit: 1, WindowSeconds: 1, Burst: 5},
		{KeyType: rules.KeyIP, KeyValue: "10.0.0.300", Limit: 1, WindowSeconds: 1},
		{KeyType: rules.KeyRoute, KeyValue: "api", Limit: 1, WindowSeconds: 1},
		{KeyType: rules.KeyGlobal, KeyValue: "x", Limit: 1, WindowSeconds: 1},
		{KeyType: rules.KeyUserID, KeyValue: "x\x00y", Limit: 1, WindowSeconds: 1},
		{KeyType: rules.KeyUserID, KeyValue: "x", Limit: 1, WindowSeconds: 1, ID: "not-a-uuid"},
	}
	for _, b := range bad {
		_, err := r.Create(ctx(t), b, "tester")
		expectErr(t, "Create invalid", err, rules.ErrInvalid)
		var ve *rules.ValidationError
		if !errors.As(err, &ve) || len(ve.Fields) == 0 {
			t.Errorf("Create(%+v): error %v is not a *rules.ValidationError with fields", b, err)
		}
	}
	_, err := r.Create(ctx(t), sample(1), strings.Repeat("a", rules.MaxActorLen+1))
	expectErr(t, "Create with a too long actor", err, rules.ErrInvalid)

	page, err := r.List(ctx(t), rules.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Rules) != 0 || len(mustAudit(t, r, "")) != 0 {
		t.Errorf("invalid creates stored %d rules and %d audit entries", len(page.Rules), len(mustAudit(t, r, "")))
	}
}

func testGetNotFound(t *testing.T, r rules.Repository) {
	for _, id := range []string{uuid.NewString(), "not-a-uuid", ""} {
		_, err := r.Get(ctx(t), id)
		expectErr(t, "Get("+id+")", err, rules.ErrNotFound)
	}
}

func testConflict(t *testing.T, r rules.Repository) {
	base := mustCreate(t, r, rules.Rule{KeyType: rules.KeyRoute, KeyValue: "/api/login", Method: "POST",
		Limit: 5, WindowSeconds: 900, Enabled: true})
	dup := base
	dup.ID = ""
	dup.Enabled = false // enabled or not, the key is taken
	dup.KeyValue = "/api/login/"
	_, err := r.Create(ctx(t), dup, "tester")
	expectErr(t, "Create duplicate key", err, rules.ErrConflict)

	// The same id is a conflict too.
	sameID := sample(1)
	sameID.ID = base.ID
	_, err = r.Create(ctx(t), sameID, "tester")
	expectErr(t, "Create duplicate id", err, rules.ErrConflict)

	// Another method or plan is another key.
	other := dup
	other.Method = "GET"
	mustCreate(t, r, other)
	other.Method, other.Plan = "POST", "free"
	mustCreate(t, r, other)

	// Keys compare in canonical form.
	mustCreate(t, r, rules.Rule{KeyType: rules.KeyIP, KeyValue: "192.0.2.1", Limit: 1, WindowSeconds: 1})
	_, err = r.Create(ctx(t), rules.Rule{KeyType: rules.KeyIP, KeyValue: "192.0.2.1/32", Limit: 1, WindowSeconds: 1}, "tester")
	expectErr(t, "Create duplicate canonical ip", err, rules.ErrConflict)
}

func testUpdate(t *testing.T, r rules.Repository) {
	orig := mustCreate(t, r, sample(1))
	time.Sleep(2 * time.Millisecond)
	got, err := r.Update(ctx(t), orig.ID, rules.Patch{
		Limit:       ptr(int64(250)),
		Algorithm:   ptr("gcra"),
		Burst:       ptr(int64(10)),
		Description: ptr("raised"),
	}, "alice")
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	want := orig
	want.Limit, want.Algorithm, want.Burst, want.Description = 250, "gcra", 10, "raised"
	want.UpdatedAt = got.UpdatedAt
	expectRule(t, "Update", got, want)
	if !got.UpdatedAt.After(orig.UpdatedAt) {
		t.Errorf("updated_at %v did not move past %v", got.UpdatedAt, orig.UpdatedAt)
	}
	expectRule(t, "Get after Update", mustGet(t, r, orig.ID), got)

	// updated_at strictly increases even for updates in quick succession.
	prev := got
	for i := range 5 {
		next, err := r.Update(ctx(t), orig.ID, rules.Patch{Priority: ptr(100 + i)}, "alice")
		if err != nil {
			t.Fatal(err)
		}
		if !next.UpdatedAt.After(prev.UpdatedAt) || !next.CreatedAt.Equal(orig.CreatedAt) {
			t.Errorf("update %d: updated_at %v after %v, created_at %v (want %v)", i, next.UpdatedAt, prev.UpdatedAt, next.CreatedAt, orig.CreatedAt)
		}
		prev = next
	}

	// Changing the key to another rule's key conflicts.
	other := mustCreate(t, r, sample(2))
	_, err = r.Update(ctx(t), orig.ID, rules.Patch{KeyValue: ptr(other.KeyValue)}, "alice")
	expectErr(t, "Update to a taken key", err, rules.ErrConflict)

	// Patched values are canonicalized.
	got, err = r.Update(ctx(t), orig.ID, rules.Patch{KeyType: ptr(rules.KeyIP), KeyValue: ptr("10.9.8.7/16"),
		Algorithm: ptr("fixed_window"), Burst: ptr(int64(0))}, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if got.KeyValue != "10.9.0.0/16" {
		t.Errorf("patched key_value stored as %q, want 10.9.0.0/16", got.KeyValue)
	}
}

func testUpdateValidatesResult(t *testing.T, r rules.Repository) {
	orig := mustCreate(t, r, sample(1))
	// Each field alone is fine; the result is not: burst on sliding_window.
	_, err := r.Update(ctx(t), orig.ID, rules.Patch{Burst: ptr(int64(5))}, "alice")
	expectErr(t, "Update to burst on sliding_window", err, rules.ErrInvalid)
	_, err = r.Update(ctx(t), orig.ID, rules.Patch{KeyType: ptr(rules.KeyGlobal)}, "alice")
	expectErr(t, "Update to global with a user key_value", err, rules.ErrInvalid)
	_, err = r.Update(ctx(t), orig.ID, rules.Patch{WindowSeconds: ptr(int64(-1))}, "alice")
	expectErr(t, "Update to a negative window", err, rules.ErrInvalid)
	expectRule(t, "Get after rejected updates", mustGet(t, r, orig.ID), orig)
}

func testUpdateNoop(t *testing.T, r rules.Repository) {
	orig := mustCreate(t, r, sample(1))
	for _, p := range []rules.Patch{{}, {Limit: ptr(orig.Limit), Enabled: ptr(orig.Enabled)}, {Algorithm: ptr("")}} {
		got, err := r.Update(ctx(t), orig.ID, p, "alice")
		if err != nil {
			t.Fatal(err)
		}
		expectRule(t, "no-op Update", got, orig)
	}
	if n := len(mustAudit(t, r, orig.ID)); n != 1 {
		t.Errorf("no-op updates wrote audit entries: %d entries, want 1 (the create)", n)
	}
}

func testUpdateNotFound(t *testing.T, r rules.Repository) {
	for _, id := range []string{uuid.NewString(), "nope"} {
		_, err := r.Update(ctx(t), id, rules.Patch{Limit: ptr(int64(1))}, "alice")
		expectErr(t, "Update missing rule", err, rules.ErrNotFound)
	}
}

func testDelete(t *testing.T, r rules.Repository) {
	a := mustCreate(t, r, sample(1))
	b := mustCreate(t, r, sample(2))
	if err := r.Delete(ctx(t), a.ID, "bob"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	_, err := r.Get(ctx(t), a.ID)
	expectErr(t, "Get deleted", err, rules.ErrNotFound)
	expectErr(t, "Delete again", r.Delete(ctx(t), a.ID, "bob"), rules.ErrNotFound)
	expectErr(t, "Delete bad id", r.Delete(ctx(t), "nope", "bob"), rules.ErrNotFound)
	expectRule(t, "other rule", mustGet(t, r, b.ID), b)
	// The key is free again.
	mustCreate(t, r, sample(1))
}

func testPing(t *testing.T, r rules.Repository) {
	if err := r.Ping(ctx(t)); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}

func testCanceledContext(t *testing.T, r rules.Repository) {
	existing := mustCreate(t, r, sample(1))
	c, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := r.Create(c, sample(2), "x"); err == nil {
		t.Error("Create with a canceled context succeeded")
	}
	if _, err := r.Update(c, existing.ID, rules.Patch{Limit: ptr(int64(7))}, "x"); err == nil {
		t.Error("Update with a canceled context succeeded")
	}
	if _, err := r.List(c, rules.Filter{}); err == nil {
		t.Error("List with a canceled context succeeded")
	}
	expectRule(t, "rule after canceled update", mustGet(t, r, existing.ID), existing)
}

// testTimeZone checks that a quota rule's time zone is stored as given,
// read back by Get, List and Enabled, changed and cleared by Update, and
// recorded in the audit log; and that a time zone that is not valid, or
// on a rule that is not a quota, is rejected.
func testTimeZone(t *testing.T, r rules.Repository) {
	in := sample(1)
	in.Algorithm, in.WindowSeconds, in.TimeZone = "quota", rules.QuotaMonthSeconds, "Europe/Berlin"
	created := mustCreate(t, r, in)
	if created.TimeZone != "Europe/Berlin" {
		t.Errorf("Create: timezone %q, want Europe/Berlin", created.TimeZone)
	}
	expectRule(t, "Get", mustGet(t, r, created.ID), created)
	page, err := r.List(ctx(t), rules.Filter{KeyType: rules.KeyUserID, KeyValue: in.KeyValue})
	if err != nil || len(page.Rules) != 1 {
		t.Fatalf("List: %d rules, %v; want 1", len(page.Rules), err)
	}
	expectRule(t, "List", page.Rules[0], created)
	enabled, err := r.Enabled(ctx(t))
	if err != nil || len(enabled) != 1 {
		t.Fatalf("Enabled: %d rules, %v; want 1", len(enabled), err)
	}
	expectRule(t, "Enabled", enabled[0], created)

	tokyo, err := r.Update(ctx(t), created.ID, rules.Patch{TimeZone: ptr("Asia/Tokyo")}, "alice")
	if err != nil {
		t.Fatalf("Update to Asia/Tokyo: %v", err)
	}
	want := created
	want.TimeZone, want.UpdatedAt = "Asia/Tokyo", tokyo.UpdatedAt
	expectRule(t, "Update to Asia/Tokyo", tokyo, want)
	expectRule(t, "Get after Update to Asia/Tokyo", mustGet(t, r, created.ID), tokyo)

	utc, err := r.Update(ctx(t), created.ID, rules.Patch{TimeZone: ptr("")}, "alice")
	if err != nil {
		t.Fatalf("Update to UTC: %v", err)
	}
	want.TimeZone, want.UpdatedAt = "", utc.UpdatedAt
	expectRule(t, "Update to UTC", utc, want)
	expectRule(t, "Get after Update to UTC", mustGet(t, r, created.ID), utc)

	entries := mustAudit(t, r, created.ID)
	if len(entries) != 3 {
		t.Fatalf("Audit: %d entries, want 3", len(entries))
	}
	if e := entries[0]; e.After == nil || e.After.TimeZone != "Europe/Berlin" {
		t.Errorf("audit of the create: after %+v, want timezone Europe/Berlin", e.After)
	}
	if e := entries[2]; e.Before == nil || e.After == nil || e.Before.TimeZone != "Asia/Tokyo" || e.After.TimeZone != "" {
		t.Errorf("audit of the update to UTC: before %+v, after %+v; want timezone Asia/Tokyo, then none", e.Before, e.After)
	}

	// Not a time zone, the host's zone, too long, or not on a quota.
	for i, bad := range []struct{ timeZone, algorithm string }{
		{"Mars/Olympus", "quota"},
		{"Local", "quota"},
		{strings.Repeat("A", rules.MaxTimeZoneLen+1), "quota"},
		{"Europe/Berlin", "sliding_window"},
	} {
		b := in
		b.KeyValue, b.TimeZone, b.Algorithm = fmt.Sprintf("bad-%d", i), bad.timeZone, bad.algorithm
		if b.Algorithm != "quota" {
			b.WindowSeconds = 60
		}
		_, err := r.Create(ctx(t), b, "mallory")
		expectErr(t, "Create with timezone "+b.TimeZone, err, rules.ErrInvalid)
		var ve *rules.ValidationError
		if !errors.As(err, &ve) || len(ve.Fields) != 1 || ve.Fields[0].Field != "timezone" {
			t.Errorf("Create with timezone %q on %s: %v, want one error about timezone", b.TimeZone, b.Algorithm, err)
		}
	}
	_, err = r.Update(ctx(t), created.ID, rules.Patch{TimeZone: ptr("Europe/Nowhere")}, "mallory")
	expectErr(t, "Update to an unknown timezone", err, rules.ErrInvalid)
	_, err = r.Update(ctx(t), created.ID, rules.Patch{Algorithm: ptr("sliding_window"), TimeZone: ptr("Europe/Berlin")}, "mallory")
	expectErr(t, "Update to a timezone on sliding_window", err, rules.ErrInvalid)
	expectRule(t, "Get after rejected updates", mustGet(t, r, created.ID), utc)
	if n := len(mustAudit(t, r, "")); n != 3 {
		t.Errorf("rejected writes left audit entries: %d entries, want 3", n)
	}
}
