package redis

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/sluicehq/sluice/algorithm"
	"github.com/sluicehq/sluice/store"
	"github.com/sluicehq/sluice/store/memory"
	"github.com/sluicehq/sluice/store/storetest"
)

// TestSlot checks the slot function against CLUSTER KEYSLOT, including
// hash tags, empty tags and keys of the store's layout.
func TestSlot(t *testing.T) {
	client := clusterClient(t)
	ctx := context.Background()
	keys := []string{"", "a", "{", "}", "{}", "{}a", "a{b}c", "a{}b{c}", "{{a}}", "}{a}", "sluice:{user:42}:sw",
		"sluice:{}x}:fw", "sluice:{{u42}:login}:gcra", "ключ{тег}", "x{y"}
	rng := rand.New(rand.NewPCG(7, 7))
	for range 300 {
		b := make([]byte, rng.IntN(12))
		for i := range b {
			b[i] = "ab{}:x\x00\xff"[rng.IntN(8)]
		}
		keys = append(keys, string(b))
	}
	for _, k := range keys {
		want, err := client.Do(ctx, client.B().Arbitrary("CLUSTER", "KEYSLOT").Args(k).Build()).AsInt64()
		if err != nil {
			t.Fatal(err)
		}
		if got := slot(k); int64(got) != want {
			t.Errorf("slot(%q) = %d, Redis says %d", k, got, want)
		}
	}
}

// TestKeyLayout: the keys of one caller key share a slot whatever the
// algorithm, and "{tag}" prefixes put different keys in one slot.
func TestKeyLayout(t *testing.T) {
	s := &Store{prefix: "sluice:{"}
	if got := s.key("user:42", suffix(algorithm.GCRA)); got != "sluice:{user:42}:gcra" {
		t.Errorf("key layout: %q", got)
	}
	for _, k := range []string{"user:42", "a}b", "{t}x", "ключ"} {
		first := slot(s.key(k, suffix(algorithm.SlidingWindow)))
		for _, suf := range allSuffixes() {
			if sl := slot(s.key(k, suf)); sl != first {
				t.Errorf("key %q: %s in slot %d, sliding window in %d", k, suf, sl, first)
			}
		}
	}
	if slot(s.key("{u42}:login", "}:sw")) != slot(s.key("{u42}:api", "}:gcra")) {
		t.Error(`keys starting with the same "{tag}" are in different slots`)
	}
	s.run.cluster = true
	if g := s.groups([]string{s.key("{u42}:login", "}:sw"), s.key("{u42}:api", "}:gcra")}); len(g) != 1 {
		t.Errorf("tagged keys make %d script calls, want 1", len(g))
	}
}

// TestCrossSlotAllOrNothing: on a cluster, a check whose keys are in
// several slots and is denied by one leaves every other key exactly as it
// was: the same stored state, no key created.
func TestCrossSlotAllOrNothing(t *testing.T) {
	client := clusterClient(t)
	clock := storetest.NewClock(storetest.Epoch)
	s := newTestStore(t, client, Config{Now: clock.Now})
	ctx := context.Background()
	limits := []string{"5/10s fixed_window", "5/10s", "5/10s token_bucket", "5/10s gcra", "5/10s counter", "5/1d quota"}
	var reqs []store.Request
	for i, text := range limits {
		reqs = append(reqs, store.Request{Key: fmt.Sprintf("slot-%d", i), Limit: algorithm.MustParseLimit(text), Cost: 2})
	}
	keys := make([]string, len(reqs))
	for i, r := range reqs {
		keys[i] = s.key(r.Key, suffix(r.Limit.Algorithm))
	}
	if g := s.groups(keys); len(g) < 3 {
		t.Fatalf("the keys fall in only %d slots: the test does not test", len(g))
	}
	out := make([]algorithm.Decision, len(reqs)+1)
	// Some state to keep: one check allowed.
	if ok, err := s.TakeAll(ctx, reqs, out); err != nil || !ok {
		t.Fatalf("first check: %v, %v", ok, err)
	}
	clock.Advance(time.Second)
	before := stored(t, client, keys)

	// Denied by a fresh key in yet another slot: nothing may change, and
	// the fresh key must not be created.
	denied := append(append([]store.Request(nil), reqs...), store.Request{Key: "slot-deny", Limit: algorithm.MustParseLimit("1/10s fixed_window"), Cost: 2})
	ok, err := s.TakeAll(ctx, denied, out)
	if err != nil || ok {
		t.Fatalf("check with an impossible cost: %v, %v", ok, err)
	}
	if out[len(reqs)].Reason != algorithm.ReasonCostExceedsLimit {
		t.Errorf("the denying decision: %+v", out[len(reqs)])
	}
	for i, r := range reqs {
		want, _ := s.Take(ctx, r.Key, r.Limit, 0) // a read
		want.RetryAfter = 0
		if out[i] != want {
			t.Errorf("%s in a denied check: %+v, want a read of the key: %+v", limits[i], out[i], want)
		}
	}
	if after := stored(t, client, keys); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("a denied cross-slot check changed the stored states:\nbefore %v\nafter  %v", before, after)
	}
	if n, _ := client.Do(ctx, client.B().Exists().Key(s.key("slot-deny", suffix(algorithm.FixedWindow))).Build()).AsInt64(); n != 0 {
		t.Error("a denied cross-slot check created the denying key")
	}
}

// stored returns the values of keys.
func stored(t *testing.T, client rueidis.Client, keys []string) []string {
	t.Helper()
	vals := make([]string, len(keys))
	for i, k := range keys {
		v, err := client.Do(context.Background(), client.B().Get().Key(k).Build()).ToString()
		if err != nil && !rueidis.IsRedisNil(err) {
			t.Fatal(err)
		}
		vals[i] = v
	}
	return vals
}

// TestUndoAfterOthersUsedTheKey exercises undo.lua's second path: between
// the two round trips of a denied cross-slot check, another call used a key
// the check had taken from. Restoring the state from before would erase
// that call, so the check's cost is refunded instead.
func TestUndoAfterOthersUsedTheKey(t *testing.T) {
	client := clusterClient(t)
	clock := storetest.NewClock(storetest.Epoch)
	s := newTestStore(t, client, Config{Now: clock.Now})
	ctx := context.Background()
	for _, text := range []string{"5/10s fixed_window", "5/10s", "5/10s token_bucket", "5/10s gcra", "5/10s counter", "5/1d quota"} {
		l := algorithm.MustParseLimit(text)
		reqs := []store.Request{{Key: "undo:" + text, Limit: l, Cost: 2}}
		keys := []string{s.key(reqs[0].Key, suffix(l.Algorithm))}
		idx := []int{0}
		// Round trip 1 of a check: take 2.
		take := []call{s.takeCall(reqs, keys, idx, true)}
		s.run.run(ctx, take)
		if take[0].err != nil || take[0].reply[0] != 1 {
			t.Fatalf("%s: take: %v %v", text, take[0].reply, take[0].err)
		}
		// Someone else takes 1.
		if d, err := s.Take(ctx, reqs[0].Key, l, 1); err != nil || !d.Allowed {
			t.Fatalf("%s: other call: %+v %v", text, d, err)
		}
		// Round trip 2: undo the check's 2; the other call's 1 stays.
		undo := []call{s.undoCall(reqs, keys, idx, take[0].reply[1+decisionInts:])}
		s.run.run(ctx, undo)
		if undo[0].err != nil {
			t.Fatalf("%s: undo: %v", text, undo[0].err)
		}
		if d, err := s.Take(ctx, reqs[0].Key, l, 0); err != nil || d.Remaining != 4 {
			t.Errorf("%s: after the undo %+v (%v), want 4 remaining (the other call's 1 taken)", text, d, err)
		}
		// Undo of a check nobody interfered with restores exactly.
		take = []call{s.takeCall(reqs, keys, idx, true)}
		s.run.run(ctx, take)
		undo = []call{s.undoCall(reqs, keys, idx, take[0].reply[1+decisionInts:])}
		s.run.run(ctx, undo)
		if undo[0].err != nil {
			t.Fatalf("%s: undo: %v", text, undo[0].err)
		}
		if d, err := s.Take(ctx, reqs[0].Key, l, 0); err != nil || d.Remaining != 4 {
			t.Errorf("%s: after a clean undo %+v (%v), want 4 remaining", text, d, err)
		}
	}
}

// TestDifferentialWithMemory runs the same random calls (takes, reads,
// refunds, all-or-nothing checks over a few keys, resets, leases) on the
// memory store and on Redis, standalone and Cluster, and requires the very
// same decisions.
func TestDifferentialWithMemory(t *testing.T) {
	for _, deployment := range []struct {
		name   string
		client func(testing.TB) rueidis.Client
	}{{"standalone", standaloneClient}, {"cluster", clusterClient}} {
		t.Run(deployment.name, func(t *testing.T) {
			client := deployment.client(t)
			clock := storetest.NewClock(storetest.Epoch)
			red := newTestStore(t, client, Config{Now: clock.Now})
			mem := memory.New(memory.Config{Now: clock.Now, SweepInterval: -1})
			defer mem.Close()
			ctx := context.Background()
			rng := rand.New(rand.NewPCG(11, 13))
			texts := []string{"3/1s fixed_window", "4/1s", "3/1s token_bucket burst=5", "4/1s gcra", "3/2s counter", "6/1d quota tz=Europe/Berlin", "10/1s", "7/300ms gcra burst=2"}
			keys := []string{"a", "b", "{t}c", "{t}d", "e"}
			for step := range 3000 {
				clock.Advance(time.Duration(rng.IntN(4)) * time.Duration(rng.IntN(200)) * time.Millisecond)
				l := algorithm.MustParseLimit(texts[rng.IntN(len(texts))])
				key := keys[rng.IntN(len(keys))]
				what := ""
				var got, want any
				var gerr, werr error
				switch op := rng.IntN(20); {
				case op < 8:
					cost := int64(rng.IntN(4))
					what = fmt.Sprintf("take %s %d on %s", l, cost, key)
					got, gerr = red.Take(ctx, key, l, cost)
					want, werr = mem.Take(ctx, key, l, cost)
				case op < 10:
					amount := int64(rng.IntN(3))
					what = fmt.Sprintf("refund %s %d on %s", l, amount, key)
					got, gerr = red.Refund(ctx, key, l, amount)
					want, werr = mem.Refund(ctx, key, l, amount)
				case op < 17:
					n := 1 + rng.IntN(4)
					reqs := make([]store.Request, n)
					for i := range reqs {
						reqs[i] = store.Request{Key: keys[rng.IntN(len(keys))], Limit: algorithm.MustParseLimit(texts[rng.IntN(len(texts))]), Cost: int64(rng.IntN(3))}
					}
					what = fmt.Sprintf("take all %v", reqs)
					gout, wout := make([]algorithm.Decision, n), make([]algorithm.Decision, n)
					gok, err1 := red.TakeAll(ctx, reqs, gout)
					wok, err2 := mem.TakeAll(ctx, reqs, wout)
					got, want, gerr, werr = fmt.Sprint(gok, gout), fmt.Sprint(wok, wout), err1, err2
				case op < 18:
					what = "reset " + key
					gerr, werr = red.Reset(ctx, key), mem.Reset(ctx, key)
				default:
					id := fmt.Sprint("lease-", rng.IntN(4))
					if rng.IntN(3) == 0 {
						what = "release " + id + " on " + key
						gerr, werr = red.Release(ctx, key, id), mem.Release(ctx, key, id)
					} else {
						what = "acquire " + id + " on " + key
						got, gerr = red.Acquire(ctx, key, id, 2, 700*time.Millisecond)
						want, werr = mem.Acquire(ctx, key, id, 2, 700*time.Millisecond)
					}
				}
				if gerr != nil || werr != nil {
					t.Fatalf("step %d, %s: redis error %v, memory error %v", step, what, gerr, werr)
				}
				if fmt.Sprint(got) != fmt.Sprint(want) {
					t.Fatalf("step %d at %s, %s:\n  redis:  %+v\n  memory: %+v", step, clock.Now().Format(time.RFC3339Nano), what, got, want)
				}
			}
		})
	}
}
