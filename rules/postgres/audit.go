package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice/rules"
)

// insertAudit writes one audit entry in tx.
func insertAudit(ctx context.Context, tx pgx.Tx, at time.Time, actor, action, ruleID string, before, after *rules.Rule) error {
	b, err := ruleJSON(before)
	if err != nil {
		return err
	}
	a, err := ruleJSON(after)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `INSERT INTO rule_audit (at, actor, action, rule_id, "before", "after")
		VALUES ($1, $2, $3, $4, $5, $6)`, at, actor, action, ruleID, b, a)
	return err
}

// ruleJSON returns r as JSON, or nil (NULL) for nil.
func ruleJSON(r *rules.Rule) (any, error) {
	if r == nil {
		return nil, nil
	}
	b, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("encode audit rule: %w", err)
	}
	return b, nil
}

func parseRuleJSON(b []byte) (*rules.Rule, error) {
	if b == nil {
		return nil, nil
	}
	var r rules.Rule
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("decode audit rule: %w", err)
	}
	r.CreatedAt, r.UpdatedAt = r.CreatedAt.UTC(), r.UpdatedAt.UTC()
	return &r, nil
}

// Audit returns audit entries; see rules.Repository.
func (r *Repo) Audit(ctx context.Context, ruleID string, limit int) ([]rules.AuditEntry, error) {
	limit, err := rules.AuditLimit(limit)
	if err != nil {
		return nil, wrap("audit", err)
	}
	query := `SELECT id, at, actor, action, rule_id::text, "before", "after" FROM rule_audit`
	args := []any{}
	if ruleID != "" {
		u, err := uuid.Parse(ruleID)
		if err != nil {
			return []rules.AuditEntry{}, nil // no rule has such an id
		}
		query += ` WHERE rule_id = $1`
		args = append(args, u.String())
	}
	query += fmt.Sprintf(` ORDER BY id LIMIT %d`, limit)
	rows, err := r.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, wrap("audit", err)
	}
	entries, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (rules.AuditEntry, error) {
		var e rules.AuditEntry
		var before, after []byte
		if err := row.Scan(&e.ID, &e.At, &e.Actor, &e.Action, &e.RuleID, &before, &after); err != nil {
			return e, err
		}
		e.At = e.At.UTC()
		var err error
		if e.Before, err = parseRuleJSON(before); err != nil {
			return e, err
		}
		e.After, err = parseRuleJSON(after)
		return e, err
	})
	if err != nil {
		return nil, wrap("audit", err)
	}
	if entries == nil {
		entries = []rules.AuditEntry{}
	}
	return entries, nil
}
