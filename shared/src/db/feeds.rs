//! Event collection state: each collecting account's due time, lease and feed position
//! (`event_feeds`), and what the last collection saw of each item (`feed_items`).
//!
//! Rows of `event_feeds` are created and removed by triggers when an application turns
//! "Collect Events" on or off and when accounts are added (see the migration).

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgConnection, PgPool};

/// A collection a worker holds the lease of.
#[derive(Clone, Debug, FromRow)]
pub struct Lease {
    /// The account.
    pub account_id: i64,
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
/// or the account no longer collects (inactive account, collection turned off).
pub async fn lease(pool: &PgPool, account: i64, secs: u64) -> Result<Option<Lease>, sqlx::Error> {
    sqlx::query_as(
        "UPDATE event_feeds f SET lease_until = now() + make_interval(secs => $2)
           FROM accounts a
          WHERE f.account_id = $1 AND a.id = f.account_id AND a.active
            AND (f.lease_until IS NULL OR f.lease_until < now())
         RETURNING f.account_id, f.cursor, f.seeded",
    )
    .bind(account)
    .bind(secs as f64)
    .fetch_optional(pool)
    .await
}

/// Keeps a long collection's lease (called as it makes progress).
pub async fn extend(conn: &mut PgConnection, account: i64, secs: u64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE event_feeds SET lease_until = now() + make_interval(secs => $2)
          WHERE account_id = $1",
    )
    .bind(account)
    .bind(secs as f64)
    .execute(conn)
    .await?;
    Ok(())
}

/// Saves the feed position reached (in the transaction that stored the changes before
/// it, so a crash replays them against state that already has them).
pub async fn save_cursor(
    conn: &mut PgConnection,
    account: i64,
    cursor: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE event_feeds SET cursor = $2, seeded = TRUE WHERE account_id = $1")
        .bind(account)
        .bind(cursor)
        .execute(conn)
        .await?;
    Ok(())
}

/// Ends a collection that succeeded; `again` asks for another one right away (a feed
/// with more pages than one collection reads).
pub async fn finish(pool: &PgPool, account: i64, again: bool) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE event_feeds SET lease_until = NULL, last_collected_at = now(), last_error = NULL,
                failures = 0,
                next_collect_at = CASE WHEN $2 THEN LEAST(next_collect_at, now())
                                  ELSE next_collect_at END
          WHERE account_id = $1",
    )
    .bind(account)
    .bind(again)
    .execute(pool)
    .await?;
    Ok(())
}

/// Puts `account`'s next collection at a random point of the next interval: after the
/// first collection, so that accounts connected together (or an application turning
/// collection on for all of its accounts) do not stay collected together.
pub async fn spread(pool: &PgPool, account: i64, interval_secs: u64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE event_feeds SET next_collect_at = now() + make_interval(secs => $2 * random())
          WHERE account_id = $1",
    )
    .bind(account)
    .bind(interval_secs as f64)
    .execute(pool)
    .await?;
    Ok(())
}

/// Ends a collection that failed (the next round tries again).
pub async fn fail(pool: &PgPool, account: i64, error: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE event_feeds SET lease_until = NULL, last_error = $2, failures = failures + 1
          WHERE account_id = $1",
    )
    .bind(account)
    .bind(error)
    .execute(pool)
    .await?;
    Ok(())
}

/// Brings `account`'s next collection forward to at most `ms` from now (a change made
/// through Cloudbridge). Nothing happens for accounts that do not collect.
pub async fn hurry(pool: &PgPool, account: i64, ms: u64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE event_feeds
            SET next_collect_at = LEAST(next_collect_at, now() + make_interval(secs => $2))
          WHERE account_id = $1",
    )
    .bind(account)
    .bind(ms as f64 / 1000.0)
    .execute(pool)
    .await?;
    Ok(())
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
