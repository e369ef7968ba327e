package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/sluicehq/sluice/rules"
)

// timeLayout is how timestamps are stored: UTC, microseconds, fixed width,
// so that text order is time order.
const timeLayout = "2006-01-02T15:04:05.000000Z"

// ruleColumns lists the columns of a rule, in the order scanRule reads them
// and Create writes them.
const ruleColumns = `id, key_type, key_value, method, plan, "limit", window_seconds, algorithm, burst,
	timezone, enabled, shadow, priority, description, created_at, updated_at`

// queryer is what reads need: a *sql.DB or a *sql.Tx.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

func scanRule(s scanner) (rules.Rule, error) {
	var r rules.Rule
	var created, updated string
	err := s.Scan(&r.ID, &r.KeyType, &r.KeyValue, &r.Method, &r.Plan, &r.Limit, &r.WindowSeconds,
		&r.Algorithm, &r.Burst, &r.TimeZone, &r.Enabled, &r.Shadow, &r.Priority, &r.Description, &created, &updated)
	if err != nil {
		return rules.Rule{}, err
	}
	if r.CreatedAt, err = parseTime(created); err != nil {
		return rules.Rule{}, err
	}
	if r.UpdatedAt, err = parseTime(updated); err != nil {
		return rules.Rule{}, err
	}
	return r, nil
}

func formatTime(t time.Time) string { return t.UTC().Format(timeLayout) }

func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(timeLayout, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("stored timestamp %q: %w", s, err)
	}
	return t, nil
}

// nowUTC returns the clock's time in UTC at microsecond precision, the
// precision stored.
func (r *Repo) nowUTC() time.Time { return r.now().UTC().Truncate(time.Microsecond) }

// write runs fn in a write transaction (BEGIN IMMEDIATE on the single
// writer connection) and commits it.
func (r *Repo) write(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := r.writer.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// Create stores a new rule; see rules.Repository.
func (r *Repo) Create(ctx context.Context, rule rules.Rule, actor string) (rules.Rule, error) {
	if err := rules.ValidateActor(actor); err != nil {
		return rules.Rule{}, wrap("create rule", err)
	}
	if rule.ID == "" {
		id, err := uuid.NewV7()
		if err != nil {
			return rules.Rule{}, fmt.Errorf("sqlite: create rule: new id: %w", err)
		}
		rule.ID = id.String()
	}
	if err := rule.Validate(); err != nil {
		return rules.Rule{}, wrap("create rule", err)
	}
	rule = rule.Canonical()
	rule.CreatedAt = r.nowUTC()
	rule.UpdatedAt = rule.CreatedAt
	err := r.write(ctx, func(tx *sql.Tx) error {
		// The audit entry first: if the rule cannot be stored, the
		// transaction's rollback takes the entry with it.
		if err := insertAudit(ctx, tx, rule.CreatedAt, actor, rules.ActionCreate, rule.ID, nil, &rule); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO rules (`+ruleColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			rule.ID, string(rule.KeyType), rule.KeyValue, rule.Method, rule.Plan, rule.Limit, rule.WindowSeconds,
			rule.Algorithm, rule.Burst, rule.TimeZone, rule.Enabled, rule.Shadow, rule.Priority, rule.Description,
			formatTime(rule.CreatedAt), formatTime(rule.UpdatedAt))
		return err
	})
	if err != nil {
		return rules.Rule{}, wrap("create rule", conflict(err, rule))
	}
	return rule, nil
}

// conflict adds the colliding key to a uniqueness error's message.
func conflict(err error, r rules.Rule) error {
	if errors.Is(wrap("", err), rules.ErrConflict) {
		return fmt.Errorf("rule %s or key_type=%s key_value=%q method=%q plan=%q: %w",
			r.ID, r.KeyType, r.KeyValue, r.Method, r.Plan, err)
	}
	return err
}

// parseID returns the canonical form of id, or ErrNotFound when id is not
// a UUID (no rule can have it).
func parseID(id string) (string, error) {
	u, err := uuid.Parse(id)
	if err != nil {
		return "", fmt.Errorf("rule %q: %w", id, rules.ErrNotFound)
	}
	return u.String(), nil
}

func getRule(ctx context.Context, q queryer, id string) (rules.Rule, error) {
	rule, err := scanRule(q.QueryRowContext(ctx, `SELECT `+ruleColumns+` FROM rules WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return rules.Rule{}, fmt.Errorf("rule %s: %w", id, rules.ErrNotFound)
	}
	return rule, err
}

// Get returns the rule with the given id; see rules.Repository.
func (r *Repo) Get(ctx context.Context, id string) (rules.Rule, error) {
	id, err := parseID(id)
	if err != nil {
		return rules.Rule{}, wrap("get rule", err)
	}
	rule, err := getRule(ctx, r.reader, id)
	if err != nil {
		return rules.Rule{}, wrap("get rule", err)
	}
	return rule, nil
}

// List returns a page of rules; see rules.Repository.
func (r *Repo) List(ctx context.Context, f rules.Filter) (rules.Page, error) {
	if err := f.Validate(); err != nil {
		return rules.Page{}, wrap("list rules", err)
	}
	f = f.Canonical()
	var where []string
	var args []any
	if f.KeyType != "" {
		where, args = append(where, "key_type = ?"), append(args, string(f.KeyType))
	}
	if f.KeyValue != "" {
		where, args = append(where, "key_value = ?"), append(args, f.KeyValue)
	}
	if f.Plan != "" {
		where, args = append(where, "plan = ?"), append(args, f.Plan)
	}
	if f.Enabled != nil {
		where, args = append(where, "enabled = ?"), append(args, *f.Enabled)
	}
	if f.Cursor != "" {
		at, id, _ := rules.DecodeCursor(f.Cursor) // checked by Validate
		where, args = append(where, "(created_at, id) > (?, ?)"), append(args, formatTime(at), id)
	}
	query := `SELECT ` + ruleColumns + ` FROM rules`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, " AND ")
	}
	size := f.PageSize()
	query += ` ORDER BY created_at, id LIMIT ?`
	args = append(args, size+1)

	list, err := queryRules(ctx, r.reader, query, args...)
	if err != nil {
		return rules.Page{}, wrap("list rules", err)
	}
	var page rules.Page
	if len(list) > size {
		list = list[:size]
		last := list[size-1]
		page.NextCursor = rules.EncodeCursor(last.CreatedAt, last.ID)
	}
	page.Rules = list
	return page, nil
}

func queryRules(ctx context.Context, q queryer, query string, args ...any) ([]rules.Rule, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	list := []rules.Rule{}
	for rows.Next() {
		rule, err := scanRule(rows)
		if err != nil {
			return nil, err
		}
		list = append(list, rule)
	}
	return list, rows.Err()
}

// Update applies a patch; see rules.Repository.
func (r *Repo) Update(ctx context.Context, id string, p rules.Patch, actor string) (rules.Rule, error) {
	if err := rules.ValidateActor(actor); err != nil {
		return rules.Rule{}, wrap("update rule", err)
	}
	id, err := parseID(id)
	if err != nil {
		return rules.Rule{}, wrap("update rule", err)
	}
	var after rules.Rule
	err = r.write(ctx, func(tx *sql.Tx) error {
		before, err := getRule(ctx, tx, id)
		if err != nil {
			return err
		}
		after = p.Apply(before)
		if err := after.Validate(); err != nil {
			return err
		}
		after = after.Canonical()
		if after == before {
			return nil // nothing changes: no write, no audit entry
		}
		after.UpdatedAt = r.nowUTC()
		if !after.UpdatedAt.After(before.UpdatedAt) {
			after.UpdatedAt = before.UpdatedAt.Add(time.Microsecond)
		}
		if err := insertAudit(ctx, tx, after.UpdatedAt, actor, rules.ActionUpdate, id, &before, &after); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE rules SET key_type = ?, key_value = ?, method = ?, plan = ?,
			"limit" = ?, window_seconds = ?, algorithm = ?, burst = ?, timezone = ?, enabled = ?, shadow = ?,
			priority = ?, description = ?, updated_at = ? WHERE id = ?`,
			string(after.KeyType), after.KeyValue, after.Method, after.Plan, after.Limit, after.WindowSeconds,
			after.Algorithm, after.Burst, after.TimeZone, after.Enabled, after.Shadow, after.Priority, after.Description,
			formatTime(after.UpdatedAt), id)
		return conflict(err, after)
	})
	if err != nil {
		return rules.Rule{}, wrap("update rule", err)
	}
	return after, nil
}

// Delete removes a rule; see rules.Repository.
func (r *Repo) Delete(ctx context.Context, id string, actor string) error {
	if err := rules.ValidateActor(actor); err != nil {
		return wrap("delete rule", err)
	}
	id, err := parseID(id)
	if err != nil {
		return wrap("delete rule", err)
	}
	err = r.write(ctx, func(tx *sql.Tx) error {
		before, err := getRule(ctx, tx, id)
		if err != nil {
			return err
		}
		if err := insertAudit(ctx, tx, r.nowUTC(), actor, rules.ActionDelete, id, &before, nil); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM rules WHERE id = ?`, id)
		return err
	})
	return wrap("delete rule", err)
}

// Enabled returns every enabled rule; see rules.Repository.
func (r *Repo) Enabled(ctx context.Context) ([]rules.Rule, error) {
	list, err := queryRules(ctx, r.reader, `SELECT `+ruleColumns+` FROM rules WHERE enabled = 1 ORDER BY created_at, id`)
	if err != nil {
		return nil, wrap("enabled rules", err)
	}
	return list, nil
}
