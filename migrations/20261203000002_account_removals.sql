-- What deleted accounts left behind outside their rows: the `local` folder and the parts
-- of unfinished multipart uploads on the data root. A row is recorded by a trigger for
-- every deleted account, whatever deleted it (the API, or its application's deletion
-- cascading), and removed by the worker's housekeeping once everything is gone; a run
-- that stops half-way leaves the row, so the next one finishes.
CREATE TABLE account_removals (
    account_id      BIGINT PRIMARY KEY,
    application_id  TEXT NOT NULL,
    service         TEXT NOT NULL,
    config          JSONB NOT NULL,
    multipart_ids   BIGINT[] NOT NULL DEFAULT '{}',
    deleted_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    attempts        INT NOT NULL DEFAULT 0,
    last_error      TEXT
);
CREATE INDEX account_removals_deleted_idx ON account_removals (attempts, deleted_at, account_id);

-- BEFORE the row goes: its multipart sessions (cascaded after it) are still there to see.
CREATE FUNCTION record_account_removal() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO account_removals (account_id, application_id, service, config, multipart_ids)
    VALUES (OLD.id, OLD.application_id, OLD.service, OLD.config,
            ARRAY(SELECT id FROM multipart_uploads WHERE account_id = OLD.id))
    ON CONFLICT (account_id) DO NOTHING;
    RETURN OLD;
END $$;

CREATE TRIGGER accounts_record_removal BEFORE DELETE ON accounts
    FOR EACH ROW EXECUTE FUNCTION record_account_removal();
