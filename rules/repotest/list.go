package repotest

import (
	"fmt"
	"slices"
	"testing"

	"github.com/sluicehq/sluice/rules"
)

// ids returns the ids of rs in order.
func ids(rs []rules.Rule) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.ID
	}
	return out
}

// listAll follows the cursors of f to the last page.
func listAll(t *testing.T, r rules.Repository, f rules.Filter) []rules.Rule {
	t.Helper()
	var all []rules.Rule
	for pages := 0; ; pages++ {
		if pages > 10000 {
			t.Fatal("List never reached a last page")
		}
		page, err := r.List(ctx(t), f)
		if err != nil {
			t.Fatalf("List(%+v): %v", f, err)
		}
		all = append(all, page.Rules...)
		if page.NextCursor == "" {
			return all
		}
		f.Cursor = page.NextCursor
	}
}

func testListFilters(t *testing.T, r rules.Repository) {
	mk := func(kt rules.KeyType, kv, plan string, enabled bool) rules.Rule {
		return mustCreate(t, r, rules.Rule{KeyType: kt, KeyValue: kv, Plan: plan, Enabled: enabled, Limit: 10, WindowSeconds: 60})
	}
	u1 := mk(rules.KeyUserID, "alice", "", true)
	u2 := mk(rules.KeyUserID, "bob", "pro", false)
	u3 := mk(rules.KeyUserID, "*", "pro", true)
	ip := mk(rules.KeyIP, "10.0.0.0/8", "", true)
	rt := mk(rules.KeyRoute, "/api/**", "pro", false)
	pl := mk(rules.KeyPlan, "pro", "", true)

	cases := []struct {
		f    rules.Filter
		want []rules.Rule
	}{
		{rules.Filter{}, []rules.Rule{u1, u2, u3, ip, rt, pl}},
		{rules.Filter{KeyType: rules.KeyUserID}, []rules.Rule{u1, u2, u3}},
		{rules.Filter{KeyType: rules.KeyUserID, KeyValue: "bob"}, []rules.Rule{u2}},
		{rules.Filter{KeyValue: "pro"}, []rules.Rule{pl}},
		{rules.Filter{KeyType: rules.KeyIP, KeyValue: "10.1.1.1/8"}, []rules.Rule{ip}}, // canonicalized
		{rules.Filter{Plan: "pro"}, []rules.Rule{u2, u3, rt}},
		{rules.Filter{Enabled: ptr(true)}, []rules.Rule{u1, u3, ip, pl}},
		{rules.Filter{Enabled: ptr(false)}, []rules.Rule{u2, rt}},
		{rules.Filter{Enabled: ptr(true), Plan: "pro"}, []rules.Rule{u3}},
		{rules.Filter{KeyType: rules.KeyRoute, Enabled: ptr(true)}, nil},
		{rules.Filter{KeyValue: "nobody"}, nil},
	}
	for _, c := range cases {
		page, err := r.List(ctx(t), c.f)
		if err != nil {
			t.Fatalf("List(%+v): %v", c.f, err)
		}
		if page.Rules == nil {
			t.Errorf("List(%+v): nil Rules, want an empty slice", c.f)
		}
		if !slices.Equal(ids(page.Rules), ids(c.want)) || page.NextCursor != "" {
			t.Errorf("List(%+v) = %v (next %q), want %v", c.f, ids(page.Rules), page.NextCursor, ids(c.want))
			continue
		}
		for i := range c.want {
			expectRule(t, "listed rule", page.Rules[i], c.want[i])
		}
	}
}

func testListPagination(t *testing.T, r rules.Repository) {
	const n = 250
	var want []string
	for i := range n {
		rule := sample(i)
		rule.Enabled = i%2 == 0
		want = append(want, mustCreate(t, r, rule).ID)
	}
	// Default page size: 100, 100, 50.
	var got []string
	f := rules.Filter{}
	for _, size := range []int{100, 100, 50} {
		page, err := r.List(ctx(t), f)
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Rules) != size {
			t.Fatalf("page of %d rules, want %d", len(page.Rules), size)
		}
		got = append(got, ids(page.Rules)...)
		f.Cursor = page.NextCursor
	}
	if f.Cursor != "" {
		t.Errorf("last page has NextCursor %q", f.Cursor)
	}
	if !slices.Equal(got, want) {
		t.Errorf("pages list %d rules out of creation order or with repeats", len(got))
	}
	// Small pages, and a page size that divides the total exactly.
	for _, size := range []int{7, 50, 250, 1000} {
		all := listAll(t, r, rules.Filter{Limit: size})
		if !slices.Equal(ids(all), want) {
			t.Errorf("pages of %d: listed %d rules, want %d in creation order", size, len(all), n)
		}
	}
	// Filters hold across pages.
	enabled := listAll(t, r, rules.Filter{Limit: 30, Enabled: ptr(true)})
	if len(enabled) != n/2 {
		t.Errorf("enabled rules across pages: %d, want %d", len(enabled), n/2)
	}
	for _, e := range enabled {
		if !e.Enabled {
			t.Fatalf("disabled rule %s listed with Enabled filter", e.ID)
		}
	}
	// A page size above the maximum is capped.
	page, err := r.List(ctx(t), rules.Filter{Limit: rules.MaxPageSize + 5})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Rules) != n {
		t.Errorf("List with Limit %d: %d rules, want %d", rules.MaxPageSize+5, len(page.Rules), n)
	}
	// A rule deleted at the page boundary does not break the cursor.
	first, err := r.List(ctx(t), rules.Filter{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Delete(ctx(t), first.Rules[9].ID, "tester"); err != nil {
		t.Fatal(err)
	}
	next, err := r.List(ctx(t), rules.Filter{Limit: 10, Cursor: first.NextCursor})
	if err != nil {
		t.Fatal(err)
	}
	if len(next.Rules) != 10 || next.Rules[0].ID != want[10] {
		t.Errorf("after deleting the cursor's rule, next page starts at %v, want %s", ids(next.Rules), want[10])
	}
}

func testListInvalid(t *testing.T, r rules.Repository) {
	mustCreate(t, r, sample(1))
	for _, f := range []rules.Filter{
		{Cursor: "%%%"},
		{Cursor: "bm90IGEgY3Vyc29y"},
		{Limit: -1},
		{KeyType: "nope"},
	} {
		_, err := r.List(ctx(t), f)
		expectErr(t, fmt.Sprintf("List(%+v)", f), err, rules.ErrInvalid)
	}
}
