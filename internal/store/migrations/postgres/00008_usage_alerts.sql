-- The usage log and the alerts (issue 14), apart from the audit chain.
-- Times are Unix microseconds, as in every table.

-- +goose Up
-- One row per verification. Partitioned by UTC day on at, so retention
-- drops whole partitions instead of deleting rows, and a team's volume
-- does not slow the store. The partitions are created ahead by
-- usage_events_partition (below). An event whose day has no partition yet
-- lands in the DEFAULT partition instead of failing: a server whose role
-- may not create partitions must still lose nothing, and the next
-- usage_events_partition of that day moves those rows into the new
-- partition (a DEFAULT partition holding rows of a day would otherwise
-- stop the day's partition from being created).
CREATE TABLE usage_events (
    seq             BIGSERIAL NOT NULL,
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
    source_key      BYTEA,
    -- The source's /24 (IPv4) or /48 (IPv6), which the summary counts.
    network         TEXT NOT NULL DEFAULT '',
    user_agent      TEXT NOT NULL DEFAULT '',
    method          TEXT NOT NULL DEFAULT '',
    path            TEXT NOT NULL DEFAULT '',
    scopes_required TEXT NOT NULL DEFAULT '[]', -- a JSON array
    caller          TEXT NOT NULL DEFAULT '',
    instance        TEXT NOT NULL DEFAULT '',
    honeytoken      BOOLEAN NOT NULL DEFAULT FALSE
) PARTITION BY RANGE (at);
CREATE TABLE usage_events_default PARTITION OF usage_events DEFAULT;
-- usage --token X --since D and the summary of one token; LastUsed; a
-- window over every token. seq breaks ties of at, newest first.
CREATE INDEX usage_events_token_at ON usage_events (token_name, at, seq);
CREATE INDEX usage_events_token_id_at ON usage_events (token_id, at, seq);
CREATE INDEX usage_events_at ON usage_events (at, seq);

-- +goose StatementBegin
CREATE FUNCTION usage_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'usage events are append-only';
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER usage_events_no_update BEFORE UPDATE ON usage_events
    FOR EACH ROW EXECUTE FUNCTION usage_events_append_only();

-- usage_events_partition creates the partition of the UTC day starting at
-- day_start (Unix microseconds) unless it exists, moving the day's rows out
-- of the DEFAULT partition first, and returns its name. It runs with the
-- rights of its owner (the role that ran this migration, which owns the
-- table), so a role granted EXECUTE on it may create partitions, and
-- nothing else: no CREATE on the schema, no ownership of the table.
-- Concurrent callers take turns on an advisory lock, so two processes
-- creating the same day never collide.
-- +goose StatementBegin
CREATE FUNCTION usage_events_partition(day_start BIGINT) RETURNS TEXT
LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
    day_end BIGINT := day_start + 86400000000;
    part    TEXT;
BEGIN
    IF day_start IS NULL OR day_start % 86400000000 <> 0 THEN
        RAISE EXCEPTION 'usage_events_partition: % is not the start of a UTC day in microseconds', day_start;
    END IF;
    part := 'usage_events_p' || to_char(to_timestamp(day_start / 1000000) AT TIME ZONE 'UTC', 'YYYYMMDD');
    PERFORM pg_advisory_xact_lock(hashtext('tokenward usage_events partitions'));
    IF EXISTS (SELECT 1 FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
               WHERE i.inhparent = 'usage_events'::regclass AND c.relname = part) THEN
        RETURN part;
    END IF;
    -- Writers of the DEFAULT partition wait until the day is attached: a
    -- row of the day they added after the move would fail the ATTACH.
    LOCK TABLE usage_events_default IN EXCLUSIVE MODE;
    EXECUTE format('CREATE TABLE %I (LIKE usage_events INCLUDING DEFAULTS)', part);
    EXECUTE format('WITH moved AS (DELETE FROM usage_events_default WHERE at >= %s AND at < %s RETURNING *) INSERT INTO %I SELECT * FROM moved',
        day_start, day_end, part);
    -- The check lets ATTACH skip scanning the new partition.
    EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I CHECK (at >= %s AND at < %s)', part, part || '_day', day_start, day_end);
    EXECUTE format('ALTER TABLE usage_events ATTACH PARTITION %I FOR VALUES FROM (%s) TO (%s)', part, day_start, day_end);
    RETURN part;
END;
$$;
-- +goose StatementEnd
REVOKE ALL ON FUNCTION usage_events_partition(BIGINT) FROM PUBLIC;

-- usage_events_drop_partition drops one day's partition, after counting
-- its rows and their time range under a lock that keeps late writers out,
-- so what retention reports is what it removed. Owner's rights, as above;
-- it drops nothing but a partition of usage_events.
-- +goose StatementBegin
CREATE FUNCTION usage_events_drop_partition(part TEXT, OUT removed BIGINT, OUT first_at BIGINT, OUT last_at BIGINT)
LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN
    IF part !~ '^usage_events_p[0-9]{8}$' OR NOT EXISTS (
        SELECT 1 FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'usage_events'::regclass AND c.relname = part) THEN
        RAISE EXCEPTION 'usage_events_drop_partition: % is not a day partition of usage_events', part;
    END IF;
    EXECUTE format('LOCK TABLE %I IN ACCESS EXCLUSIVE MODE', part);
    EXECUTE format('SELECT COUNT(*), MIN(at), MAX(at) FROM %I', part) INTO removed, first_at, last_at;
    EXECUTE format('DROP TABLE %I', part);
END;
$$;
-- +goose StatementEnd
REVOKE ALL ON FUNCTION usage_events_drop_partition(TEXT) FROM PUBLIC;

-- Both functions run with their owner's rights, so they must never find a
-- relation of the caller's: their search path is this schema and then
-- pg_temp, named last (left out, pg_temp would be searched first, and a
-- caller's temporary usage_events_default with a trigger would run that
-- trigger with the owner's rights).
-- +goose StatementBegin
DO $$
BEGIN
    EXECUTE format('ALTER FUNCTION usage_events_partition(BIGINT) SET search_path = %I, pg_temp', current_schema());
    EXECUTE format('ALTER FUNCTION usage_events_drop_partition(TEXT) SET search_path = %I, pg_temp', current_schema());
END;
$$;
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
