//! Event collection state: each collecting account's due time, lease and feed position
//! (`event_feeds`), and what the last collection saw of each item (`feed_items`).
//!
//! Rows of `event_feeds` are created and removed by triggers when an application turns
//! "Collect Events" on or off and when accounts are added (see the migration).

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgConnection, PgPool};
use uuid::Uuid;

/// A collection a worker holds the lease of. Every write the collection makes names
/// `lease_id`, so a collection that outlived its lease (another worker took it over)
/// writes nothing more.
#[derive(Clone, Debug, FromRow)]
pub struct Lease {
    /// The account.
    pub account_id: i64,
    /// This collection's lease.
    pub lease_id: Uuid,
    /// The change feed's position (native feeds), if one was taken.
    pub cursor: Option<String>,
    /// False until the first collection recorded what exists.
    pub seeded: bool,
}

/// Claims up to `limit` accounts whose collection is due, oldest first, and moves each
/// one's due time one interval on (keeping accounts spread over the interval; an account
/// that fell behind gets a random point in the next interval instead, so a backlog does
/// not turn into a herd). Returns `(account, claimed due time)` pairs; rows locked by a
/// concurrent claim are skipped, so each due time is claimed once.
pub async fn claim_due(
    pool: &PgPool,
    limit: i64,
    interval_secs: u64,
) -> Result<Vec<(i64, DateTime<Utc>)>, sqlx::Error> {
    sqlx::query_as(
        "WITH due AS (
             SELECT f.account_id, f.next_collect_at FROM event_feeds f
              WHERE f.next_collect_at <= now()
              ORDER BY f.next_collect_at LIMIT $1 FOR UPDATE SKIP LOCKED)
         UPDATE event_feeds f
            SET next_collect_at = CASE
                WHEN due.next_collect_at + make_interval(secs => $2) > now()
                    THEN due.next_collect_at + make_interval(secs => $2)
                ELSE now() + make_interval(secs => $2 * random()) END
           FROM due WHERE f.account_id = due.account_id
         RETURNING f.account_id, due.next_collect_at",
    )
    .bind(limit)
    .bind(interval_secs as f64)
    .fetch_all(pool)
    .await
}

/// Takes the lease of `account`'s collection for `secs`, unless another worker holds it
/// or the account no longer collects (inactive account, collection turned off). Changes
/// asked to be collected early before now are covered by this collection.
pub async fn lease(pool: &PgPool, account: i64, secs: u64) -> Result<Option<Lease>, sqlx::Error> {
    sqlx::query_as(
        "UPDATE event_feeds f SET lease_until = now() + make_interval(secs => $2),
                lease_id = gen_random_uuid(), hurry_at = NULL
           FROM accounts a
          WHERE f.account_id = $1 AND a.id = f.account_id AND a.active
            AND (f.lease_until IS NULL OR f.lease_until < now())
         RETURNING f.account_id, f.lease_id, f.cursor, f.seeded",
    )
    .bind(account)
    .bind(secs as f64)
    .fetch_optional(pool)
    .await
}

/// Renews `lease` for `secs`; in a transaction, this also locks the row until it ends, so
/// the lease cannot be taken over before the transaction's writes commit, and the events
/// of one account commit in the order of their ids. [`FencedError::Lost`] when another
/// collection took the lease.
pub async fn extend(conn: &mut PgConnection, lease: &Lease, secs: u64) -> Result<(), FencedError> {
    let kept = sqlx::query(
        "UPDATE event_feeds SET lease_until = now() + make_interval(secs => $3)
          WHERE account_id = $1 AND lease_id = $2",
    )
    .bind(lease.account_id)
    .bind(lease.lease_id)
    .bind(secs as f64)
    .execute(conn)
    .await?;
    fenced(kept.rows_affected())
}

/// Saves the feed position reached (in the transaction that stored the changes before
/// it, after [`extend`] fenced it, so a crash replays them against state that already
/// has them).
pub async fn save_cursor(
    conn: &mut PgConnection,
    lease: &Lease,
    cursor: Option<&str>,
) -> Result<(), FencedError> {
    let saved = sqlx::query(
        "UPDATE event_feeds SET cursor = $3, seeded = TRUE WHERE account_id = $1 AND lease_id = $2",
    )
    .bind(lease.account_id)
    .bind(lease.lease_id)
    .bind(cursor)
    .execute(conn)
    .await?;
    fenced(saved.rows_affected())
}

/// When the account is collected next, after a collection that succeeded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// When it was due anyway.
    Scheduled,
    /// Right away: the feed has more pages than one collection reads.
    Now,
    /// At a random point of the next interval (of so many seconds): after the first
    /// collection, so that accounts connected together (or an application turning
    /// collection on for all of its accounts) do not stay collected together.
    Spread(u64),
}

/// Ends a collection that succeeded. A change made through Cloudbridge while it ran may
/// have been missed by it, so such an early collection is kept.
pub async fn finish(pool: &PgPool, lease: &Lease, next: Next) -> Result<(), FencedError> {
    let (now, spread) = match next {
        Next::Scheduled => (false, None),
        Next::Now => (true, None),
        Next::Spread(secs) => (false, Some(secs as f64)),
    };
    let done = sqlx::query(
        "UPDATE event_feeds SET lease_until = NULL, lease_id = NULL, hurry_at = NULL,
                last_collected_at = now(), last_error = NULL, failures = 0,
                next_collect_at = LEAST(
                    CASE WHEN $3 THEN LEAST(next_collect_at, now())
                         WHEN $4::float8 IS NOT NULL
                             THEN now() + make_interval(secs => $4 * random())
                         ELSE next_collect_at END,
                    COALESCE(hurry_at, 'infinity'))
          WHERE account_id = $1 AND lease_id = $2",
    )
    .bind(lease.account_id)
    .bind(lease.lease_id)
    .bind(now)
    .bind(spread)
    .execute(pool)
    .await?;
    fenced(done.rows_affected())
}

/// Ends a collection that failed (the next round tries again).
pub async fn fail(pool: &PgPool, lease: &Lease, error: &str) -> Result<(), FencedError> {
    let done = sqlx::query(
        "UPDATE event_feeds SET lease_until = NULL, lease_id = NULL, last_error = $3,
                failures = failures + 1,
                next_collect_at = LEAST(next_collect_at, COALESCE(hurry_at, 'infinity')),
                hurry_at = NULL
          WHERE account_id = $1 AND lease_id = $2",
    )
    .bind(lease.account_id)
    .bind(lease.lease_id)
    .bind(error)
    .execute(pool)
    .await?;
    fenced(done.rows_affected())
}

/// Brings `account`'s next collection forward to at most `ms` from now (a change made
/// through Cloudbridge), also past the end of a collection running now. Nothing happens
/// for accounts that do not collect.
pub async fn hurry(pool: &PgPool, account: i64, ms: u64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE event_feeds
            SET next_collect_at = LEAST(next_collect_at, now() + make_interval(secs => $2)),
                hurry_at = LEAST(COALESCE(hurry_at, 'infinity'), now() + make_interval(secs => $2))
          WHERE account_id = $1",
    )
    .bind(account)
    .bind(ms as f64 / 1000.0)
    .execute(pool)
    .await?;
    Ok(())
}

/// Whether `account`'s first collection is done (`None`: the account does not collect,
/// or is inactive).
pub async fn seeded(pool: &PgPool, account: i64) -> Result<Option<bool>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT f.seeded FROM event_feeds f JOIN accounts a ON a.id = f.account_id
          WHERE f.account_id = $1 AND a.active",
    )
    .bind(account)
    .fetch_optional(pool)
    .await
}

/// A fenced write that failed: the database, or the lease lost.
#[derive(Debug, thiserror::Error)]
pub enum FencedError {
    /// The database failed.
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    /// Another collection took the lease over: the one that held it must stop.
    #[error("the collection's lease was taken over")]
    Lost,
}

fn fenced(rows: u64) -> Result<(), FencedError> {
    if rows == 1 {
        Ok(())
    } else {
        Err(FencedError::Lost)
    }
}

/// What a collection saw of one item.
#[derive(Clone, Debug, PartialEq, Eq, FromRow)]
pub struct Seen {
    /// The service's id of the item, or its path.
    pub key: String,
    /// Path inside the account.
    pub path: String,
    /// Path of its folder (`""` for the root).
    pub parent: String,
    /// True for folders.
    pub folder: bool,
    /// What changes when the contents do (size and modification time).
    pub version: String,
}

/// The items seen in the folder at `parent`.
pub async fn children(
    conn: &mut PgConnection,
    account: i64,
    parent: &str,
) -> Result<Vec<Seen>, sqlx::Error> {
    sqlx::query_as(
        "SELECT key, path, parent, folder, version FROM feed_items
          WHERE account_id = $1 AND parent = $2",
    )
    .bind(account)
    .bind(parent)
    .fetch_all(conn)
    .await
}

/// The items seen with any of `keys`.
pub async fn by_keys(
    conn: &mut PgConnection,
    account: i64,
    keys: &[String],
) -> Result<Vec<Seen>, sqlx::Error> {
    sqlx::query_as(
        "SELECT key, path, parent, folder, version FROM feed_items
          WHERE account_id = $1 AND key = ANY($2)",
    )
    .bind(account)
    .bind(keys)
    .fetch_all(conn)
    .await
}

/// The item seen at `path`, compared without case (services whose paths ignore case
/// report deletions by path).
pub async fn at_path(
    conn: &mut PgConnection,
    account: i64,
    path: &str,
) -> Result<Option<Seen>, sqlx::Error> {
    sqlx::query_as(
        "SELECT key, path, parent, folder, version FROM feed_items
          WHERE account_id = $1 AND lower(path) = lower($2) LIMIT 1",
    )
    .bind(account)
    .bind(path)
    .fetch_optional(conn)
    .await
}

/// Records items as seen (inserted or replaced).
pub async fn put(conn: &mut PgConnection, account: i64, items: &[Seen]) -> Result<(), sqlx::Error> {
    if items.is_empty() {
        return Ok(());
    }
    let column = |f: fn(&Seen) -> &str| items.iter().map(f).map(str::to_owned).collect::<Vec<_>>();
    let folders: Vec<bool> = items.iter().map(|s| s.folder).collect();
    sqlx::query(
        "INSERT INTO feed_items (account_id, key, path, parent, folder, version)
         SELECT $1, * FROM UNNEST($2::text[], $3::text[], $4::text[], $5::bool[], $6::text[])
         ON CONFLICT (account_id, key) DO UPDATE SET path = EXCLUDED.path,
             parent = EXCLUDED.parent, folder = EXCLUDED.folder, version = EXCLUDED.version",
    )
    .bind(account)
    .bind(column(|s| &s.key))
    .bind(column(|s| &s.path))
    .bind(column(|s| &s.parent))
    .bind(folders)
    .bind(column(|s| &s.version))
    .execute(conn)
    .await?;
    Ok(())
}

/// Forgets items by key.
pub async fn forget(
    conn: &mut PgConnection,
    account: i64,
    keys: &[String],
) -> Result<(), sqlx::Error> {
    if keys.is_empty() {
        return Ok(());
    }
    sqlx::query("DELETE FROM feed_items WHERE account_id = $1 AND key = ANY($2)")
        .bind(account)
        .bind(keys)
        .execute(conn)
        .await?;
    Ok(())
}

/// Forgets everything below the folder at `path` (it was deleted). "Below" is the byte
/// range `path/` ..< `path0` (`0` follows `/`), which the `text_pattern_ops` index serves.
pub async fn forget_below(
    conn: &mut PgConnection,
    account: i64,
    path: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "DELETE FROM feed_items WHERE account_id = $1
            AND path ~>=~ ($2 || '/') AND path ~<~ ($2 || '0')",
    )
    .bind(account)
    .bind(path)
    .execute(conn)
    .await?;
    Ok(())
}

/// Re-roots everything below the folder that moved from `from` to `to`.
pub async fn move_below(
    conn: &mut PgConnection,
    account: i64,
    from: &str,
    to: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE feed_items
            SET path = $3 || substr(path, length($2) + 1),
                parent = $3 || substr(parent, length($2) + 1)
          WHERE account_id = $1 AND path ~>=~ ($2 || '/') AND path ~<~ ($2 || '0')",
    )
    .bind(account)
    .bind(from)
    .bind(to)
    .execute(conn)
    .await?;
    Ok(())
}
