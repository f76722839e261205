-- Cloudbridge schema: developers, applications, keys, connected accounts.
-- Secrets (keys, bearer tokens) are stored as SHA-256 digests only.

CREATE TABLE developers (
    id          BIGSERIAL PRIMARY KEY,
    email       TEXT NOT NULL UNIQUE,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE developer_keys (
    id            BIGSERIAL PRIMARY KEY,
    developer_id  BIGINT NOT NULL REFERENCES developers(id) ON DELETE CASCADE,
    key_hash      BYTEA NOT NULL UNIQUE,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE applications (
    id                      TEXT PRIMARY KEY,
    developer_id            BIGINT NOT NULL REFERENCES developers(id) ON DELETE CASCADE,
    name                    TEXT NOT NULL,
    description             TEXT NOT NULL DEFAULT '',
    logo_url                TEXT NOT NULL DEFAULT '',
    active                  BOOLEAN NOT NULL DEFAULT TRUE,
    implicit_grant_enabled  BOOLEAN NOT NULL DEFAULT FALSE,
    recent_enabled          BOOLEAN NOT NULL DEFAULT FALSE,
    events_grant_enabled    BOOLEAN NOT NULL DEFAULT FALSE,
    source                  TEXT NOT NULL DEFAULT '',
    created_at              TIMESTAMPTZ NOT NULL DEFAULT now(),
    modified_at             TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX applications_developer_idx ON applications (developer_id, created_at, id);

CREATE TABLE api_keys (
    id              TEXT PRIMARY KEY,
    application_id  TEXT NOT NULL REFERENCES applications(id) ON DELETE CASCADE,
    key_hash        BYTEA NOT NULL UNIQUE,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    modified_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX api_keys_application_idx ON api_keys (application_id, created_at);

CREATE TABLE accounts (
    id              BIGSERIAL PRIMARY KEY,
    application_id  TEXT NOT NULL REFERENCES applications(id) ON DELETE CASCADE,
    service         TEXT NOT NULL,
    account         TEXT NOT NULL,
    active          BOOLEAN NOT NULL DEFAULT TRUE,
    enabled         BOOLEAN NOT NULL DEFAULT TRUE,
    admin           BOOLEAN NOT NULL DEFAULT FALSE,
    config          JSONB NOT NULL DEFAULT '{}'::jsonb,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    modified_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (application_id, service, account)
);
CREATE INDEX accounts_application_idx ON accounts (application_id, id);

CREATE TABLE bearer_tokens (
    id          BIGSERIAL PRIMARY KEY,
    account_id  BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    token_hash  BYTEA NOT NULL UNIQUE,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX bearer_tokens_account_idx ON bearer_tokens (account_id);
