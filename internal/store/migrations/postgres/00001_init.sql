-- Times are Unix microseconds, durations nanoseconds, in both engines.

-- +goose Up
CREATE TABLE scopes (
    name        TEXT PRIMARY KEY,
    description TEXT NOT NULL DEFAULT '',
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE roles (
    name        TEXT PRIMARY KEY,
    description TEXT NOT NULL DEFAULT '',
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE role_scopes (
    role  TEXT NOT NULL REFERENCES roles (name) ON DELETE CASCADE,
    scope TEXT NOT NULL REFERENCES scopes (name),
    PRIMARY KEY (role, scope)
);
CREATE INDEX role_scopes_scope ON role_scopes (scope);

CREATE TABLE tokens (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    owner         TEXT NOT NULL DEFAULT '',
    description   TEXT NOT NULL DEFAULT '',
    ttl           BIGINT NOT NULL,
    rotate_before BIGINT NOT NULL,
    overlap       BIGINT NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    -- A deleted token is kept, its versions revoked, so its old values
    -- verify as revoked and its history stays; its name may be reused.
    deleted_at    BIGINT
);
CREATE UNIQUE INDEX tokens_live_name ON tokens (name) WHERE deleted_at IS NULL;

CREATE TABLE token_scopes (
    token_id TEXT NOT NULL REFERENCES tokens (id) ON DELETE CASCADE,
    scope    TEXT NOT NULL REFERENCES scopes (name),
    PRIMARY KEY (token_id, scope)
);
CREATE INDEX token_scopes_scope ON token_scopes (scope);

CREATE TABLE token_roles (
    token_id TEXT NOT NULL REFERENCES tokens (id) ON DELETE CASCADE,
    role     TEXT NOT NULL REFERENCES roles (name),
    PRIMARY KEY (token_id, role)
);
CREATE INDEX token_roles_role ON token_roles (role);

CREATE TABLE token_versions (
    id           TEXT PRIMARY KEY,
    token_id     TEXT NOT NULL REFERENCES tokens (id) ON DELETE CASCADE,
    state        TEXT NOT NULL CHECK (state IN ('pending', 'current', 'previous', 'revoked')),
    secret_hash  BYTEA NOT NULL,
    fingerprint  TEXT NOT NULL,
    sealed_value BYTEA,
    created_at   BIGINT NOT NULL,
    activated_at BIGINT,
    expires_at   BIGINT NOT NULL,
    revoked_at   BIGINT
);
-- At most one pending, one current and one previous version per token.
CREATE UNIQUE INDEX token_versions_live ON token_versions (token_id, state) WHERE state <> 'revoked';
CREATE INDEX token_versions_token ON token_versions (token_id, created_at);

CREATE TABLE destinations (
    token_id TEXT NOT NULL REFERENCES tokens (id) ON DELETE CASCADE,
    key      TEXT NOT NULL,
    kind     TEXT NOT NULL,
    config   TEXT NOT NULL,
    position INTEGER NOT NULL,
    PRIMARY KEY (token_id, key)
);

CREATE TABLE deliveries (
    id          BIGSERIAL PRIMARY KEY,
    version_id  TEXT NOT NULL REFERENCES token_versions (id) ON DELETE CASCADE,
    destination TEXT NOT NULL,
    at          BIGINT NOT NULL,
    outcome     TEXT NOT NULL,
    detail      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX deliveries_version ON deliveries (version_id);

CREATE TABLE settings (
    key            TEXT PRIMARY KEY,
    type           TEXT NOT NULL,
    default_value  TEXT,
    sealed_default BYTEA,
    description    TEXT NOT NULL DEFAULT '',
    constraints    TEXT NOT NULL DEFAULT '{}',
    sensitive      BOOLEAN NOT NULL,
    user_editable  BOOLEAN NOT NULL,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);

CREATE TABLE user_values (
    user_id      TEXT NOT NULL,
    key          TEXT NOT NULL REFERENCES settings (key),
    value        TEXT,
    sealed_value BYTEA,
    updated_at   BIGINT NOT NULL,
    PRIMARY KEY (user_id, key)
);
CREATE INDEX user_values_key ON user_values (key);

CREATE TABLE audit_events (
    seq       BIGINT PRIMARY KEY,
    at        BIGINT NOT NULL,
    actor     TEXT NOT NULL,
    action    TEXT NOT NULL,
    subject   TEXT NOT NULL,
    outcome   TEXT NOT NULL,
    details   TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL
);

-- The end of the chain: one row, locked by every append so appends serialize.
CREATE TABLE audit_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  BIGINT NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

-- +goose StatementBegin
CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit events are append-only';
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER audit_events_no_change BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();

CREATE TABLE locks (
    name       TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
