-- +goose Up
-- Restrictions on where a token may be used from and how often, which
-- tokenward serve enforces: allowed_cidrs is a JSON array of canonical
-- CIDRs ('[]' allows any source); the rate limit is rate_limit_requests
-- uses per rate_limit_per nanoseconds, like the other durations (0, 0 is
-- no limit).
ALTER TABLE tokens ADD COLUMN allowed_cidrs TEXT NOT NULL DEFAULT '[]';
ALTER TABLE tokens ADD COLUMN rate_limit_requests BIGINT NOT NULL DEFAULT 0;
ALTER TABLE tokens ADD COLUMN rate_limit_per BIGINT NOT NULL DEFAULT 0;

-- The built-in scopes, tokenward:*, which every store has and tokenward
-- alone manages (registry.BuiltInScopes lists them; a test keeps the two in
-- step). A store that declared one itself gets the built-in description.
INSERT INTO scopes (name, description, created_at, updated_at)
VALUES ('tokenward:introspect', 'call tokenward serve''s introspection and verify endpoints',
        CAST(strftime('%s', 'now') AS BIGINT) * 1000000, CAST(strftime('%s', 'now') AS BIGINT) * 1000000)
ON CONFLICT (name) DO UPDATE SET description = excluded.description;
