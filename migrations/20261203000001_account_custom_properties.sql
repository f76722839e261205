-- Kloudless `custom_properties` of an account: a JSON object the application sets
-- (PATCH merges; a null value removes its key).
ALTER TABLE accounts ADD COLUMN custom_properties JSONB NOT NULL DEFAULT '{}'::jsonb;
