//! Collected events. Ids come from one sequence, so an account's events are in id order
//! and a cursor is simply the last id a client has seen.

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgConnection, PgPool};

use crate::storage::{Entry, EventType};

/// One stored event.
#[derive(Clone, Debug, FromRow)]
pub struct Event {
    /// Event id (also the cursor after it).
    pub id: i64,
    /// The account.
    pub account_id: i64,
    /// `add`, `update`, …
    #[sqlx(rename = "type")]
    pub kind: String,
    /// The item (an [`Entry`]).
    pub metadata: sqlx::types::Json<Entry>,
    /// When it was collected.
    pub created_at: DateTime<Utc>,
}

/// Stores events of `account` in order.
pub async fn insert(
    conn: &mut PgConnection,
    account: i64,
    events: &[(EventType, Entry)],
) -> Result<(), sqlx::Error> {
    if events.is_empty() {
        return Ok(());
    }
    let kinds: Vec<&str> = events.iter().map(|(t, _)| t.as_str()).collect();
    let metadata: Vec<serde_json::Value> = events
        .iter()
        .map(|(_, e)| serde_json::to_value(e).unwrap_or_default())
        .collect();
    sqlx::query(
        "INSERT INTO events (account_id, type, metadata)
         SELECT $1, t, m FROM UNNEST($2::text[], $3::jsonb[]) WITH ORDINALITY AS x(t, m, n)
          ORDER BY n",
    )
    .bind(account)
    .bind(kinds)
    .bind(metadata)
    .execute(conn)
    .await?;
    Ok(())
}

/// Up to `limit` events of `account` after `cursor`, oldest first, and how many more
/// follow them (counted up to `count_cap`).
pub async fn after(
    pool: &PgPool,
    account: i64,
    cursor: i64,
    limit: i64,
    count_cap: i64,
) -> Result<(Vec<Event>, i64), sqlx::Error> {
    let events: Vec<Event> = sqlx::query_as(
        "SELECT id, account_id, type, metadata, created_at FROM events
          WHERE account_id = $1 AND id > $2 ORDER BY id LIMIT $3",
    )
    .bind(account)
    .bind(cursor)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    let last = events.last().map_or(cursor, |e| e.id);
    let remaining = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT 1 FROM events WHERE account_id = $1 AND id > $2
                                LIMIT $3) r",
    )
    .bind(account)
    .bind(last)
    .bind(count_cap)
    .fetch_one(pool)
    .await?;
    Ok((events, remaining))
}

/// Up to `limit` events of `account` older than `before` (the newest, without it),
/// newest first: one index range whatever the page.
pub async fn newest(
    pool: &PgPool,
    account: i64,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<Event>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, account_id, type, metadata, created_at FROM events
          WHERE account_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3",
    )
    .bind(account)
    .bind(before.unwrap_or(i64::MAX))
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// The cursor after `account`'s newest event (or the newest one retention removed).
///
/// Per account, not global: one account's collections never overlap (their lease), so its
/// events commit in id order, while other accounts' transactions may commit ids out of
/// order; a global maximum could pass over an id still being committed.
pub async fn latest(pool: &PgPool, account: i64) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT GREATEST(
             (SELECT COALESCE(max(id), 0) FROM events WHERE account_id = $1),
             (SELECT COALESCE(max(purged_through), 0) FROM event_feeds WHERE account_id = $1))",
    )
    .bind(account)
    .fetch_one(pool)
    .await
}

/// The highest id of `account`'s events removed by retention (cursors below it expired).
pub async fn purged_through(pool: &PgPool, account: i64) -> Result<i64, sqlx::Error> {
    let through: Option<i64> =
        sqlx::query_scalar("SELECT purged_through FROM event_feeds WHERE account_id = $1")
            .bind(account)
            .fetch_optional(pool)
            .await?;
    Ok(through.unwrap_or(0))
}

/// Removes up to `batch` events older than `keep_secs`, remembering per account the
/// highest id removed. Returns how many were removed.
pub async fn purge(pool: &PgPool, keep_secs: u64, batch: i64) -> Result<u64, sqlx::Error> {
    let removed: i64 = sqlx::query_scalar(
        "WITH gone AS (
             DELETE FROM events WHERE id IN (
                 SELECT id FROM events
                  WHERE created_at < now() - make_interval(secs => $1)
                  ORDER BY created_at LIMIT $2)
             RETURNING account_id, id),
         marked AS (
             UPDATE event_feeds f SET purged_through = GREATEST(f.purged_through, g.top)
               FROM (SELECT account_id, max(id) AS top FROM gone GROUP BY account_id) g
              WHERE f.account_id = g.account_id)
         SELECT count(*) FROM gone",
    )
    .bind(keep_secs as f64)
    .bind(batch)
    .fetch_one(pool)
    .await?;
    Ok(removed as u64)
}
