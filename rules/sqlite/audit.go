package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"time"

	"github.com/google/uuid"

	"github.com/sluicehq/sluice/rules"
)

// insertAudit writes one audit entry in tx.
func insertAudit(ctx context.Context, tx *sql.Tx, at time.Time, actor, action, ruleID string, before, after *rules.Rule) error {
	b, err := ruleJSON(before)
	if err != nil {
		return err
	}
	a, err := ruleJSON(after)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO rule_audit (at, actor, action, rule_id, "before", "after")
		VALUES (?, ?, ?, ?, ?, ?)`, formatTime(at), actor, action, ruleID, b, a)
	return err
}

// ruleJSON returns r as JSON text, or NULL for nil.
func ruleJSON(r *rules.Rule) (sql.NullString, error) {
	if r == nil {
		return sql.NullString{}, nil
	}
	b, err := json.Marshal(r)
	if err != nil {
		return sql.NullString{}, fmt.Errorf("encode audit rule: %w", err)
	}
	return sql.NullString{String: string(b), Valid: true}, nil
}

func parseRuleJSON(s sql.NullString) (*rules.Rule, error) {
	if !s.Valid {
		return nil, nil
	}
	var r rules.Rule
	if err := json.Unmarshal([]byte(s.String), &r); err != nil {
		return nil, fmt.Errorf("decode audit rule: %w", err)
	}
	return &r, nil
}

// Audit returns audit entries; see rules.Repository.
func (r *Repo) Audit(ctx context.Context, ruleID string, limit int) ([]rules.AuditEntry, error) {
	limit, err := rules.AuditLimit(limit)
	if err != nil {
		return nil, wrap("audit", err)
	}
	query := `SELECT id, at, actor, action, rule_id, "before", "after" FROM rule_audit`
	args := []any{}
	if ruleID != "" {
		u, err := uuid.Parse(ruleID)
		if err != nil {
			return []rules.AuditEntry{}, nil // no rule has such an id
		}
		query += ` WHERE rule_id = ?`
		args = append(args, u.String())
	}
	query += ` ORDER BY id LIMIT ?`
	args = append(args, limit)
	rows, err := r.reader.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, wrap("audit", err)
	}
	defer rows.Close()
	entries := []rules.AuditEntry{}
	for rows.Next() {
		var e rules.AuditEntry
		var at string
		var before, after sql.NullString
		if err := rows.Scan(&e.ID, &at, &e.Actor, &e.Action, &e.RuleID, &before, &after); err != nil {
			return nil, wrap("audit", err)
		}
		if e.At, err = parseTime(at); err != nil {
			return nil, wrap("audit", err)
		}
		if e.Before, err = parseRuleJSON(before); err != nil {
			return nil, wrap("audit", err)
		}
		if e.After, err = parseRuleJSON(after); err != nil {
			return nil, wrap("audit", err)
		}
		entries = append(entries, e)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap("audit", err)
	}
	return entries, nil
}
