package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sluicehq/sluice/rules"
)

// printJSON writes v as indented JSON.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// listJSON is the JSON form of a page of rules, as the admin API gives it.
type listJSON struct {
	Rules      []rules.Rule `json:"rules"`
	NextCursor string       `json:"next_cursor,omitempty"`
}

func printRules(w io.Writer, format string, page rules.Page) error {
	if format == "json" {
		out := listJSON{Rules: page.Rules, NextCursor: page.NextCursor}
		if out.Rules == nil {
			out.Rules = []rules.Rule{}
		}
		return printJSON(w, out)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tKEY_TYPE\tKEY_VALUE\tMETHOD\tPLAN\tLIMIT\tPRIORITY\tENABLED\tSHADOW")
	for _, r := range page.Rules {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%t\t%t\n",
			r.ID, r.KeyType, cell(r.KeyValue), cell(r.Method), cell(r.Plan), limitText(r), r.Priority, r.Enabled, r.Shadow)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if page.NextCursor != "" {
		_, err := fmt.Fprintf(w, "more rules: --cursor %s (or --all)\n", page.NextCursor)
		return err
	}
	return nil
}

func printRule(w io.Writer, format string, r rules.Rule) error {
	if format == "json" {
		return printJSON(w, r)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, row := range [][2]string{
		{"id", r.ID},
		{"key_type", string(r.KeyType)},
		{"key_value", r.KeyValue},
		{"method", cell(r.Method)},
		{"plan", cell(r.Plan)},
		{"limit", limitText(r)},
		{"priority", strconv.Itoa(r.Priority)},
		{"enabled", strconv.FormatBool(r.Enabled)},
		{"shadow", strconv.FormatBool(r.Shadow)},
		{"description", cell(r.Description)},
		{"created_at", r.CreatedAt.Format(time.RFC3339)},
		{"updated_at", r.UpdatedAt.Format(time.RFC3339)},
	} {
		fmt.Fprintf(tw, "%s:\t%s\n", row[0], row[1])
	}
	return tw.Flush()
}

func printAudit(w io.Writer, format string, entries []rules.AuditEntry) error {
	if format == "json" {
		if entries == nil {
			entries = []rules.AuditEntry{}
		}
		return printJSON(w, map[string]any{"entries": entries})
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "AT\tACTOR\tACTION\tCHANGE")
	for _, e := range entries {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", e.At.Format(time.RFC3339), cell(e.Actor), e.Action, change(e))
	}
	return tw.Flush()
}

// change summarizes an audit entry: the fields that changed.
func change(e rules.AuditEntry) string {
	switch {
	case e.Before == nil && e.After != nil:
		return fmt.Sprintf("%s %s %s", e.After.KeyType, e.After.KeyValue, limitText(*e.After))
	case e.After == nil && e.Before != nil:
		return fmt.Sprintf("%s %s %s", e.Before.KeyType, e.Before.KeyValue, limitText(*e.Before))
	case e.After == nil:
		return "-"
	}
	b, a := *e.Before, *e.After
	var parts []string
	diff := func(name, before, after string) {
		if before != after {
			parts = append(parts, fmt.Sprintf("%s %s→%s", name, cell(before), cell(after)))
		}
	}
	diff("key_type", string(b.KeyType), string(a.KeyType))
	diff("key_value", b.KeyValue, a.KeyValue)
	diff("method", b.Method, a.Method)
	diff("plan", b.Plan, a.Plan)
	diff("limit", limitText(b), limitText(a))
	diff("priority", strconv.Itoa(b.Priority), strconv.Itoa(a.Priority))
	diff("enabled", strconv.FormatBool(b.Enabled), strconv.FormatBool(a.Enabled))
	diff("shadow", strconv.FormatBool(b.Shadow), strconv.FormatBool(a.Shadow))
	diff("description", b.Description, a.Description)
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ", ")
}

// limitText writes a rule's limit as limit text, such as "100/1m".
func limitText(r rules.Rule) string {
	if l, err := r.AlgorithmLimit(); err == nil {
		return l.String()
	}
	return fmt.Sprintf("%d/%ds %s", r.Limit, r.WindowSeconds, r.Algorithm)
}

// cell shows an empty value as "-" and keeps tabs and newlines out of a
// table.
func cell(s string) string {
	if s == "" {
		return "-"
	}
	return strings.NewReplacer("\t", " ", "\n", " ", "\r", " ").Replace(s)
}
