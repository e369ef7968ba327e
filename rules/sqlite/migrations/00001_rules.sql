-- The rules table and its audit log. Timestamps are TEXT in UTC with
-- microseconds, fixed width (2006-01-02T15:04:05.000000Z), so they sort as
-- text. Booleans are 0 or 1.

-- +goose Up
CREATE TABLE rules (
    id             TEXT    NOT NULL PRIMARY KEY,
    key_type       TEXT    NOT NULL CHECK (key_type IN ('user_id', 'ip', 'api_key', 'route', 'plan', 'global')),
    key_value      TEXT    NOT NULL CHECK (length(key_value) > 0),
    method         TEXT    NOT NULL DEFAULT '',
    plan           TEXT    NOT NULL DEFAULT '',
    "limit"        INTEGER NOT NULL CHECK ("limit" > 0),
    window_seconds INTEGER NOT NULL CHECK (window_seconds > 0),
    algorithm      TEXT    NOT NULL,
    burst          INTEGER NOT NULL DEFAULT 0 CHECK (burst >= 0),
    enabled        INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    shadow         INTEGER NOT NULL DEFAULT 0 CHECK (shadow IN (0, 1)),
    priority       INTEGER NOT NULL DEFAULT 0,
    description    TEXT    NOT NULL DEFAULT '',
    created_at     TEXT    NOT NULL,
    updated_at     TEXT    NOT NULL,
    CONSTRAINT rules_key_unique UNIQUE (key_type, key_value, method, plan)
) STRICT;

CREATE INDEX rules_created_at ON rules (created_at, id);
CREATE INDEX rules_enabled ON rules (enabled, created_at, id);

-- Audit entries outlive the rules they describe: no foreign key.
CREATE TABLE rule_audit (
    id       INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    at       TEXT    NOT NULL,
    actor    TEXT    NOT NULL,
    action   TEXT    NOT NULL CHECK (action IN ('create', 'update', 'delete')),
    rule_id  TEXT    NOT NULL,
    "before" TEXT,
    "after"  TEXT
) STRICT;

CREATE INDEX rule_audit_rule_id ON rule_audit (rule_id, id);

-- +goose Down
DROP TABLE rule_audit;
DROP TABLE rules;
