-- +goose Up
-- A honeytoken is a decoy: issued and delivered like any token, never
-- valid. tokenward serve and tokenward verify answer it as they answer an
-- unknown token, and its use raises the honeytoken_used alert. 0 for every
-- existing token: none was a decoy.
ALTER TABLE tokens ADD COLUMN honeytoken BOOLEAN NOT NULL DEFAULT FALSE;
