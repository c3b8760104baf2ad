-- +goose Up
-- A destination belongs to one token (two would overwrite each other's
-- value, and destroying one would remove the other's); the registry names
-- the owner, and this index makes the store refuse a second one too.
CREATE UNIQUE INDEX destinations_key ON destinations (key);
