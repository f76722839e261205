//! Collecting from a service's own change feed: each page of changes is one step, saved
//! with the position after it.

use std::collections::HashSet;

use cloudbridge_connectors::{
    feed::{Change, FeedPage},
    Storage,
};
use cloudbridge_shared::{db, db::feeds::Seen, ApiError};

use super::{
    listing::{db_error, diff},
    Collector,
};

/// How a read of the feed ended.
#[derive(Debug, Default)]
pub struct Followed {
    /// Events stored.
    pub events: usize,
    /// The feed had more than one collection reads.
    pub more: bool,
}

/// Reads the feed from `cursor`, up to the collector's page limit.
pub async fn follow(
    c: &Collector<'_>,
    storage: &dyn Storage,
    mut cursor: String,
) -> Result<Followed, ApiError> {
    let mut followed = Followed::default();
    for _ in 0..c.max_pages.max(1) {
        match storage.changes(&cursor).await? {
            FeedPage::Expired => {
                tracing::info!(
                    account = c.account,
                    "change feed position expired; resyncing"
                );
                followed.events += resync(c, storage).await?;
                return Ok(followed);
            }
            FeedPage::Changes {
                changes,
                cursor: next,
                more,
            } => {
                followed.events += apply(c, changes, &next).await?;
                cursor = next;
                if !more {
                    return Ok(followed);
                }
            }
        }
    }
    followed.more = true;
    Ok(followed)
}

/// Stores one page of changes with the position after it.
async fn apply(c: &Collector<'_>, changes: Vec<Change>, next: &str) -> Result<usize, ApiError> {
    let mut step = c.step(true).await?;
    // Items this page shows somewhere: a deletion reported for their old path (services
    // that report deletions by path) is the first half of a rename or move.
    let present: HashSet<String> = changes
        .iter()
        .filter(|c| c.entry.is_some())
        .map(|c| c.key.clone())
        .collect();
    // Folders this page deletes: what was below them goes with them, unreported, as
    // when a listing finds a folder gone (some services report every item below too).
    let mut deleted_folders = Vec::new();
    for change in changes.iter().filter(|c| c.entry.is_none()) {
        let conn = step.conn().await.map_err(db_error)?;
        if let Some(seen) = seen_before(conn, c.account, change, &present).await? {
            if seen.folder {
                deleted_folders.push(format!("{}/", seen.path));
            }
        }
    }
    for change in changes {
        let conn = step.conn().await.map_err(db_error)?;
        let before = seen_before(conn, c.account, &change, &present).await?;
        if change.entry.is_none()
            && before
                .as_ref()
                .is_some_and(|b| deleted_folders.iter().any(|f| b.path.starts_with(f)))
        {
            continue;
        }
        match (change.entry, before) {
            (Some(entry), before) => step
                .observe(before.as_ref(), change.key, entry, change.hint)
                .await
                .map_err(db_error)?,
            (None, Some(before)) => step.remove(&before).await.map_err(db_error)?,
            // Deleted before we ever saw it: nothing a client knew of.
            (None, None) => {}
        }
    }
    step.commit(Some(Some(next))).await.map_err(db_error)
}

/// What was last seen of the item a change is about: by its key, or for a deletion the
/// service reports by path, by that path (unless the item shows up elsewhere in the same
/// page: then the deletion is the first half of a rename or move).
async fn seen_before(
    conn: &mut sqlx::PgConnection,
    account: i64,
    change: &Change,
    present: &HashSet<String>,
) -> Result<Option<Seen>, ApiError> {
    let by_key = db::feeds::by_keys(conn, account, std::slice::from_ref(&change.key))
        .await
        .map_err(db_error)?
        .pop();
    if by_key.is_some() || change.entry.is_some() {
        return Ok(by_key);
    }
    Ok(db::feeds::at_path(conn, account, &change.key)
        .await
        .map_err(db_error)?
        .filter(|seen| !present.contains(&seen.key)))
}

/// Takes the position first, then lists the whole account against what was seen (the
/// differences are events), then saves the position: changes made during the listing are
/// read again from the feed and match what the listing recorded.
pub async fn resync(c: &Collector<'_>, storage: &dyn Storage) -> Result<usize, ApiError> {
    let start = storage.feed_start().await?;
    let events = diff(c, storage, true).await?;
    save(c, start.as_deref()).await?;
    Ok(events)
}

/// Saves the feed position (and marks the account seeded).
pub async fn save(c: &Collector<'_>, cursor: Option<&str>) -> Result<(), ApiError> {
    c.step(false)
        .await?
        .commit(Some(cursor))
        .await
        .map_err(db_error)?;
    Ok(())
}
