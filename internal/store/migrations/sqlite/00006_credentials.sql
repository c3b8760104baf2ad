-- +goose Up
-- Credentials that another system issues (a database or Redis password) are
-- token records of another kind: kind is '' for a token tokenward mints and
-- 'credential' for one an issuer issues; issuer is the issuer's
-- configuration as JSON ('' for a token), which names the environment
-- variable of the admin DSN but never holds a secret. A credential's
-- version keeps the SHA-256 of its password in secret_hash, like a token's,
-- and the login user it was staged on in username ('' for a token).
ALTER TABLE tokens ADD COLUMN kind TEXT NOT NULL DEFAULT '';
ALTER TABLE tokens ADD COLUMN issuer TEXT NOT NULL DEFAULT '';
ALTER TABLE token_versions ADD COLUMN username TEXT NOT NULL DEFAULT '';
