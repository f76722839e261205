-- The portal's search of an application's accounts by name ("alice", "example.com"):
-- a trigram index answers `account ILIKE '%…%'` without reading every account of the
-- application. pg_trgm ships with PostgreSQL (contrib) and is a trusted extension, so the
-- database's owner may create it.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX accounts_account_trgm_idx ON accounts USING gin (account gin_trgm_ops);
