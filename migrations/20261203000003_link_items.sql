-- What a link was made for, beyond the path its file id names: `item_key` is the item's
-- identity at its service (its own id, or a local file's inode and birth time), checked
-- whenever the link serves, so a new file at the same path is never served by an old
-- link; `item_path` lets deleting a folder end the links of the files below it. Links
-- made before have neither and are not checked.
ALTER TABLE links ADD COLUMN item_key TEXT;
ALTER TABLE links ADD COLUMN item_path TEXT;
CREATE INDEX links_item_path_idx ON links (account_id, item_path text_pattern_ops);
