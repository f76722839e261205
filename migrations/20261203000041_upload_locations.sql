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

-- One chunked upload from the File Picker, keyed by the picker's id and its file id. While
-- unfinished, its chunks are the parts of a multipart session of the location's account
-- (staged on the data root like any multipart upload's); once stored, the row keeps the
-- answer to its last chunk until it expires, so that a chunk sent again (Plupload retries
-- after a lost answer) gets the same answer instead of a second file.
CREATE TABLE drop_uploads (
    id              BIGSERIAL PRIMARY KEY,
    application_id  TEXT NOT NULL,
    location_id     BIGINT NOT NULL,
    picker_id       TEXT NOT NULL,
    file_id         TEXT NOT NULL,
    name            TEXT NOT NULL,
    size            BIGINT NOT NULL,
    chunks          INT NOT NULL,
    part_size       BIGINT NOT NULL,
    next_chunk      INT NOT NULL DEFAULT 0,
    bytes_received  BIGINT NOT NULL DEFAULT 0,
    -- The session holding the staged chunks while unfinished.
    multipart_id    BIGINT UNIQUE REFERENCES multipart_uploads(id) ON DELETE SET NULL,
    -- Once stored: the file's metadata as answered.
    stored          JSONB,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at      TIMESTAMPTZ NOT NULL,
    FOREIGN KEY (application_id, location_id)
        REFERENCES upload_locations (application_id, id) ON DELETE CASCADE,
    UNIQUE (application_id, picker_id, file_id)
);
CREATE INDEX drop_uploads_expiry_idx ON drop_uploads (expires_at);
CREATE INDEX drop_uploads_location_idx ON drop_uploads (location_id);
