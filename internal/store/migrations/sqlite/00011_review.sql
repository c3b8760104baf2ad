-- The regular review (issue 17): privileged scopes, and the usage log's
-- daily rollup that tokenward report and review --store read instead of
-- scanning every event.

-- +goose Up
-- A privileged scope is one whose grant the pull-request review raises as
-- high and the policy may cap (max_privileged_scopes). No existing scope
-- was privileged.
ALTER TABLE scopes ADD COLUMN privileged BOOLEAN NOT NULL DEFAULT FALSE;

-- One row per token, UTC day and scope, kept by AppendUsage in the
-- transaction that appends the events, so a report over millions of events
-- reads thousands of rows. scope '' is the token's totals row: every event
-- of the token that day (uses) and those whose code is not valid
-- (failures). A row with a scope counts the day's valid verifications that
-- required that scope, so "granted but never required" and "used in the
-- last 7 days" are answered from it. last_at is the newest event counted;
-- token_name the name it had then. Events of no known token (token_id '')
-- are not rolled up. Retention prunes it with the events. A required scope
-- gets a row only when it is a valid scope name (store.ScopeNamePattern),
-- and one batch of AppendUsage adds at most 64 distinct scope rows a token
-- and day (the first it lists); the events past that count in the totals
-- row only. The endpoints refuse more than 32 required scopes a request,
-- but a wildcard grant such as billing:* is valid for billing:<anything>,
-- so without these bounds made-up scopes would each add a row.
-- WITHOUT ROWID: the rows live in the primary key's B-tree, so an upsert
-- finds and updates one B-tree, not the key's index and then the table.
CREATE TABLE usage_daily (
    token_id   TEXT NOT NULL,
    day        BIGINT NOT NULL, -- Unix microseconds of the UTC midnight
    scope      TEXT NOT NULL,
    token_name TEXT NOT NULL DEFAULT '',
    uses       BIGINT NOT NULL,
    failures   BIGINT NOT NULL DEFAULT 0,
    last_at    BIGINT NOT NULL,
    PRIMARY KEY (token_id, day, scope)
) WITHOUT ROWID;
CREATE INDEX usage_daily_day ON usage_daily (day);

-- The events logged before this migration, rolled up as AppendUsage would
-- have (an event that lists a scope twice counts once), except for the
-- bounds above: the backfill rolls up every scope the log holds.
INSERT INTO usage_daily (token_id, day, scope, token_name, uses, failures, last_at)
SELECT token_id, day, '', name, uses, failures, last FROM (
    SELECT token_id, (at / 86400000000) * 86400000000 AS day, COUNT(*) AS uses,
           SUM(CASE WHEN code <> 'valid' THEN 1 ELSE 0 END) AS failures, MAX(at) AS last, token_name AS name
    FROM usage_events WHERE token_id <> ''
    GROUP BY token_id, (at / 86400000000) * 86400000000
) t;
INSERT INTO usage_daily (token_id, day, scope, token_name, uses, failures, last_at)
SELECT token_id, day, scope, name, uses, 0, last FROM (
    SELECT e.token_id, (e.at / 86400000000) * 86400000000 AS day, j.value AS scope, COUNT(DISTINCT e.seq) AS uses,
           MAX(e.at) AS last, e.token_name AS name
    FROM usage_events e, json_each(e.scopes_required) j
    WHERE e.token_id <> '' AND e.code = 'valid' AND j.value <> ''
    GROUP BY e.token_id, (e.at / 86400000000) * 86400000000, j.value
) t;

-- The built-in scopes that show or write sensitive configuration values
-- are privileged (registry.BuiltInScopes lists them so).
UPDATE scopes SET privileged = TRUE
WHERE name IN ('tokenward:config-read-sensitive', 'tokenward:config-write-sensitive');
