package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/rules"
	"github.com/sluicehq/sluice/rules/cli"
	"github.com/sluicehq/sluice/rules/repotest"
)

// run runs a command line ("rules ..." or "migrate ...") and returns its
// exit code and output.
func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	ctx := context.Background()
	switch args[0] {
	case "rules":
		code = cli.Run(ctx, args[1:], &out, &errOut)
	case "migrate":
		code = cli.Migrate(ctx, args[1:], &out, &errOut)
	default:
		t.Fatalf("unknown command %q", args[0])
	}
	return code, out.String(), errOut.String()
}

// mustRun runs a command that must succeed and returns its stdout.
func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	code, out, errOut := run(t, args...)
	if code != cli.ExitOK {
		t.Fatalf("%q: exit %d: %s%s", args, code, errOut, out)
	}
	return out
}

// wantExit runs a command that must fail with code, its message holding want.
func wantExit(t *testing.T, code int, want string, args ...string) {
	t.Helper()
	got, out, errOut := run(t, args...)
	if got != code || !strings.Contains(errOut, want) {
		t.Errorf("%q: exit %d, stderr %q (stdout %q); want exit %d and %q", args, got, errOut, out, code, want)
	}
}

func TestRulesSQLite(t *testing.T) {
	testRules(t, filepath.Join(t.TempDir(), "rules.db"))
}

func TestRulesPostgres(t *testing.T) {
	testRules(t, repotest.PostgresURL(t))
}

func testRules(t *testing.T, db string) {
	if out := mustRun(t, "migrate", "--db", db); !strings.Contains(out, "up to date") {
		t.Errorf("migrate said %q", out)
	}
	mustRun(t, "migrate", "--db", db) // idempotent

	var r rules.Rule
	out := mustRun(t, "rules", "add", "--db", db, "--key-type", "ip", "--key-value", "10.1.2.3/8", "--limit", "100", "--window", "60", "-o", "json", "--description", "office")
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("add -o json: %v: %s", err, out)
	}
	if r.KeyValue != "10.0.0.0/8" || r.Limit != 100 || r.WindowSeconds != 60 || !r.Enabled {
		t.Errorf("added %+v", r)
	}
	// Limit text, a duration window, flags after positional arguments.
	out = mustRun(t, "rules", "add", "--key-type", "route", "--key-value", "/api/chat", "--method", "POST", "--limit", "10/1s token_bucket burst=20", "--db", db, "--shadow")
	for _, want := range []string{"route", "/api/chat", "POST", "10/1s token_bucket burst=20", "shadow:", "true"} {
		if !strings.Contains(out, want) {
			t.Errorf("add output lacks %q:\n%s", want, out)
		}
	}
	mustRun(t, "rules", "add", "--db", db, "--key-type", "user_id", "--key-value", "*", "--plan", "free", "--limit", "100", "--window", "15m")

	out = mustRun(t, "rules", "list", "--db", db)
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 4 || !strings.HasPrefix(lines[0], "ID") {
		t.Errorf("list table:\n%s", out)
	}
	var page struct {
		Rules      []rules.Rule `json:"rules"`
		NextCursor string       `json:"next_cursor"`
	}
	out = mustRun(t, "rules", "list", "--db", db, "--key-type", "user_id", "-o", "json")
	if err := json.Unmarshal([]byte(out), &page); err != nil || len(page.Rules) != 1 || page.Rules[0].WindowSeconds != 900 {
		t.Errorf("list --key-type user_id: %v %s", err, out)
	}
	out = mustRun(t, "rules", "list", "--db", db, "--limit", "1", "-o", "json")
	if err := json.Unmarshal([]byte(out), &page); err != nil || len(page.Rules) != 1 || page.NextCursor == "" {
		t.Errorf("list --limit 1: %v %s", err, out)
	}
	out = mustRun(t, "rules", "list", "--db", db, "--limit", "1", "--all", "-o", "json")
	page.NextCursor = ""
	if err := json.Unmarshal([]byte(out), &page); err != nil || len(page.Rules) != 3 || page.NextCursor != "" {
		t.Errorf("list --all: %v %s", err, out)
	}

	out = mustRun(t, "rules", "get", r.ID, "--db", db)
	if !strings.Contains(out, "10.0.0.0/8") || !strings.Contains(out, "office") {
		t.Errorf("get:\n%s", out)
	}
	out = mustRun(t, "rules", "update", r.ID, "--db", db, "--limit", "200", "--priority", "3", "-o", "json")
	var updated rules.Rule
	if err := json.Unmarshal([]byte(out), &updated); err != nil || updated.Limit != 200 || updated.Priority != 3 || updated.WindowSeconds != 60 {
		t.Errorf("update: %v %s", err, out)
	}
	out = mustRun(t, "rules", "delete", r.ID, "--soft", "--db", db, "-o", "json")
	if err := json.Unmarshal([]byte(out), &updated); err != nil || updated.Enabled {
		t.Errorf("delete --soft: %v %s", err, out)
	}
	out = mustRun(t, "rules", "list", "--db", db, "--enabled", "false", "-o", "json")
	if err := json.Unmarshal([]byte(out), &page); err != nil || len(page.Rules) != 1 || page.Rules[0].ID != r.ID {
		t.Errorf("list --enabled false: %v %s", err, out)
	}
	if out := mustRun(t, "rules", "delete", r.ID, "--db", db, "--actor", "alice"); !strings.Contains(out, "deleted "+r.ID) {
		t.Errorf("delete said %q", out)
	}
	wantExit(t, cli.ExitFailure, "not found", "rules", "get", r.ID, "--db", db)
	wantExit(t, cli.ExitFailure, "not found", "rules", "delete", r.ID, "--db", db)

	out = mustRun(t, "rules", "audit", r.ID, "--db", db)
	for _, want := range []string{"create", "update", "delete", "cli", "alice", "limit 100/1m→200/1m", "enabled true→false"} {
		if !strings.Contains(out, want) {
			t.Errorf("audit lacks %q:\n%s", want, out)
		}
	}
	var audit struct{ Entries []rules.AuditEntry }
	out = mustRun(t, "rules", "audit", r.ID, "--db", db, "-o", "json")
	if err := json.Unmarshal([]byte(out), &audit); err != nil || len(audit.Entries) != 4 {
		t.Errorf("audit -o json: %v %s", err, out)
	}

	// Bad input: exit 2 with a message saying what was wrong.
	wantExit(t, cli.ExitUsage, "--key-value: must not be empty", "rules", "add", "--db", db, "--key-type", "ip", "--limit", "1", "--window", "1")
	wantExit(t, cli.ExitUsage, "--window: must be between", "rules", "add", "--db", db, "--key-type", "ip", "--key-value", "*", "--limit", "1")
	wantExit(t, cli.ExitUsage, "--limit must be a whole number", "rules", "add", "--db", db, "--limit", "lots")
	wantExit(t, cli.ExitUsage, "--window must be whole seconds", "rules", "add", "--db", db, "--window", "1.5s")
	wantExit(t, cli.ExitUsage, "already names the window", "rules", "add", "--db", db, "--limit", "1/1s", "--window", "1")
	wantExit(t, cli.ExitUsage, "not a rule id", "rules", "get", "42", "--db", db)
	wantExit(t, cli.ExitUsage, "missing the rule id", "rules", "get", "--db", db)
	wantExit(t, cli.ExitUsage, "unexpected argument", "rules", "list", "extra", "--db", db)
	wantExit(t, cli.ExitUsage, "nothing to change", "rules", "update", r.ID, "--db", db)
	wantExit(t, cli.ExitUsage, "flag provided but not defined: -colour", "rules", "list", "--colour", "red", "--db", db)
	wantExit(t, cli.ExitUsage, "--output must be table or json", "rules", "list", "-o", "yaml", "--db", db)
	wantExit(t, cli.ExitUsage, "--enabled must be true or false", "rules", "list", "--enabled", "maybe", "--db", db)
	wantExit(t, cli.ExitFailure, "conflicting rule", "rules", "add", "--db", db, "--key-type", "route", "--key-value", "/api/chat/", "--method", "POST", "--limit", "1", "--window", "1")
}

// TestRulesTimeZone sets a quota's time zone with --timezone and in limit
// text, and shows it in the rule's limit.
func TestRulesTimeZone(t *testing.T) {
	db := filepath.Join(t.TempDir(), "rules.db")
	mustRun(t, "migrate", "--db", db)
	var r rules.Rule
	out := mustRun(t, "rules", "add", "--db", db, "--key-type", "api_key", "--key-value", "*", "--limit", "5000", "--window", "2592000",
		"--algorithm", "quota", "--timezone", "Europe/Berlin", "-o", "json")
	if err := json.Unmarshal([]byte(out), &r); err != nil || r.TimeZone != "Europe/Berlin" || r.Algorithm != "quota" {
		t.Fatalf("add --timezone: %v %s", err, out)
	}
	if out := mustRun(t, "rules", "list", "--db", db); !strings.Contains(out, "5000/1mo quota tz=Europe/Berlin") {
		t.Errorf("list does not show the time zone:\n%s", out)
	}
	if out := mustRun(t, "rules", "update", r.ID, "--db", db, "--timezone", "Asia/Tokyo"); !strings.Contains(out, "5000/1mo quota tz=Asia/Tokyo") {
		t.Errorf("update --timezone:\n%s", out)
	}
	// Limit text naming the algorithm sets the time zone too: UTC without tz=.
	out = mustRun(t, "rules", "update", r.ID, "--db", db, "--limit", "6000/1w quota", "-o", "json")
	var utc rules.Rule
	if err := json.Unmarshal([]byte(out), &utc); err != nil || utc.TimeZone != "" || utc.Limit != 6000 || utc.WindowSeconds != rules.QuotaWeekSeconds {
		t.Errorf("update --limit without tz=: %v %s", err, out)
	}
	out = mustRun(t, "rules", "add", "--db", db, "--key-type", "user_id", "--key-value", "*", "--limit", "100/1d tz=America/New_York", "-o", "json")
	r = rules.Rule{}
	if err := json.Unmarshal([]byte(out), &r); err != nil || r.TimeZone != "America/New_York" || r.Algorithm != "quota" || r.WindowSeconds != rules.QuotaDaySeconds {
		t.Errorf("add --limit with tz=: %v %s", err, out)
	}
	if out := mustRun(t, "rules", "audit", r.ID, "--db", db); !strings.Contains(out, "100/1d quota tz=America/New_York") {
		t.Errorf("audit does not show the time zone:\n%s", out)
	}

	// A calendar month alone is a quota, not 30 days of sliding window.
	out = mustRun(t, "rules", "add", "--db", db, "--key-type", "plan", "--key-value", "free", "--limit", "5000/1mo", "-o", "json")
	r = rules.Rule{}
	if err := json.Unmarshal([]byte(out), &r); err != nil || r.Algorithm != "quota" || r.WindowSeconds != rules.QuotaMonthSeconds {
		t.Errorf("add --limit 5000/1mo: %v %s", err, out)
	}
	wantExit(t, cli.ExitUsage, "is a quota (a calendar month); drop --algorithm", "rules", "add", "--db", db, "--key-type", "ip", "--key-value", "*",
		"--limit", "5/1mo", "--algorithm", "sliding_window")

	wantExit(t, cli.ExitUsage, "--timezone: must be an IANA time zone name", "rules", "add", "--db", db, "--key-type", "ip", "--key-value", "*",
		"--limit", "5", "--window", "86400", "--algorithm", "quota", "--timezone", "Mars/Olympus")
	wantExit(t, cli.ExitUsage, "--timezone: applies only to quota", "rules", "add", "--db", db, "--key-type", "ip", "--key-value", "*",
		"--limit", "5", "--window", "60", "--timezone", "Europe/Berlin")
	wantExit(t, cli.ExitUsage, "drop --algorithm, --burst and --timezone", "rules", "add", "--db", db, "--key-type", "ip", "--key-value", "*",
		"--limit", "5/1d tz=Europe/Berlin", "--timezone", "UTC")
}

func TestRulesUsage(t *testing.T) {
	wantExit(t, cli.ExitUsage, "Usage: sluice rules", "rules")
	wantExit(t, cli.ExitUsage, `unknown command "frobnicate"`, "rules", "frobnicate")
	if code, out, _ := run(t, "rules", "help"); code != 0 || !strings.Contains(out, "Commands:") {
		t.Errorf("help: %d %q", code, out)
	}
	if code, out, _ := run(t, "rules", "add", "-h"); code != 0 || !strings.Contains(out, "--key-type") {
		t.Errorf("add -h: %d %q", code, out)
	}
}

func TestRulesDBFromEnvironment(t *testing.T) {
	db := filepath.Join(t.TempDir(), "env.db")
	t.Setenv(cli.DBEnv, db)
	// No database yet: reading does not create one, and says how to.
	wantExit(t, cli.ExitFailure, "sluice migrate --db "+db, "rules", "list")
	mustRun(t, "migrate")
	mustRun(t, "rules", "add", "--key-type", "global", "--key-value", "*", "--limit", "1000", "--window", "1")
	if out := mustRun(t, "rules", "list", "--db", db); !strings.Contains(out, "global") {
		t.Errorf("the rule did not land in $%s:\n%s", cli.DBEnv, out)
	}
}
