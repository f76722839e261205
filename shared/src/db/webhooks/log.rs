//! The delivery log of a webhook: its notifications with their state and attempts, and
//! replays, which put notifications back in the outbox due now with a fresh retry window.

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgPool};

/// Where a notification is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeliveryState {
    /// Waiting for its next attempt.
    Pending,
    /// The receiver took it.
    Delivered,
    /// Not taken within the retry window; replayable.
    Dead,
}

impl DeliveryState {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Dead => "dead",
        }
    }

    /// Parses a stored (or requested) name.
    pub fn parse(name: &str) -> Option<Self> {
        [Self::Pending, Self::Delivered, Self::Dead]
            .into_iter()
            .find(|s| s.as_str() == name)
    }
}

/// A notification of a webhook.
#[derive(Clone, Debug, FromRow)]
pub struct Delivery {
    /// Numeric id.
    pub id: i64,
    /// Its webhook.
    pub webhook_id: i64,
    /// The account that had new events.
    pub account_id: i64,
    /// `pending`, `delivered` or `dead` (see [`DeliveryState`]).
    pub state: String,
    /// How many times new events joined it while pending.
    pub generation: i32,
    /// Failed attempts since creation or the last replay.
    pub attempts: i32,
    /// When it is (or was last) due.
    pub next_attempt_at: DateTime<Utc>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last replayed.
    pub replayed_at: Option<DateTime<Utc>>,
    /// When it was delivered or died.
    pub finished_at: Option<DateTime<Utc>>,
    /// HTTP status of the last attempt, if the receiver answered.
    pub last_status: Option<i32>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// Duration of the last attempt.
    pub last_latency_ms: Option<i32>,
}

const COLUMNS: &str = "id, webhook_id, account_id, state, generation, attempts, \
    next_attempt_at, created_at, replayed_at, finished_at, last_status, last_error, \
    last_latency_ms";

/// One attempt to send a notification.
#[derive(Clone, Debug, FromRow)]
pub struct Attempt {
    /// The notification.
    pub delivery_id: i64,
    /// When it was made.
    pub at: DateTime<Utc>,
    /// The receiver's HTTP status, if it answered.
    pub status: Option<i32>,
    /// Why it failed (`None`: received).
    pub error: Option<String>,
    /// How long it took.
    pub latency_ms: i32,
}

/// Which notifications of the delivery log are wanted.
#[derive(Clone, Copy, Debug)]
pub struct LogFilter<'a> {
    /// The application whose webhooks' notifications are wanted.
    pub application: &'a str,
    /// Only this webhook's (`None`: every webhook of the application).
    pub webhook: Option<i64>,
    /// Only those in this state (`None`: all).
    pub state: Option<DeliveryState>,
}

/// Notifications matching a filter given as `$1` application, `$2` webhook, `$3` state.
const MATCHING: &str = "webhook_id IN (SELECT id FROM webhooks WHERE application_id = $1)
    AND ($2::bigint IS NULL OR webhook_id = $2) AND ($3::text IS NULL OR state = $3)";

/// A page of the notifications `filter` wants (newest first), and their total count.
pub async fn deliveries(
    pool: &PgPool,
    filter: LogFilter<'_>,
    page: u32,
    page_size: u32,
) -> Result<(Vec<Delivery>, i64), sqlx::Error> {
    let state = filter.state.map(DeliveryState::as_str);
    let rows = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM webhook_deliveries WHERE {MATCHING}
          ORDER BY id DESC LIMIT $4 OFFSET $5"
    ))
    .bind(filter.application)
    .bind(filter.webhook)
    .bind(state)
    .bind(i64::from(page_size))
    .bind(crate::db::offset(page, page_size))
    .fetch_all(pool)
    .await?;
    let total = sqlx::query_scalar(&format!(
        "SELECT count(*) FROM webhook_deliveries WHERE {MATCHING}"
    ))
    .bind(filter.application)
    .bind(filter.webhook)
    .bind(state)
    .fetch_one(pool)
    .await?;
    Ok((rows, total))
}

/// How many notifications each webhook of an application has in each state:
/// `(webhook, state, count)`, webhooks without notifications left out.
pub async fn counts(
    pool: &PgPool,
    application: &str,
) -> Result<Vec<(i64, String, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT d.webhook_id, d.state, count(*) FROM webhook_deliveries d
           JOIN webhooks w ON w.id = d.webhook_id
          WHERE w.application_id = $1
          GROUP BY d.webhook_id, d.state ORDER BY d.webhook_id, d.state",
    )
    .bind(application)
    .fetch_all(pool)
    .await
}

/// One notification of a webhook.
pub async fn delivery(
    pool: &PgPool,
    webhook: i64,
    id: i64,
) -> Result<Option<Delivery>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM webhook_deliveries WHERE webhook_id = $1 AND id = $2"
    ))
    .bind(webhook)
    .bind(id)
    .fetch_optional(pool)
    .await
}

/// The latest `latest` attempts of each of `deliveries`, oldest first.
pub async fn attempts(
    pool: &PgPool,
    deliveries: &[i64],
    latest: i64,
) -> Result<Vec<Attempt>, sqlx::Error> {
    sqlx::query_as(
        "SELECT delivery_id, at, status, error, latency_ms FROM (
            SELECT *, row_number() OVER (PARTITION BY delivery_id ORDER BY id DESC) AS n
              FROM webhook_attempts WHERE delivery_id = ANY($1)) a
          WHERE n <= $2 ORDER BY delivery_id, id",
    )
    .bind(deliveries)
    .bind(latest)
    .fetch_all(pool)
    .await
}

/// Puts a notification back in the outbox: pending, due now, attempts reset, a fresh
/// retry window. If the account already has another pending notification for this
/// webhook, that one carries the ping: this one's attempts move to it and it is made due
/// now instead. Returns the pending notification (`None`: no such notification).
pub async fn replay(pool: &PgPool, webhook: i64, id: i64) -> Result<Option<Delivery>, sqlx::Error> {
    // A notification stored concurrently (by `notify`) can take the one pending slot of
    // the account between our read and our write; the second try sees it.
    match try_replay(pool, webhook, id).await {
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
            try_replay(pool, webhook, id).await
        }
        other => other,
    }
}

async fn try_replay(pool: &PgPool, webhook: i64, id: i64) -> Result<Option<Delivery>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let found: Option<(i64, String)> = sqlx::query_as(
        "SELECT account_id, state FROM webhook_deliveries
          WHERE id = $1 AND webhook_id = $2 FOR UPDATE",
    )
    .bind(id)
    .bind(webhook)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((account, state)) = found else {
        return Ok(None);
    };
    let mut target = id;
    if state != DeliveryState::Pending.as_str() {
        let pending: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM webhook_deliveries
              WHERE webhook_id = $1 AND account_id = $2 AND state = 'pending' FOR UPDATE",
        )
        .bind(webhook)
        .bind(account)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(pending) = pending {
            sqlx::query("UPDATE webhook_attempts SET delivery_id = $1 WHERE delivery_id = $2")
                .bind(pending)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM webhook_deliveries WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            target = pending;
        }
    }
    let delivery = sqlx::query_as(&format!(
        "UPDATE webhook_deliveries SET state = 'pending', generation = generation + 1,
            attempts = 0, next_attempt_at = now(), replayed_at = now(), finished_at = NULL,
            lease_until = NULL
          WHERE id = $1 RETURNING {COLUMNS}"
    ))
    .bind(target)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Some(delivery))
}

/// Replays up to `limit` dead notifications of a webhook, oldest first, with the effect of
/// [`replay`] on each in turn, in one statement: per account, the notification that
/// carries the ping is the pending one if there is one, else the oldest dead one replayed;
/// the other dead ones are merged into it (attempts moved, rows removed), and it is made
/// pending, due now, attempts reset, a fresh retry window, its generation bumped once per
/// notification replayed. Returns how many were replayed and how many dead ones are left.
pub async fn replay_dead(
    pool: &PgPool,
    webhook: i64,
    limit: i64,
) -> Result<(u64, i64), sqlx::Error> {
    // As in `replay`: a notification stored concurrently can take an account's pending
    // slot after the statement's snapshot; the second try sees it.
    let replayed = match try_replay_dead(pool, webhook, limit).await {
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
            try_replay_dead(pool, webhook, limit).await
        }
        other => other,
    }?;
    let left = sqlx::query_scalar(
        "SELECT count(*) FROM webhook_deliveries WHERE webhook_id = $1 AND state = 'dead'",
    )
    .bind(webhook)
    .fetch_one(pool)
    .await?;
    Ok((replayed, left))
}

async fn try_replay_dead(pool: &PgPool, webhook: i64, limit: i64) -> Result<u64, sqlx::Error> {
    let replayed: i64 = sqlx::query_scalar(
        "WITH dead AS (
            SELECT id, account_id FROM webhook_deliveries
             WHERE webhook_id = $1 AND state = 'dead'
             ORDER BY id LIMIT $2
               FOR UPDATE),
         pending AS (
            SELECT id, account_id FROM webhook_deliveries
             WHERE webhook_id = $1 AND state = 'pending'
               AND account_id IN (SELECT account_id FROM dead)
               FOR UPDATE),
         -- Per account: the notification that carries the ping, and how many were replayed.
         target AS (
            SELECT d.account_id, COALESCE(p.id, d.oldest) AS id, d.n
              FROM (SELECT account_id, min(id) AS oldest, count(*)::int AS n
                      FROM dead GROUP BY account_id) d
              LEFT JOIN pending p USING (account_id)),
         merged AS (
            SELECT d.id, t.id AS target FROM dead d JOIN target t USING (account_id)
             WHERE d.id <> t.id),
         moved AS (
            UPDATE webhook_attempts a SET delivery_id = m.target
              FROM merged m WHERE a.delivery_id = m.id),
         gone AS (
            DELETE FROM webhook_deliveries w USING merged m WHERE w.id = m.id),
         revived AS (
            UPDATE webhook_deliveries w SET state = 'pending',
                generation = w.generation + t.n, attempts = 0, next_attempt_at = now(),
                replayed_at = now(), finished_at = NULL, lease_until = NULL
              FROM target t WHERE w.id = t.id
            RETURNING t.n)
         SELECT COALESCE(sum(n), 0)::bigint FROM revived",
    )
    .bind(webhook)
    .bind(limit)
    .fetch_one(pool)
    .await?;
    Ok(replayed as u64)
}
