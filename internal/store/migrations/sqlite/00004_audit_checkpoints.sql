-- +goose Up
-- Signed checkpoints of the audit chain: key key_id signed that event seq
-- had hash hash (see internal/audit). A checkpoint names an event rather
-- than referencing it, so one left behind by events cut from the end of the
-- chain is still there to be reported.
CREATE TABLE audit_checkpoints (
    seq       BIGINT NOT NULL,
    hash      TEXT NOT NULL,
    at        BIGINT NOT NULL,
    key_id    TEXT NOT NULL,
    signature BLOB NOT NULL,
    PRIMARY KEY (seq, key_id)
);
CREATE INDEX audit_checkpoints_key ON audit_checkpoints (key_id, seq);

-- +goose StatementBegin
CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints
BEGIN
    SELECT RAISE(ABORT, 'audit checkpoints are append-only');
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints
BEGIN
    SELECT RAISE(ABORT, 'audit checkpoints are append-only');
END;
-- +goose StatementEnd
