-- +goose Up
-- The built-in scopes of the alerts and the configuration API (see
-- 00005 and registry.BuiltInScopes, which a test keeps in step).
INSERT INTO scopes (name, description, created_at, updated_at) VALUES
    ('tokenward:alerts-read', 'read the alerts tokenward serve''s detectors raised', CAST(strftime('%s', 'now') AS BIGINT) * 1000000, CAST(strftime('%s', 'now') AS BIGINT) * 1000000),
    ('tokenward:config-read', 'read any user''s configuration from tokenward serve', CAST(strftime('%s', 'now') AS BIGINT) * 1000000, CAST(strftime('%s', 'now') AS BIGINT) * 1000000),
    ('tokenward:config-read-sensitive', 'see sensitive configuration values (privileged)', CAST(strftime('%s', 'now') AS BIGINT) * 1000000, CAST(strftime('%s', 'now') AS BIGINT) * 1000000),
    ('tokenward:config-read-self', 'read the configuration of the user who owns the token', CAST(strftime('%s', 'now') AS BIGINT) * 1000000, CAST(strftime('%s', 'now') AS BIGINT) * 1000000),
    ('tokenward:config-write', 'write any user''s configuration through tokenward serve', CAST(strftime('%s', 'now') AS BIGINT) * 1000000, CAST(strftime('%s', 'now') AS BIGINT) * 1000000),
    ('tokenward:config-write-sensitive', 'write sensitive configuration values (privileged)', CAST(strftime('%s', 'now') AS BIGINT) * 1000000, CAST(strftime('%s', 'now') AS BIGINT) * 1000000),
    ('tokenward:config-write-self', 'write the configuration of the user who owns the token', CAST(strftime('%s', 'now') AS BIGINT) * 1000000, CAST(strftime('%s', 'now') AS BIGINT) * 1000000)
ON CONFLICT (name) DO UPDATE SET description = excluded.description;

