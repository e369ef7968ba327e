package policy_test

import (
	"github.com/sluicehq/sluice/config"
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestDocsSnippets checks that every Go snippet of docs/policies.md appears,
// line for line (leading white space aside), in example_test.go, where it
// compiles and runs.
func TestDocsSnippets(t *testing.T) {
	doc, err := os.ReadFile("../docs/policies.md")
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("example_test.go")
	if err != nil {
		t.Fatal(err)
	}
	examples := normalize(string(src))
	blocks := regexp.MustCompile("(?s)```go\n(.*?)```").FindAllStringSubmatch(string(doc), -1)
	if len(blocks) < 10 {
		t.Fatalf("only %d Go snippets in docs/policies.md", len(blocks))
	}
	for _, b := range blocks {
		if !strings.Contains(examples, normalize(b[1])) {
			t.Errorf("this snippet of docs/policies.md is not in example_test.go:\n%s", b[1])
		}
	}
}

// normalize trims every line and joins them with newlines.
func normalize(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimSpace(l)
	}
	return "\n" + strings.Join(lines, "\n") + "\n"
}

// TestDocsYAML checks that every YAML snippet of docs/policies.md is a
// valid configuration (routes naming policies defined elsewhere aside).
func TestDocsYAML(t *testing.T) {
	doc, err := os.ReadFile("../docs/policies.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(string(doc), -1)
	for _, b := range blocks {
		_, err := config.ParseFile("policies.md", []byte(b[1]))
		if err != nil && !strings.Contains(err.Error(), "no policy is named") {
			t.Errorf("%v\nin:\n%s", err, b[1])
		}
	}
}
