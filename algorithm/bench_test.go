package algorithm

import "testing"

// BenchmarkApply measures the arithmetic alone, with no store and no clock:
//
//	go test -run '^$' -bench Apply -benchmem ./algorithm
func BenchmarkApply(b *testing.B) {
	for _, text := range []string{"1000000000/1s", "1000000000/1s fixed_window", "1000000/1s token_bucket", "1000000/1s gcra", "1000000000/1s counter", "1000000000/1d quota"} {
		l := MustParseLimit(text)
		b.Run(text, func(b *testing.B) {
			var s State
			now := epoch
			for b.Loop() {
				now++
				if r := Apply(l, s, now, 1); r.Commit {
					s = r.State
				}
			}
		})
	}
}

// BenchmarkParseLimit measures parsing limit text, which the decision API
// does on every call that sends one.
func BenchmarkParseLimit(b *testing.B) {
	for _, text := range []string{"100/1m", "10/s token_bucket burst=20"} {
		b.Run(text, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ParseLimit(text); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
