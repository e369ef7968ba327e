package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestQuickstart(t *testing.T) {
	var out bytes.Buffer
	if err := run(&out); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	want := []string{
		"login alice #5 (5/15m)", "allowed=true  remaining=0",
		"login alice #6 (5/15m)", "reason=rate_limited",
		"chat u_123 #2", "allowed=true  remaining=0",
		"chat u_123 #3", "allowed=false remaining=0",
		"llm reserve 800 tokens", "remaining=200",
		"llm refund 500 unused tokens", "remaining=700",
		"failed login bob #4", "allowed=false remaining=0    retry_after=15m0s  reason=rate_limited",
		"bob after a successful login (reset)", "allowed=true  remaining=3",
	}
	for i := 0; i < len(want); i += 2 {
		found := false
		for _, l := range lines {
			if strings.HasPrefix(l, want[i]) {
				found = true
				if !strings.Contains(l, want[i+1]) {
					t.Errorf("line %q lacks %q", l, want[i+1])
				}
			}
		}
		if !found {
			t.Errorf("no line starts with %q in:\n%s", want[i], out.String())
		}
	}
}
