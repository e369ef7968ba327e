package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice/rules"
)

// ruleColumns lists the columns of a rule in the order scanRule reads them.
const ruleColumns = `id::text, key_type, key_value, method, plan, "limit", window_seconds, algorithm, burst,
	timezone, enabled, shadow, priority, description, created_at, updated_at`

func scanRule(row pgx.Row) (rules.Rule, error) {
	var r rules.Rule
	var keyType string
	err := row.Scan(&r.ID, &keyType, &r.KeyValue, &r.Method, &r.Plan, &r.Limit, &r.WindowSeconds,
		&r.Algorithm, &r.Burst, &r.TimeZone, &r.Enabled, &r.Shadow, &r.Priority, &r.Description, &r.CreatedAt, &r.UpdatedAt)
	if err != nil {
		return rules.Rule{}, err
	}
	r.KeyType = rules.KeyType(keyType)
	r.CreatedAt, r.UpdatedAt = r.CreatedAt.UTC(), r.UpdatedAt.UTC()
	return r, nil
}

// nowUTC returns the clock's time in UTC at microsecond precision, the
// precision of timestamptz.
func (r *Repo) nowUTC() time.Time { return r.now().UTC().Truncate(time.Microsecond) }

// write runs fn in a transaction that also notifies watchers of the change
// to rule id, and commits it.
func (r *Repo) write(ctx context.Context, action, id string, fn func(tx pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		return r.notify(ctx, tx, action, id)
	})
}

// Create stores a new rule; see rules.Repository.
func (r *Repo) Create(ctx context.Context, rule rules.Rule, actor string) (rules.Rule, error) {
	if err := rules.ValidateActor(actor); err != nil {
		return rules.Rule{}, wrap("create rule", err)
	}
	if rule.ID == "" {
		id, err := uuid.NewV7()
		if err != nil {
			return rules.Rule{}, fmt.Errorf("postgres: create rule: new id: %w", err)
		}
		rule.ID = id.String()
	}
	if err := rule.Validate(); err != nil {
		return rules.Rule{}, wrap("create rule", err)
	}
	rule = rule.Canonical()
	rule.CreatedAt = r.nowUTC()
	rule.UpdatedAt = rule.CreatedAt
	err := r.write(ctx, rules.ActionCreate, rule.ID, func(tx pgx.Tx) error {
		// The audit entry first: if the rule cannot be stored, the
		// transaction's rollback takes the entry with it.
		if err := insertAudit(ctx, tx, rule.CreatedAt, actor, rules.ActionCreate, rule.ID, nil, &rule); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO rules (id, key_type, key_value, method, plan, "limit", window_seconds,
			algorithm, burst, timezone, enabled, shadow, priority, description, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`,
			rule.ID, string(rule.KeyType), rule.KeyValue, rule.Method, rule.Plan, rule.Limit, rule.WindowSeconds,
			rule.Algorithm, rule.Burst, rule.TimeZone, rule.Enabled, rule.Shadow, rule.Priority, rule.Description,
			rule.CreatedAt, rule.UpdatedAt)
		return conflict(err, rule)
	})
	if err != nil {
		return rules.Rule{}, wrap("create rule", err)
	}
	return rule, nil
}

// conflict adds the colliding key to a uniqueness error's message.
func conflict(err error, r rules.Rule) error {
	if err != nil && errors.Is(wrap("", err), rules.ErrConflict) {
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

// getRule reads one rule; lock adds FOR UPDATE, for a change in tx.
func getRule(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, id string, lock bool) (rules.Rule, error) {
	query := `SELECT ` + ruleColumns + ` FROM rules WHERE id = $1`
	if lock {
		query += ` FOR UPDATE`
	}
	rule, err := scanRule(q.QueryRow(ctx, query, id))
	if errors.Is(err, pgx.ErrNoRows) {
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
	rule, err := getRule(ctx, r.pool, id, false)
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
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if f.KeyType != "" {
		where = append(where, "key_type = "+arg(string(f.KeyType)))
	}
	if f.KeyValue != "" {
		where = append(where, "key_value = "+arg(f.KeyValue))
	}
	if f.Plan != "" {
		where = append(where, "plan = "+arg(f.Plan))
	}
	if f.Enabled != nil {
		where = append(where, "enabled = "+arg(*f.Enabled))
	}
	if f.Cursor != "" {
		at, id, _ := rules.DecodeCursor(f.Cursor) // checked by Validate
		if _, err := uuid.Parse(id); err != nil {
			return rules.Page{}, wrap("list rules", &rules.ValidationError{Fields: []rules.FieldError{
				{Field: "cursor", Rule: "must be the next_cursor of a previous page"}}})
		}
		where = append(where, "(created_at, id) > ("+arg(at)+", "+arg(id)+"::uuid)")
	}
	query := `SELECT ` + ruleColumns + ` FROM rules`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, " AND ")
	}
	size := f.PageSize()
	query += ` ORDER BY created_at, id LIMIT ` + arg(size+1)

	list, err := r.queryRules(ctx, query, args...)
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

func (r *Repo) queryRules(ctx context.Context, query string, args ...any) ([]rules.Rule, error) {
	rows, err := r.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (rules.Rule, error) { return scanRule(row) })
	if err != nil {
		return nil, err
	}
	if list == nil {
		list = []rules.Rule{}
	}
	return list, nil
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
	err = pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
		before, err := getRule(ctx, tx, id, true)
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
		_, err = tx.Exec(ctx, `UPDATE rules SET key_type = $1, key_value = $2, method = $3, plan = $4,
			"limit" = $5, window_seconds = $6, algorithm = $7, burst = $8, timezone = $9, enabled = $10,
			shadow = $11, priority = $12, description = $13, updated_at = $14 WHERE id = $15`,
			string(after.KeyType), after.KeyValue, after.Method, after.Plan, after.Limit, after.WindowSeconds,
			after.Algorithm, after.Burst, after.TimeZone, after.Enabled, after.Shadow, after.Priority, after.Description,
			after.UpdatedAt, id)
		if err != nil {
			return conflict(err, after)
		}
		return r.notify(ctx, tx, rules.ActionUpdate, id)
	})
	if err != nil {
		return rules.Rule{}, wrap("update rule", err)
	}
	return after, nil
}

// notify sends the change notification in tx: PostgreSQL delivers it to
// the listeners when, and only if, the transaction commits.
func (r *Repo) notify(ctx context.Context, tx pgx.Tx, action, id string) error {
	_, err := tx.Exec(ctx, `SELECT pg_notify($1, $2)`, r.channel, action+" "+id)
	return err
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
	err = r.write(ctx, rules.ActionDelete, id, func(tx pgx.Tx) error {
		before, err := getRule(ctx, tx, id, true)
		if err != nil {
			return err
		}
		if err := insertAudit(ctx, tx, r.nowUTC(), actor, rules.ActionDelete, id, &before, nil); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `DELETE FROM rules WHERE id = $1`, id)
		return err
	})
	return wrap("delete rule", err)
}

// Enabled returns every enabled rule; see rules.Repository.
func (r *Repo) Enabled(ctx context.Context) ([]rules.Rule, error) {
	list, err := r.queryRules(ctx, `SELECT `+ruleColumns+` FROM rules WHERE enabled ORDER BY created_at, id`)
	if err != nil {
		return nil, wrap("enabled rules", err)
	}
	return list, nil
}
