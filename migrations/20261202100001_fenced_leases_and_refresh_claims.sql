-- Collections are fenced: `lease()` gives each collection its own `lease_id`, and every
-- write a collection makes (a step, the cursor, finishing, failing) names it, so a
-- collection that outlived its lease can no longer write beside the one that took over.
ALTER TABLE event_feeds ADD COLUMN lease_id UUID;
-- Set by a change made through Cloudbridge while a collection runs: the collection may
-- have listed the changed folder before the change, so the next one must not wait.
ALTER TABLE event_feeds ADD COLUMN hurry_at TIMESTAMPTZ;

-- A token refresh is claimed (a short lease on the row, committed at once) instead of
-- holding the row lock across the call to the service: the answer is then written by a
-- statement of its own, retried, so a refresh the service accepted is never forgotten
-- because one commit failed, and no connection is held while the service is asked.
ALTER TABLE account_tokens ADD COLUMN refresh_claimed_until TIMESTAMPTZ;

-- An aborted remote upload stays in the ledger (marked) until housekeeping has removed its
-- hidden file after the server had time to finish the interrupted write: a server may
-- still write the partial file after the abort's own delete.
ALTER TABLE remote_uploads ADD COLUMN aborted_at TIMESTAMPTZ;
CREATE INDEX remote_uploads_aborted_idx ON remote_uploads (aborted_at) WHERE aborted_at IS NOT NULL;
