//! Collecting by listing: walks the account folder by folder and compares each folder's
//! listing with what the last collection saw in it. Used for services without a change
//! feed (local disk, S3, WebDAV, SFTP), for the first collection of every account, and to
//! resynchronise a feed whose position expired.
//!
//! Memory is bounded by the largest folder, not the account: each folder is one step.
//! Items missing from their folder are only reported deleted at the end, once no later
//! folder showed them moved there (services with their own ids).

use std::{
    collections::{HashMap, VecDeque},
    time::{Duration, Instant},
};

use cloudbridge_connectors::Storage;
use cloudbridge_shared::{
    db::{
        self,
        feeds::{FencedError, Seen},
    },
    storage::ItemKind,
    ApiError, ItemPath,
};

use super::{classify::seen, Collector};

/// A long collection without changes renews its lease this often.
const KEEP_LEASE: Duration = Duration::from_secs(60);
/// Items checked per step when looking for deletions.
const GONE_CHUNK: usize = 1000;

/// Compares the whole account with what was seen; `emit` false only records it. Returns
/// the number of events stored.
pub async fn diff(c: &Collector<'_>, storage: &dyn Storage, emit: bool) -> Result<usize, ApiError> {
    let mut events = 0;
    let mut folders = VecDeque::from([ItemPath::root()]);
    let mut missing: Vec<Seen> = Vec::new();
    let mut kept = Instant::now();
    while let Some(folder) = folders.pop_front() {
        let entries = match storage.list_all(&folder).await {
            Ok(entries) => entries,
            // Deleted while we walked: its parent's listing reports it.
            Err(e) if e.status == 404 => continue,
            Err(e) => return Err(e),
        };
        // Reads first, outside any transaction (one collection per account at a time,
        // so nothing else writes these rows); a folder without changes writes nothing.
        let mut conn = c.db.acquire().await.map_err(db_error)?;
        let mut known = keyed(
            db::feeds::children(&mut conn, c.account, folder.as_str())
                .await
                .map_err(db_error)?,
        );
        let mut changed = Vec::new();
        let mut fresh = Vec::new();
        for entry in entries {
            if entry.kind == ItemKind::Folder {
                folders.push_back(entry.path.clone());
            }
            let key = storage.change_key(&entry);
            match known.remove(&key) {
                Some(before) if before == seen(key.clone(), &entry) => {}
                Some(before) => changed.push((Some(before), key, entry)),
                None => fresh.push((key, entry)),
            }
        }
        if !fresh.is_empty() {
            // Not seen here before: new, or moved here from elsewhere.
            let keys: Vec<String> = fresh.iter().map(|(k, _)| k.clone()).collect();
            let mut elsewhere = keyed(
                db::feeds::by_keys(&mut conn, c.account, &keys)
                    .await
                    .map_err(db_error)?,
            );
            for (key, entry) in fresh {
                // A new id where another item was: the item was replaced (an upload
                // written beside it and renamed over it), which is an update.
                let before = match elsewhere.remove(&key) {
                    Some(before) => Some(before),
                    None => replaced(&mut known, entry.path.as_str()),
                };
                changed.push((before, key, entry));
            }
        }
        drop(conn);
        missing.extend(known.into_values());
        if !changed.is_empty() {
            let mut step = c.step(emit).await?;
            for (before, key, entry) in changed {
                step.observe(before.as_ref(), key, entry, None)
                    .await
                    .map_err(db_error)?;
            }
            events += step.commit(None).await.map_err(db_error)?;
            kept = Instant::now();
        } else if kept.elapsed() > KEEP_LEASE {
            let mut conn = c.db.acquire().await.map_err(db_error)?;
            db::feeds::extend(&mut conn, &c.lease, c.lease_secs)
                .await
                .map_err(db_error)?;
            kept = Instant::now();
        }
    }
    for chunk in missing.chunks(GONE_CHUNK) {
        let mut step = c.step(emit).await?;
        let keys: Vec<String> = chunk.iter().map(|s| s.key.clone()).collect();
        let conn = step.conn().await.map_err(db_error)?;
        let now = keyed(
            db::feeds::by_keys(conn, c.account, &keys)
                .await
                .map_err(db_error)?,
        );
        // Still where it was when its folder was listed: it is gone. (Items below a
        // deleted folder are never listed, so they are forgotten with it, unreported.)
        for before in chunk {
            if now.get(&before.key).is_some_and(|s| s.path == before.path) {
                step.remove(before).await.map_err(db_error)?;
            }
        }
        events += step.commit(None).await.map_err(db_error)?;
    }
    Ok(events)
}

/// Items seen, by key.
fn keyed(items: Vec<Seen>) -> HashMap<String, Seen> {
    items.into_iter().map(|s| (s.key.clone(), s)).collect()
}

/// Takes out of `known` the item seen at `path`, if any.
fn replaced(known: &mut HashMap<String, Seen>, path: &str) -> Option<Seen> {
    let key = known.values().find(|s| s.path == path)?.key.clone();
    known.remove(&key)
}

/// The `error_code` of a collection that stopped because another one took its lease.
pub const LEASE_LOST: &str = "lease_lost";

/// A database failure (or the lease lost), as the collection's error.
pub fn db_error(e: impl Into<FencedError>) -> ApiError {
    match e.into() {
        FencedError::Db(e) => e.into(),
        FencedError::Lost => ApiError::new(409, LEASE_LOST, "Another collection took the lease."),
    }
}
