package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestDispatch(t *testing.T) {
	tests := []struct {
		args     []string
		code     int
		inStdout string
		inStderr string
	}{
		{nil, 2, "", "Usage: sluice <command>"},
		{[]string{"help"}, 0, "rules", ""},
		{[]string{"frobnicate"}, 2, "", `unknown command "frobnicate"`},
		{[]string{"version"}, 0, "sluice ", ""},
		{[]string{"version", "extra"}, 2, "", "takes no arguments"},
		{[]string{"rules"}, 2, "", "Usage: sluice rules"},
		{[]string{"migrate", "-h"}, 0, "--db", ""},
	}
	for _, tt := range tests {
		var out, errOut bytes.Buffer
		code := run(context.Background(), tt.args, &out, &errOut)
		if code != tt.code || !strings.Contains(out.String(), tt.inStdout) || !strings.Contains(errOut.String(), tt.inStderr) {
			t.Errorf("sluice %q: exit %d, stdout %q, stderr %q; want exit %d, %q, %q",
				tt.args, code, out.String(), errOut.String(), tt.code, tt.inStdout, tt.inStderr)
		}
	}
}

// TestBinary builds the sluice binary and runs it as a user would.
func TestBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "sluice")
	if runtime.GOOS == "windows" {
		bin += ".exe"
	}
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	db := filepath.Join(dir, "rules.db")
	sluice := func(args ...string) (int, string, string) {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(cmd.Environ(), "SLUICE_RULES_DB="+db)
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err := cmd.Run()
		var exit *exec.ExitError
		switch {
		case errors.As(err, &exit):
			return exit.ExitCode(), out.String(), errOut.String()
		case err != nil:
			t.Fatalf("run %q: %v", args, err)
		}
		return 0, out.String(), errOut.String()
	}

	if code, out, _ := sluice("version"); code != 0 || !strings.HasPrefix(out, "sluice ") {
		t.Errorf("version: %d %q", code, out)
	}
	if code, _, errOut := sluice("migrate"); code != 0 {
		t.Fatalf("migrate: %d %s", code, errOut)
	}
	code, out, errOut := sluice("rules", "add", "--key-type", "ip", "--key-value", "10.0.0.0/8", "--limit", "100", "--window", "60", "-o", "json")
	var rule struct{ ID, KeyValue string }
	if code != 0 || json.Unmarshal([]byte(out), &rule) != nil || rule.ID == "" {
		t.Fatalf("rules add: %d %q %s", code, out, errOut)
	}
	if code, out, _ := sluice("rules", "list"); code != 0 || !strings.Contains(out, rule.ID) {
		t.Errorf("rules list: %d\n%s", code, out)
	}
	if code, _, errOut := sluice("rules", "add", "--key-type", "ip", "--key-value", "10.0.0.300", "--limit", "1", "--window", "1"); code != 2 || !strings.Contains(errOut, "--key-value") {
		t.Errorf("invalid rule: exit %d, %q; want 2 naming --key-value", code, errOut)
	}
	if code, _, _ := sluice("nope"); code != 2 {
		t.Errorf("unknown command: exit %d, want 2", code)
	}
}
