// Package cli is the command-line interface to the rules: the body of
// `sluice rules ...` and `sluice migrate`, kept out of cmd/sluice so that
// it runs in tests without a subprocess. Like cmd/sluice it reads the
// environment (SLUICE_RULES_DB) and opens database files.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"

	"github.com/sluicehq/sluice/rules"
	"github.com/sluicehq/sluice/rules/rulesdb"
)

// Exit codes of Run and Migrate.
const (
	ExitOK      = 0 // success
	ExitFailure = 1 // the command failed: database unreachable, rule not found, conflict
	ExitUsage   = 2 // bad input: unknown command or flag, invalid value or rule
)

// DBEnv names the environment variable holding the default rules database.
const DBEnv = "SLUICE_RULES_DB"

// ServeDBEnv is the variable sluice serve takes its rules database from
// (config field rules.database); the CLI reads it when DBEnv is unset, so
// that both find the same database.
const ServeDBEnv = "SLUICE_RULES_DATABASE"

// DefaultDB is the rules database when neither --db nor SLUICE_RULES_DB is
// given: a SQLite file in the working directory.
const DefaultDB = "./sluice.db"

// usageError is bad input; Run exits with ExitUsage.
type usageError struct{ msg string }

// Error returns the message.
func (e *usageError) Error() string { return e.msg }

// helpRequest is -h: Run prints the text to stdout and exits with ExitOK.
type helpRequest struct{ text string }

// Error says help was asked for.
func (e *helpRequest) Error() string { return "help requested" }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

const rulesUsage = `Usage: sluice rules <command> [flags]

Manage the rate-limit rules in the rules database.

Commands:
  list                 list rules (filters: --key-type --key-value --plan --enabled; pages: --limit --cursor --all)
  get <id>             show one rule
  add                  create a rule: --key-type --key-value --limit --window [...]
  update <id>          change the fields given as flags
  delete <id>          remove a rule, or disable it with --soft
  audit <id>           show the changes made to a rule

Every command takes --db (a SQLite file or a postgres:// URL; default
$SLUICE_RULES_DB or ./sluice.db) and -o/--output table|json.
Run 'sluice rules <command> -h' for the flags of a command.
Exit status: 0 success, 1 failure, 2 bad input.
`

// Run runs `sluice rules` with args (the words after "rules"), writing
// results to stdout and messages to stderr, and returns the exit code:
// ExitOK, ExitFailure, or ExitUsage for bad input.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, rulesUsage)
		return ExitUsage
	}
	cmd, rest := args[0], args[1:]
	var run func(context.Context, []string, io.Writer) error
	switch cmd {
	case "list", "ls":
		run = cmdList
	case "get", "show":
		run = cmdGet
	case "add", "create":
		run = cmdAdd
	case "update", "set":
		run = cmdUpdate
	case "delete", "rm":
		run = cmdDelete
	case "audit":
		run = cmdAudit
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, rulesUsage)
		return ExitOK
	default:
		fmt.Fprintf(stderr, "sluice rules: unknown command %q\n\n%s", cmd, rulesUsage)
		return ExitUsage
	}
	return report(stdout, stderr, "sluice rules "+cmd, run(ctx, rest, stdout))
}

// Migrate runs `sluice migrate [--db ...]`: it creates the rules database
// if needed and brings its schema up to date.
func Migrate(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return report(stdout, stderr, "sluice migrate", func() error {
		fs := newFlagSet("migrate", "Usage: sluice migrate [--db DSN]\n\nCreate the rules database if needed and bring its schema up to date.")
		db := dbFlag(fs)
		if _, err := parse(fs, args, 0); err != nil {
			return err
		}
		if err := rulesdb.Migrate(ctx, *db); err != nil {
			return fmt.Errorf("migrating %s: %w", redact(*db), err)
		}
		fmt.Fprintf(stdout, "rules database %s is up to date\n", redact(*db))
		return nil
	}())
}

// report prints err, if any, and returns the exit code it calls for.
func report(stdout, stderr io.Writer, prefix string, err error) int {
	if err == nil {
		return ExitOK
	}
	var hr *helpRequest
	var ue *usageError
	var ve *rules.ValidationError
	switch {
	case errors.As(err, &hr):
		fmt.Fprintln(stdout, hr.text)
		return ExitOK
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "%s: %s\n", prefix, ue.msg)
		return ExitUsage
	case errors.As(err, &ve):
		fmt.Fprintf(stderr, "%s: the rule is not valid:\n", prefix)
		for _, f := range ve.Fields {
			fmt.Fprintf(stderr, "  %s: %s\n", flagName(f.Field), f.Rule)
		}
		return ExitUsage
	case errors.Is(err, rules.ErrInvalid), errors.Is(err, rulesdb.ErrDSN):
		fmt.Fprintf(stderr, "%s: %v\n", prefix, err)
		return ExitUsage
	}
	fmt.Fprintf(stderr, "%s: %v\n", prefix, err)
	return ExitFailure
}

// flagName returns the flag that sets a rule's field, or the field's name
// when no flag does (id, actor).
func flagName(field string) string {
	switch field {
	case "window_seconds":
		return "--window"
	case "key_type", "key_value", "method", "plan", "limit", "algorithm", "burst", "timezone", "enabled", "shadow", "priority", "description", "cursor":
		return "--" + strings.ReplaceAll(field, "_", "-")
	}
	return field
}

// flagSet is a command's flags and usage text; it reports errors instead
// of exiting.
type flagSet struct {
	*flag.FlagSet
	usage string
}

func newFlagSet(name, usage string) *flagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return &flagSet{FlagSet: fs, usage: usage}
}

// dbFlag adds --db, defaulting to $SLUICE_RULES_DB, then to
// $SLUICE_RULES_DATABASE (the variable sluice serve reads), then DefaultDB.
func dbFlag(fs *flagSet) *string {
	def := os.Getenv(DBEnv)
	if def == "" {
		def = os.Getenv(ServeDBEnv)
	}
	if def == "" {
		def = DefaultDB
	}
	return fs.String("db", def, "the rules database: a SQLite file or a postgres:// URL (env "+DBEnv+")")
}

// parse parses flags and positional arguments in any order, and checks
// that exactly npos positional arguments were given. -h returns a usage
// error holding the command's help.
func parse(fs *flagSet, args []string, npos int, posNames ...string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, &helpRequest{text: help(fs)}
			}
			return nil, usagef("%v\n%s", err, help(fs))
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	if len(pos) != npos {
		if len(pos) < npos {
			return nil, usagef("missing %s\n%s", strings.Join(posNames[len(pos):], " and "), help(fs))
		}
		return nil, usagef("unexpected argument %q\n%s", pos[npos], help(fs))
	}
	return pos, nil
}

// help returns the usage text of a flag set with its flags.
func help(fs *flagSet) string {
	var b strings.Builder
	b.WriteString(fs.usage)
	b.WriteString("\n\nFlags:\n")
	fs.VisitAll(func(f *flag.Flag) {
		name, usage := flag.UnquoteUsage(f)
		fmt.Fprintf(&b, "  --%s %s\n    \t%s", f.Name, name, usage)
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" {
			fmt.Fprintf(&b, " (default %q)", f.DefValue)
		}
		b.WriteByte('\n')
	})
	return strings.TrimRight(b.String(), "\n")
}

// open opens the rules database without changing its schema.
func open(ctx context.Context, dsn string) (rules.Repository, error) {
	repo, err := rulesdb.Open(ctx, dsn, rulesdb.Options{})
	if err != nil {
		hint := ""
		if errors.Is(err, rules.ErrNotMigrated) || errors.Is(err, os.ErrNotExist) {
			hint = fmt.Sprintf(" (run: sluice migrate --db %s)", redact(dsn))
		}
		return nil, fmt.Errorf("opening rules database %s: %w%s", redact(dsn), err, hint)
	}
	return repo, nil
}

// redact hides the password of a database URL.
func redact(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && u.User != nil {
		return u.Redacted()
	}
	return dsn
}
