-- Service credentials of an account, sealed with AES-256-GCM (see shared::crypto).
ALTER TABLE accounts ADD COLUMN secrets BYTEA;
