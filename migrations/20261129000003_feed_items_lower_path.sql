-- Deletions some services report by path (Dropbox, whose paths ignore case) are looked up
-- with lower(path): index that, so each lookup does not scan the account's items.
CREATE INDEX feed_items_lower_path_idx ON feed_items (account_id, lower(path));
