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
    signature BYTEA NOT NULL,
    PRIMARY KEY (seq, key_id)
);
CREATE INDEX audit_checkpoints_key ON audit_checkpoints (key_id, seq);

-- +goose StatementBegin
CREATE FUNCTION audit_checkpoints_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit checkpoints are append-only';
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER audit_checkpoints_no_change BEFORE UPDATE OR DELETE ON audit_checkpoints
    FOR EACH ROW EXECUTE FUNCTION audit_checkpoints_append_only();
