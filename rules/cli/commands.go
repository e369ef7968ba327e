package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/sluicehq/sluice/algorithm"
	"github.com/sluicehq/sluice/rules"
)

// common holds the flags every rules command takes.
type common struct {
	db     *string
	output *string
}

func addCommon(fs *flagSet) *common {
	c := &common{db: dbFlag(fs)}
	c.output = fs.String("output", "table", "output format: table or json")
	fs.Var(aliasFlag{fs.Lookup("output")}, "o", "short for --output")
	return c
}

// check validates the common flags.
func (c *common) check() error {
	if *c.output != "table" && *c.output != "json" {
		return usagef("--output must be table or json, got %q", *c.output)
	}
	return nil
}

// aliasFlag makes a second name for a flag.
type aliasFlag struct{ f *flag.Flag }

// String returns the aliased flag's value.
func (a aliasFlag) String() string {
	if a.f == nil {
		return ""
	}
	return a.f.Value.String()
}

// Set sets the aliased flag.
func (a aliasFlag) Set(s string) error { return a.f.Value.Set(s) }

// withRepo opens the database named by c, runs fn, and closes it.
func (c *common) withRepo(ctx context.Context, fn func(rules.Repository) error) error {
	if err := c.check(); err != nil {
		return err
	}
	repo, err := open(ctx, *c.db)
	if err != nil {
		return err
	}
	err = fn(repo)
	if cerr := repo.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("closing rules database: %w", cerr)
	}
	return err
}

// ruleID checks an id argument.
func ruleID(s string) (string, error) {
	id, err := uuid.Parse(s)
	if err != nil {
		return "", usagef("%q is not a rule id (ids are UUIDs, as shown by 'sluice rules list')", s)
	}
	return id.String(), nil
}

func cmdList(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlagSet("list", "Usage: sluice rules list [flags]\n\nList rules, oldest first, one page at a time (--all for every page).")
	c := addCommon(fs)
	keyType := fs.String("key-type", "", "only rules of this key type: user_id, ip, api_key, route, plan, global")
	keyValue := fs.String("key-value", "", "only rules with this key value")
	plan := fs.String("plan", "", "only rules scoped to this plan")
	enabled := fs.String("enabled", "", "only enabled (true) or disabled (false) rules")
	limit := fs.Int("limit", 0, fmt.Sprintf("page size, 1 to %d (default %d)", rules.MaxPageSize, rules.DefaultPageSize))
	cursor := fs.String("cursor", "", "continue after a previous page (its next_cursor)")
	all := fs.Bool("all", false, "fetch every page")
	if _, err := parse(fs, args, 0); err != nil {
		return err
	}
	f := rules.Filter{KeyType: rules.KeyType(*keyType), KeyValue: *keyValue, Plan: *plan, Limit: *limit, Cursor: *cursor}
	if *enabled != "" {
		b, err := strconv.ParseBool(*enabled)
		if err != nil {
			return usagef("--enabled must be true or false, got %q", *enabled)
		}
		f.Enabled = &b
	}
	if *limit < 0 || *limit > rules.MaxPageSize {
		return usagef("--limit must be between 1 and %d, got %d", rules.MaxPageSize, *limit)
	}
	if err := f.Validate(); err != nil {
		return err
	}
	return c.withRepo(ctx, func(repo rules.Repository) error {
		var page rules.Page
		for {
			p, err := repo.List(ctx, f)
			if err != nil {
				return err
			}
			page.Rules = append(page.Rules, p.Rules...)
			page.NextCursor = p.NextCursor
			if !*all || p.NextCursor == "" {
				break
			}
			f.Cursor = p.NextCursor
		}
		return printRules(stdout, *c.output, page)
	})
}

func cmdGet(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlagSet("get", "Usage: sluice rules get <id> [flags]\n\nShow one rule.")
	c := addCommon(fs)
	pos, err := parse(fs, args, 1, "the rule id")
	if err != nil {
		return err
	}
	id, err := ruleID(pos[0])
	if err != nil {
		return err
	}
	return c.withRepo(ctx, func(repo rules.Repository) error {
		r, err := repo.Get(ctx, id)
		if err != nil {
			return err
		}
		return printRule(stdout, *c.output, r)
	})
}

func cmdAdd(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlagSet("add", "Usage: sluice rules add --key-type TYPE --key-value VALUE --limit N --window SECONDS [flags]\n\n"+
		"Create a rule, such as:\n  sluice rules add --key-type ip --key-value 10.0.0.0/8 --limit 100 --window 60\n"+
		"  sluice rules add --key-type route --key-value /api/chat --method POST --limit 10/1m\n"+
		"  sluice rules add --key-type api_key --key-value '*' --limit 5000 --window 2592000 --algorithm quota --timezone Europe/Berlin")
	c := addCommon(fs)
	rf := addRuleFlags(fs, true)
	actor := fs.String("actor", "cli", "the name recorded in the audit log")
	if _, err := parse(fs, args, 0); err != nil {
		return err
	}
	p, err := rf.patch(fs)
	if err != nil {
		return err
	}
	r := p.Apply(rules.Rule{Enabled: true})
	if err := r.Validate(); err != nil {
		return err
	}
	return c.withRepo(ctx, func(repo rules.Repository) error {
		created, err := repo.Create(ctx, r, *actor)
		if err != nil {
			return err
		}
		return printRule(stdout, *c.output, created)
	})
}

func cmdUpdate(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlagSet("update", "Usage: sluice rules update <id> [flags]\n\n"+
		"Change the fields given as flags; the others stay. Such as:\n  sluice rules update 0190b1c2-7e4a-7c3d-9f00-6b1d2e3f4a5b --limit 200 --enabled=false")
	c := addCommon(fs)
	rf := addRuleFlags(fs, false)
	actor := fs.String("actor", "cli", "the name recorded in the audit log")
	pos, err := parse(fs, args, 1, "the rule id")
	if err != nil {
		return err
	}
	id, err := ruleID(pos[0])
	if err != nil {
		return err
	}
	p, err := rf.patch(fs)
	if err != nil {
		return err
	}
	if p == (rules.Patch{}) {
		return usagef("nothing to change: give at least one field flag, such as --limit 200\n%s", help(fs))
	}
	return c.withRepo(ctx, func(repo rules.Repository) error {
		updated, err := repo.Update(ctx, id, p, *actor)
		if err != nil {
			return err
		}
		return printRule(stdout, *c.output, updated)
	})
}

func cmdDelete(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlagSet("delete", "Usage: sluice rules delete <id> [--soft] [flags]\n\nRemove a rule, or keep it disabled with --soft.")
	c := addCommon(fs)
	soft := fs.Bool("soft", false, "disable the rule instead of removing it")
	actor := fs.String("actor", "cli", "the name recorded in the audit log")
	pos, err := parse(fs, args, 1, "the rule id")
	if err != nil {
		return err
	}
	id, err := ruleID(pos[0])
	if err != nil {
		return err
	}
	return c.withRepo(ctx, func(repo rules.Repository) error {
		if *soft {
			off := false
			r, err := repo.Update(ctx, id, rules.Patch{Enabled: &off}, *actor)
			if err != nil {
				return err
			}
			return printRule(stdout, *c.output, r)
		}
		if err := repo.Delete(ctx, id, *actor); err != nil {
			return err
		}
		if *c.output == "json" {
			return printJSON(stdout, map[string]string{"deleted": id})
		}
		_, err := fmt.Fprintf(stdout, "deleted %s\n", id)
		return err
	})
}

func cmdAudit(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlagSet("audit", "Usage: sluice rules audit <id> [flags]\n\nShow the changes made to a rule, oldest first, also after it was deleted.")
	c := addCommon(fs)
	limit := fs.Int("limit", 0, fmt.Sprintf("at most this many entries, 1 to %d (default 100)", rules.MaxAuditEntries))
	pos, err := parse(fs, args, 1, "the rule id")
	if err != nil {
		return err
	}
	id, err := ruleID(pos[0])
	if err != nil {
		return err
	}
	if *limit < 0 || *limit > rules.MaxAuditEntries {
		return usagef("--limit must be between 1 and %d, got %d", rules.MaxAuditEntries, *limit)
	}
	return c.withRepo(ctx, func(repo rules.Repository) error {
		entries, err := repo.Audit(ctx, id, *limit)
		if err != nil {
			return err
		}
		if len(entries) == 0 {
			if _, err := repo.Get(ctx, id); err != nil {
				return err
			}
		}
		return printAudit(stdout, *c.output, entries)
	})
}

// ruleFlags are the flags that set a rule's fields.
type ruleFlags struct {
	keyType, keyValue, method, plan, algorithm, description *string
	limit, window, timezone                                 *string
	burst                                                   *int64
	priority                                                *int
	enabled, shadow                                         *bool
}

func addRuleFlags(fs *flagSet, enabledDefault bool) *ruleFlags {
	return &ruleFlags{
		keyType:     fs.String("key-type", "", "what the key value is matched against: user_id, ip, api_key, route, plan, global"),
		keyValue:    fs.String("key-value", "", `the value: exact, "*", a CIDR for ip, a path pattern for route`),
		method:      fs.String("method", "", "route rules: only this HTTP method (empty: any)"),
		plan:        fs.String("plan", "", "only callers on this plan (empty: any)"),
		limit:       fs.String("limit", "", `requests allowed per window, or limit text such as "100/15m" or "10/1s token_bucket burst=20"`),
		window:      fs.String("window", "", `the window: seconds, or a duration such as "15m"`),
		algorithm:   fs.String("algorithm", "", "sliding_window (default), fixed_window, token_bucket, gcra, counter or quota"),
		burst:       fs.Int64("burst", 0, "token_bucket and gcra: calls that may pass at once (0: the limit)"),
		timezone:    fs.String("timezone", "", "quota: the IANA time zone its days, weeks and months begin in, such as Europe/Berlin (empty: UTC)"),
		priority:    fs.Int("priority", 0, "breaks ties between equally specific rules; higher wins"),
		enabled:     fs.Bool("enabled", enabledDefault, "whether the rule applies"),
		shadow:      fs.Bool("shadow", false, "evaluate and record the rule, but never block"),
		description: fs.String("description", "", "a note for people"),
	}
}

// patch returns the fields whose flags were given.
func (rf *ruleFlags) patch(fs *flagSet) (rules.Patch, error) {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var p rules.Patch
	if set["key-type"] {
		kt := rules.KeyType(*rf.keyType)
		p.KeyType = &kt
	}
	str := func(name string, v *string) *string {
		if set[name] {
			return v
		}
		return nil
	}
	p.KeyValue = str("key-value", rf.keyValue)
	p.Method = str("method", rf.method)
	p.Plan = str("plan", rf.plan)
	p.Algorithm = str("algorithm", rf.algorithm)
	p.TimeZone = str("timezone", rf.timezone)
	p.Description = str("description", rf.description)
	if set["burst"] {
		p.Burst = rf.burst
	}
	if set["priority"] {
		p.Priority = rf.priority
	}
	if set["enabled"] {
		p.Enabled = rf.enabled
	}
	if set["shadow"] {
		p.Shadow = rf.shadow
	}
	if set["window"] {
		w, err := parseWindow(*rf.window)
		if err != nil {
			return p, err
		}
		p.WindowSeconds = &w
	}
	if set["limit"] {
		if err := rf.applyLimit(&p, set); err != nil {
			return p, err
		}
	}
	return p, nil
}

// applyLimit sets the limit of p from --limit: a number, or limit text
// that also sets the window (and, when it names any of them, the
// algorithm, burst and time zone: "5000/1mo quota tz=Europe/Berlin").
func (rf *ruleFlags) applyLimit(p *rules.Patch, set map[string]bool) error {
	text := strings.TrimSpace(*rf.limit)
	if !strings.Contains(text, "/") {
		n, err := strconv.ParseInt(text, 10, 64)
		if err != nil {
			return usagef(`--limit must be a whole number or limit text such as "100/15m", got %q`, text)
		}
		p.Limit = &n
		return nil
	}
	if set["window"] {
		return usagef("--limit %q already names the window; drop --window", text)
	}
	l, err := algorithm.ParseLimit(text)
	if err != nil {
		return usagef("--limit: %v", err)
	}
	var w int64
	switch {
	case l.Algorithm == algorithm.Quota && l.Period == algorithm.Day:
		w = rules.QuotaDaySeconds
	case l.Algorithm == algorithm.Quota && l.Period == algorithm.Week:
		w = rules.QuotaWeekSeconds
	case l.Algorithm == algorithm.Quota && l.Period == algorithm.Month:
		w = rules.QuotaMonthSeconds
	case l.Window%time.Second != 0:
		return usagef("--limit: a rule's window is a whole number of seconds, got %s", l.Window)
	default:
		w = int64(l.Window / time.Second)
	}
	p.Limit, p.WindowSeconds = &l.Requests, &w
	if len(strings.Fields(text)) > 1 { // the text names the algorithm, burst or time zone
		if set["algorithm"] || set["burst"] || set["timezone"] {
			return usagef("--limit %q already names the algorithm; drop --algorithm, --burst and --timezone", text)
		}
		alg, tz := l.Algorithm.String(), ""
		if l.Location != nil {
			tz = l.Location.String()
		}
		p.Algorithm, p.Burst, p.TimeZone = &alg, &l.Burst, &tz
	} else if l.Algorithm == algorithm.Quota { // "5000/1mo": a calendar month is only a quota
		if set["algorithm"] {
			return usagef("--limit %q is a quota (a calendar month); drop --algorithm", text)
		}
		alg := l.Algorithm.String()
		p.Algorithm = &alg
	}
	return nil
}

// parseWindow reads --window: whole seconds, or a duration of whole seconds.
func parseWindow(s string) (int64, error) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d%time.Second != 0 {
		return 0, usagef(`--window must be whole seconds (60) or a duration of whole seconds (15m, 1h), got %q`, s)
	}
	return int64(d / time.Second), nil
}
