-- +goose Up
-- The configuration API's change log (issue 15): every change of some
-- users' effective configuration gets the next store-wide sequence number.
-- user_id is the user whose own values changed, '' when a setting changed
-- (which changes every user's configuration); keys is a JSON array. The
-- log is pruned to about a day (registry.ConfigChangeKeep).
CREATE TABLE config_changes (
    seq     BIGINT PRIMARY KEY,
    user_id TEXT NOT NULL,
    keys    TEXT NOT NULL,
    at      BIGINT NOT NULL
);
CREATE INDEX config_changes_at ON config_changes (at);

-- The sequence head, kept apart from the log so that pruning never makes a
-- number come back.
CREATE TABLE config_head (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    seq BIGINT NOT NULL
);
INSERT INTO config_head (id, seq) VALUES (1, 0);

-- The latest change per user ('' for the settings), so that a user's
-- revision, max(own, settings), survives the pruning of the log.
CREATE TABLE config_revisions (
    user_id TEXT PRIMARY KEY,
    seq     BIGINT NOT NULL
);

-- A value declared by a tokenward_user_config resource: the API refuses to
-- change it, and the resource changes only these.
ALTER TABLE user_values ADD COLUMN managed BOOLEAN NOT NULL DEFAULT FALSE;
