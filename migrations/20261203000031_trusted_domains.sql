-- The origins an application trusts: only pages there get bearer tokens from the widgets
-- (the File Picker's retrieve_token, the Meeting Scheduler's confidential data).
ALTER TABLE applications ADD COLUMN trusted_domains TEXT[] NOT NULL DEFAULT '{}';
