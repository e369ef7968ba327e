package policy

import (
	"strings"
	"testing"
)

func TestParseIncrements(t *testing.T) {
	got, err := parseIncrements([]string{"compute=5, requests=1", " tokens = 7 ,,", "bad", "x=1.5", "y=-1", "z=99999999999999999"})
	want := []increment{{"compute", 5}, {"requests", 1}, {"tokens", 7}}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("member %d = %v, want %v", i, got[i], want[i])
		}
	}
	for _, s := range []string{`"bad"`, `"x=1.5"`, `"y=-1"`, `"z=99999999999999999"`} {
		if err == nil || !strings.Contains(err.Error(), s) {
			t.Errorf("error %v does not name %s", err, s)
		}
	}
}

func FuzzIncrementsHeader(f *testing.F) {
	f.Add("compute=5, requests=1")
	f.Add("a=,=1,,b=1;x, c=00007")
	f.Add(strings.Repeat("a=1,", 100))
	f.Fuzz(func(t *testing.T, line string) {
		got, _ := parseIncrements([]string{line})
		if len(got) > maxIncrementMembers {
			t.Errorf("%d members", len(got))
		}
		for _, in := range got {
			if !validName(in.counter) || in.n < 0 || in.n > maxIncrement {
				t.Errorf("accepted %+v", in)
			}
		}
	})
}
