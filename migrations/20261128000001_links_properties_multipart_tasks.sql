-- Shared links to files, served by the API tier at `/l/<id>`.
CREATE TABLE links (
    id              TEXT PRIMARY KEY,
    account_id      BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    item_id         TEXT NOT NULL,
    direct          BOOLEAN NOT NULL DEFAULT false,
    active          BOOLEAN NOT NULL DEFAULT true,
    password_hash   TEXT,
    expiration      TIMESTAMPTZ,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    modified_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX links_account_idx ON links (account_id, created_at, id);
CREATE INDEX links_item_idx ON links (account_id, item_id);

-- Custom key/value properties of files.
CREATE TABLE file_properties (
    account_id      BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    item_id         TEXT NOT NULL,
    key             TEXT NOT NULL,
    value           JSONB NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    modified_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, item_id, key)
);

-- Multipart upload sessions; their parts are staged under the data root until complete.
CREATE TABLE multipart_uploads (
    id              BIGSERIAL PRIMARY KEY,
    account_id      BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    parent_id       TEXT NOT NULL,
    name            TEXT NOT NULL,
    size            BIGINT NOT NULL,
    part_size       BIGINT NOT NULL,
    overwrite       BOOLEAN NOT NULL,
    completing      BOOLEAN NOT NULL DEFAULT false,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at      TIMESTAMPTZ NOT NULL
);
CREATE INDEX multipart_uploads_expiry_idx ON multipart_uploads (expires_at);

-- Long operations run asynchronously (`X-Kloudless-Async: true`).
CREATE TABLE tasks (
    id              TEXT PRIMARY KEY,
    account_id      BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    state           TEXT NOT NULL,
    result          JSONB,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    modified_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX tasks_modified_idx ON tasks (modified_at);

-- Uploads in progress to services where they are staged as hidden remote files (WebDAV,
-- SFTP): housekeeping removes the files of uploads whose API process died.
CREATE TABLE remote_uploads (
    account_id      BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    staged          TEXT NOT NULL,
    started_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, staged)
);
CREATE INDEX remote_uploads_started_idx ON remote_uploads (started_at);
