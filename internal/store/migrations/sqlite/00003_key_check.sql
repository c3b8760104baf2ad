-- +goose Up
-- A value sealed under the master key when the store was first opened, so a
-- wrong key is refused at once rather than at the first sealed record read.
CREATE TABLE key_check (
    id     INTEGER PRIMARY KEY CHECK (id = 1),
    sealed BLOB NOT NULL
);
