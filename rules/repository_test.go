package rules_test

import (
	"errors"
	"testing"
	"time"

	"github.com/sluicehq/sluice/rules"
)

func TestCursor(t *testing.T) {
	at := time.Date(2025, 4, 2, 17, 10, 0, 123456000, time.UTC)
	id := "0190b1c2-7e4a-7c3d-9f00-6b1d2e3f4a5b"
	gotAt, gotID, err := rules.DecodeCursor(rules.EncodeCursor(at, id))
	if err != nil || !gotAt.Equal(at) || gotAt.Location() != time.UTC || gotID != id {
		t.Errorf("cursor round trip: %v %q %v", gotAt, gotID, err)
	}
	for _, bad := range []string{"", "!!", "bm9wZQ", "MTIz", "eCxpZA"} { // "nope", "123", "x,id"
		if _, _, err := rules.DecodeCursor(bad); !errors.Is(err, rules.ErrInvalid) {
			t.Errorf("DecodeCursor(%q): %v, want ErrInvalid", bad, err)
		}
	}
}

func TestPatchApply(t *testing.T) {
	r := rules.Rule{ID: "x", KeyType: rules.KeyUserID, KeyValue: "a", Limit: 1, WindowSeconds: 2, Priority: 3}
	if got := (rules.Patch{}).Apply(r); got != r {
		t.Errorf("empty patch changed the rule: %+v", got)
	}
	kt, kv, m, plan, alg, desc := rules.KeyRoute, "/x", "GET", "pro", "gcra", "d"
	limit, window, burst, prio := int64(10), int64(20), int64(30), -1
	yes := true
	got := rules.Patch{KeyType: &kt, KeyValue: &kv, Method: &m, Plan: &plan, Algorithm: &alg, Description: &desc,
		Limit: &limit, WindowSeconds: &window, Burst: &burst, Priority: &prio, Enabled: &yes, Shadow: &yes}.Apply(r)
	want := rules.Rule{ID: "x", KeyType: kt, KeyValue: kv, Method: m, Plan: plan, Algorithm: alg, Description: desc,
		Limit: limit, WindowSeconds: window, Burst: burst, Priority: prio, Enabled: true, Shadow: true}
	if got != want {
		t.Errorf("Apply = %+v, want %+v", got, want)
	}
}

func TestFilter(t *testing.T) {
	for limit, want := range map[int]int{0: 100, -5: 100, 1: 1, 1000: 1000, 5000: 1000} {
		if got := (rules.Filter{Limit: limit}).PageSize(); got != want {
			t.Errorf("PageSize(%d) = %d, want %d", limit, got, want)
		}
	}
	if err := (rules.Filter{KeyType: rules.KeyIP, Limit: 10, Cursor: rules.EncodeCursor(time.Now(), "id")}).Validate(); err != nil {
		t.Errorf("valid filter: %v", err)
	}
	for _, bad := range []rules.Filter{{KeyType: "x"}, {Limit: -1}, {Cursor: "??"}} {
		if err := bad.Validate(); !errors.Is(err, rules.ErrInvalid) {
			t.Errorf("Validate(%+v): %v, want ErrInvalid", bad, err)
		}
	}
	if got := (rules.Filter{KeyType: rules.KeyIP, KeyValue: "10.1.1.1/8"}).Canonical().KeyValue; got != "10.0.0.0/8" {
		t.Errorf("canonical filter key_value %q", got)
	}
	if got := (rules.Filter{KeyValue: "10.1.1.1/8"}).Canonical().KeyValue; got != "10.1.1.1/8" {
		t.Errorf("filter without key type canonicalized to %q", got)
	}
}

func TestAuditLimit(t *testing.T) {
	for in, want := range map[int]int{0: 100, 1: 1, rules.MaxAuditEntries: rules.MaxAuditEntries, 1 << 30: rules.MaxAuditEntries} {
		if got, err := rules.AuditLimit(in); err != nil || got != want {
			t.Errorf("AuditLimit(%d) = %d, %v; want %d", in, got, err, want)
		}
	}
	if _, err := rules.AuditLimit(-1); !errors.Is(err, rules.ErrInvalid) {
		t.Errorf("AuditLimit(-1): %v", err)
	}
}

// FuzzDecodeCursor: a cursor comes from the query string of a list
// request, so any text is either rejected with a ValidationError or
// decodes to a position that encodes back to a cursor meaning the same.
func FuzzDecodeCursor(f *testing.F) {
	f.Add(rules.EncodeCursor(time.Date(2025, 4, 2, 17, 10, 0, 123456000, time.UTC), "0190b1c2-7e4a-7c3d-9f00-6b1d2e3f4a5b"))
	f.Add("")
	f.Add("bm90LWEtY3Vyc29y")
	f.Add("LTEsYQ")
	f.Fuzz(func(t *testing.T, cursor string) {
		at, id, err := rules.DecodeCursor(cursor)
		if err != nil {
			var ve *rules.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("DecodeCursor(%q): %T %v, want a ValidationError", cursor, err, err)
			}
			return
		}
		at2, id2, err := rules.DecodeCursor(rules.EncodeCursor(at, id))
		if err != nil || !at2.Equal(at) || id2 != id {
			t.Fatalf("DecodeCursor(%q) = %v %q, which encodes to %v %q %v", cursor, at, id, at2, id2, err)
		}
	})
}
