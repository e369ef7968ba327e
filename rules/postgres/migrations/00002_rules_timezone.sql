-- The time zone of a quota rule's calendar periods: an IANA name such as
-- Europe/Berlin, or '' for UTC (every rule before this version).

-- +goose Up
ALTER TABLE rules ADD COLUMN timezone text NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE rules DROP COLUMN timezone;
