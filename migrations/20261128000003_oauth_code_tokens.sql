-- The bearer token an authorization code was exchanged for (its digest), so that a
-- replayed code revokes it (RFC 6749 §4.1.2: a code used twice may have been stolen).
ALTER TABLE oauth_codes ADD COLUMN token_hash BYTEA;
