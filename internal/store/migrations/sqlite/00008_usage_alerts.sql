-- The usage log and the alerts (issue 14), apart from the audit chain.
-- Times are Unix microseconds, as in every table. PostgreSQL partitions
-- usage_events by day; SQLite keeps one table and prunes it in batches.

-- +goose Up
CREATE TABLE usage_events (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    at              BIGINT NOT NULL,
    token_id        TEXT NOT NULL DEFAULT '',
    token_name      TEXT NOT NULL DEFAULT '',
    version_id      TEXT NOT NULL DEFAULT '',
    fingerprint     TEXT NOT NULL DEFAULT '',
    code            TEXT NOT NULL,
    endpoint        TEXT NOT NULL DEFAULT '',
    source_ip       TEXT NOT NULL DEFAULT '',
    -- The source as 16 bytes (IPv4 mapped into IPv6), so a CIDR is a
    -- range of bytes on both engines; NULL when the source is unknown.
    source_key      BLOB,
    -- The source's /24 (IPv4) or /48 (IPv6), which the summary counts.
    network         TEXT NOT NULL DEFAULT '',
    user_agent      TEXT NOT NULL DEFAULT '',
    method          TEXT NOT NULL DEFAULT '',
    path            TEXT NOT NULL DEFAULT '',
    scopes_required TEXT NOT NULL DEFAULT '[]', -- a JSON array
    caller          TEXT NOT NULL DEFAULT '',
    instance        TEXT NOT NULL DEFAULT '',
    honeytoken      BOOLEAN NOT NULL DEFAULT FALSE
);
-- usage --token X --since D and the summary of one token; LastUsed; a
-- window over every token. Each index ends with the rowid (seq), which
-- breaks ties of at, newest first.
CREATE INDEX usage_events_token_at ON usage_events (token_name, at);
CREATE INDEX usage_events_token_id_at ON usage_events (token_id, at);
CREATE INDEX usage_events_at ON usage_events (at);

-- +goose StatementBegin
CREATE TRIGGER usage_events_no_update BEFORE UPDATE ON usage_events
BEGIN
    SELECT RAISE(ABORT, 'usage events are append-only');
END;
-- +goose StatementEnd

-- One row per alert a detector raised; acked_by and acked_at are the only
-- columns that change.
CREATE TABLE alerts (
    id         TEXT PRIMARY KEY,
    at         BIGINT NOT NULL,
    detector   TEXT NOT NULL,
    severity   TEXT NOT NULL CHECK (severity IN ('info', 'warn', 'high', 'critical')),
    token_id   TEXT NOT NULL DEFAULT '',
    token_name TEXT NOT NULL DEFAULT '',
    source_ip  TEXT NOT NULL DEFAULT '',
    network    TEXT NOT NULL DEFAULT '',
    detail     TEXT NOT NULL,
    evidence   TEXT NOT NULL DEFAULT '{}', -- a JSON object of strings
    acked_by   TEXT NOT NULL DEFAULT '',
    acked_at   BIGINT
);
CREATE INDEX alerts_at ON alerts (at);
