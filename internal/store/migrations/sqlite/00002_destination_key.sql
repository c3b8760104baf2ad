-- +goose Up
-- A destination belongs to one token: finding its owner by key must not scan.
CREATE INDEX destinations_key ON destinations (key);
