-- Upload locations (Kloudless `fe_upload_location`): a folder of one of an application's
-- own accounts where the File Picker's computer uploads (`/drop/{app_id}`) and its
-- `copy_to_upload_location` copies land.

-- An upload location's account must belong to the same application: the foreign key below
-- says so, and needs (application_id, id) to be unique (it is: id is). The unique index
-- replaces the plain one on the same columns.
ALTER TABLE accounts ADD CONSTRAINT accounts_application_id_id_key UNIQUE (application_id, id);
DROP INDEX accounts_application_idx;

CREATE TABLE upload_locations (
    id              BIGSERIAL PRIMARY KEY,
    application_id  TEXT NOT NULL REFERENCES applications(id) ON DELETE CASCADE,
    account_id      BIGINT NOT NULL,
    -- The Kloudless id of the folder in that account.
    parent_id       TEXT NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    FOREIGN KEY (application_id, account_id)
        REFERENCES accounts (application_id, id) ON DELETE CASCADE,
    UNIQUE (application_id, account_id, parent_id),
    UNIQUE (application_id, id)
);
CREATE INDEX upload_locations_account_idx ON upload_locations (account_id);

-- One unfinished chunked upload from the File Picker. Its chunks are the parts of a
-- multipart session of the location's account (staged on the data root like any
-- multipart upload's); the row says how far the picker got and until when it may go on.
CREATE TABLE drop_uploads (
    multipart_id    BIGINT PRIMARY KEY REFERENCES multipart_uploads(id) ON DELETE CASCADE,
    application_id  TEXT NOT NULL,
    location_id     BIGINT NOT NULL,
    -- The picker's `X-Picker-Id` and its plupload `file_id`.
    picker_id       TEXT NOT NULL,
    file_id         TEXT NOT NULL,
    name            TEXT NOT NULL,
    size            BIGINT NOT NULL,
    chunks          INT NOT NULL,
    next_chunk      INT NOT NULL DEFAULT 0,
    bytes_received  BIGINT NOT NULL DEFAULT 0,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at      TIMESTAMPTZ NOT NULL,
    FOREIGN KEY (application_id, location_id)
        REFERENCES upload_locations (application_id, id) ON DELETE CASCADE,
    UNIQUE (application_id, picker_id, file_id)
);
CREATE INDEX drop_uploads_expiry_idx ON drop_uploads (expires_at);
CREATE INDEX drop_uploads_location_idx ON drop_uploads (location_id);
