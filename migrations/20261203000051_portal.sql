-- The developer portal: developers sign in with a password (argon2id hash), some are
-- appliance admins, an admin may disable one; sessions are kept by the digest of their
-- cookie, with the CSRF token of their forms.
ALTER TABLE developers
    ADD COLUMN password_hash TEXT,
    ADD COLUMN admin         BOOLEAN NOT NULL DEFAULT FALSE,
    ADD COLUMN disabled      BOOLEAN NOT NULL DEFAULT FALSE;

CREATE TABLE portal_sessions (
    token_hash    BYTEA PRIMARY KEY,
    developer_id  BIGINT NOT NULL REFERENCES developers(id) ON DELETE CASCADE,
    csrf          TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX portal_sessions_developer ON portal_sessions (developer_id);
CREATE INDEX portal_sessions_expiry ON portal_sessions (expires_at);
