package sluice_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestDocsGoPrograms runs every complete Go program (a ```go block that
// starts with "package main") in README.md and docs/*.md, so that the
// examples in the docs cannot rot.
func TestDocsGoPrograms(t *testing.T) {
	root, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob("docs/*.md")
	files = append([]string{"README.md"}, files...)
	block := regexp.MustCompile("(?s)```go\n(package main\n.*?)```")
	goSum, err := os.ReadFile("go.sum")
	if err != nil {
		t.Fatal(err)
	}
	programs := 0
	for _, f := range files {
		text, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, m := range block.FindAllStringSubmatch(string(text), -1) {
			programs++
			t.Run(f+"#"+string(rune('0'+i)), func(t *testing.T) {
				dir := t.TempDir()
				mod := "module docexample\n\ngo 1.26\n\nrequire github.com/sluicehq/sluice v0.0.0\n\nreplace github.com/sluicehq/sluice => " + root + "\n"
				write(t, filepath.Join(dir, "go.mod"), mod)
				write(t, filepath.Join(dir, "go.sum"), string(goSum))
				write(t, filepath.Join(dir, "main.go"), m[1])
				cmd := exec.Command("go", "run", ".")
				cmd.Dir = dir
				cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod")
				out, err := cmd.CombinedOutput()
				if err != nil {
					t.Fatalf("the program in %s does not run: %v\n%s\n%s", f, err, out, m[1])
				}
				if strings.TrimSpace(string(out)) == "" {
					t.Fatalf("the program in %s printed nothing", f)
				}
			})
		}
	}
	if programs == 0 {
		t.Fatal("no Go programs found in the docs")
	}
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
