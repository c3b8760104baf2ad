-- +goose Up
-- LastUsed finds a token's last event through the daily rollup (the
-- largest last_at of its totals rows, usage_daily's primary key) and the
-- index on at, so the index on (token_id, at) goes: it was a fourth B-tree
-- every event added to, for one query. BenchmarkAppendUsageBatch: 15% of
-- SQLite's CPU an event and 20% of PostgreSQL's.
DROP INDEX usage_events_token_id_at;
