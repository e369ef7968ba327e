-- The rules table and its audit log, in the schema first on the
-- connection's search_path.

-- +goose Up
CREATE TABLE rules (
    id             uuid        NOT NULL PRIMARY KEY,
    key_type       text        NOT NULL CHECK (key_type IN ('user_id', 'ip', 'api_key', 'route', 'plan', 'global')),
    key_value      text        NOT NULL CHECK (key_value <> ''),
    method         text        NOT NULL DEFAULT '',
    plan           text        NOT NULL DEFAULT '',
    "limit"        bigint      NOT NULL CHECK ("limit" > 0),
    window_seconds bigint      NOT NULL CHECK (window_seconds > 0),
    algorithm      text        NOT NULL,
    burst          bigint      NOT NULL DEFAULT 0 CHECK (burst >= 0),
    enabled        boolean     NOT NULL DEFAULT true,
    shadow         boolean     NOT NULL DEFAULT false,
    priority       bigint      NOT NULL DEFAULT 0,
    description    text        NOT NULL DEFAULT '',
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL,
    CONSTRAINT rules_key_unique UNIQUE (key_type, key_value, method, plan)
);

CREATE INDEX rules_created_at ON rules (created_at, id);
CREATE INDEX rules_enabled ON rules (created_at, id) WHERE enabled;

-- Audit entries outlive the rules they describe: no foreign key.
CREATE TABLE rule_audit (
    id       bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at       timestamptz NOT NULL,
    actor    text        NOT NULL,
    action   text        NOT NULL CHECK (action IN ('create', 'update', 'delete')),
    rule_id  uuid        NOT NULL,
    "before" jsonb,
    "after"  jsonb
);

CREATE INDEX rule_audit_rule_id ON rule_audit (rule_id, id);

-- +goose Down
DROP TABLE rule_audit;
DROP TABLE rules;
