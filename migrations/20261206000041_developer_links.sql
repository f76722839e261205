-- One-time links of the developer portal: an admin's invitation (the new developer
-- chooses a password) and a password reset (issued by an admin, or asked for by mail).
-- Kept as the digest of the token; used once (`used_at`), and only before `expires_at`.
CREATE TABLE developer_links (
    token_hash    BYTEA PRIMARY KEY,
    developer_id  BIGINT NOT NULL REFERENCES developers(id) ON DELETE CASCADE,
    purpose       TEXT NOT NULL CHECK (purpose IN ('invite', 'reset')),
    created_by    BIGINT REFERENCES developers(id) ON DELETE SET NULL,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at    TIMESTAMPTZ NOT NULL,
    used_at       TIMESTAMPTZ
);
CREATE INDEX developer_links_developer ON developer_links (developer_id);
CREATE INDEX developer_links_expiry ON developer_links (expires_at);
