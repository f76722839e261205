-- OAuth 2.0: connected accounts' tokens, applications' provider credentials and redirect
-- URIs, connect flows in progress and authorization codes waiting to be exchanged.

-- Tokens of an account, sealed (AES-256-GCM). A refresh is a compare-and-swap on
-- `version`, made while holding the row lock, so one refresh happens at a time.
CREATE TABLE account_tokens (
    account_id     BIGINT PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
    version        BIGINT NOT NULL DEFAULT 1,
    sealed         BYTEA NOT NULL,
    -- When the access token expires (NULL: the service did not say).
    expires_at     TIMESTAMPTZ,
    -- When the current access token was issued (start of its lifetime).
    issued_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- Refresh failures since the last success, and since when.
    failures       INTEGER NOT NULL DEFAULT 0,
    failing_since  TIMESTAMPTZ,
    last_error     TEXT
);
CREATE INDEX account_tokens_expiry_idx ON account_tokens (expires_at);
CREATE INDEX account_tokens_issued_idx ON account_tokens (issued_at);

-- Set when the service no longer accepts the account's refresh token; a reconnect clears it.
ALTER TABLE accounts ADD COLUMN needs_reauth BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE accounts ADD COLUMN reauth_reason TEXT;

-- An application's own client credentials at a service (else the appliance's defaults).
CREATE TABLE application_providers (
    application_id  TEXT NOT NULL REFERENCES applications(id) ON DELETE CASCADE,
    service         TEXT NOT NULL,
    client_id       TEXT NOT NULL,
    sealed_secret   BYTEA NOT NULL,
    PRIMARY KEY (application_id, service)
);

-- Where an application's users may be sent back after connecting (exact match).
CREATE TABLE application_redirect_uris (
    application_id  TEXT NOT NULL REFERENCES applications(id) ON DELETE CASCADE,
    uri             TEXT NOT NULL,
    PRIMARY KEY (application_id, uri)
);

-- A connect flow between `GET /v1/oauth` and the service's callback. `id` travels as
-- the `state` sent to the service; the browser holds a cookie whose digest must match.
CREATE TABLE oauth_flows (
    id              TEXT PRIMARY KEY,
    application_id  TEXT NOT NULL REFERENCES applications(id) ON DELETE CASCADE,
    browser_hash    BYTEA NOT NULL,
    request         JSONB NOT NULL,
    service         TEXT,
    pkce_verifier   BYTEA,
    expires_at      TIMESTAMPTZ NOT NULL
);
CREATE INDEX oauth_flows_expiry_idx ON oauth_flows (expires_at);

-- Authorization codes handed to applications, single use, stored as digests.
CREATE TABLE oauth_codes (
    code_hash       BYTEA PRIMARY KEY,
    application_id  TEXT NOT NULL REFERENCES applications(id) ON DELETE CASCADE,
    account_id      BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    redirect_uri    TEXT NOT NULL,
    scope           TEXT NOT NULL DEFAULT '',
    expires_at      TIMESTAMPTZ NOT NULL,
    used_at         TIMESTAMPTZ
);
CREATE INDEX oauth_codes_expiry_idx ON oauth_codes (expires_at);
