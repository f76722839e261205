//! The senders' side of the outbox. A sender claims due notifications by setting a lease
//! (`FOR UPDATE SKIP LOCKED`, so senders never wait on each other); a sender that dies
//! leaves its lease to run out and the notification is claimed again. Results are
//! recorded with the claim they belong to: a delivery only counts for the generation it
//! carried, and a failure reported under a lease that ran out changes nothing.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgPool};

use super::DeliveryState;
use crate::webhook::Answer;

/// A notification claimed for sending.
#[derive(Clone, Debug, FromRow)]
pub struct Claimed {
    /// Delivery id.
    pub id: i64,
    /// Its webhook.
    pub webhook_id: i64,
    /// The account with new events.
    pub account_id: i64,
    /// The generation this send carries.
    pub generation: i32,
    /// Failed attempts so far.
    pub attempts: i32,
    /// Start of the retry window: creation, or the last replay.
    pub window_start: DateTime<Utc>,
    /// The claim: held until then, and the token its results are recorded under.
    pub lease_until: DateTime<Utc>,
    /// Where to send it.
    pub url: String,
    /// The webhook's application (its key signs, its id is the expected answer).
    pub application_id: String,
}

/// What happens after a failed attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AfterFailure {
    /// Try again at this time.
    RetryAt(DateTime<Utc>),
    /// The retry window is over: the notification is dead (replayable).
    Dead,
}

/// A notification that is due and not held by a sender.
const DUE: &str = "state = 'pending' AND next_attempt_at <= now()
                   AND (lease_until IS NULL OR lease_until <= now())";

/// Claims up to `batch` due notifications for `lease`.
pub async fn claim(
    pool: &PgPool,
    batch: i64,
    lease: Duration,
) -> Result<Vec<Claimed>, sqlx::Error> {
    sqlx::query_as(&format!(
        "WITH due AS (
            SELECT id FROM webhook_deliveries WHERE {DUE}
             ORDER BY next_attempt_at LIMIT $1
             FOR UPDATE SKIP LOCKED)
         UPDATE webhook_deliveries d SET lease_until = now() + make_interval(secs => $2)
           FROM due, webhooks w
          WHERE d.id = due.id AND w.id = d.webhook_id
         RETURNING d.id, d.webhook_id, d.account_id, d.generation, d.attempts,
                   COALESCE(d.replayed_at, d.created_at) AS window_start, d.lease_until,
                   w.url, w.application_id"
    ))
    .bind(batch)
    .bind(lease.as_secs_f64())
    .fetch_all(pool)
    .await
}

/// True when some notification is due and not held by a sender: what [`claim`] would
/// take. One probe of the partial index of pending rows.
pub async fn any_due(pool: &PgPool) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(&format!(
        "SELECT EXISTS (SELECT 1 FROM webhook_deliveries WHERE {DUE})"
    ))
    .fetch_one(pool)
    .await
}

fn latency_ms(answer: &Answer) -> i32 {
    i32::try_from(answer.latency.as_millis()).unwrap_or(i32::MAX)
}

/// Records an attempt the receiver took. The notification is delivered if no new events
/// joined it since the claim; otherwise it is pending again, due now, for the new
/// generation. Returns the state it is left in (`None`: it no longer exists or was
/// already finished by another sender).
pub async fn record_received(
    pool: &PgPool,
    claimed: &Claimed,
    answer: &Answer,
) -> Result<Option<DeliveryState>, sqlx::Error> {
    let state: Option<String> = sqlx::query_scalar(
        "WITH attempt AS (
            INSERT INTO webhook_attempts (delivery_id, status, error, latency_ms)
            SELECT id, $3, NULL, $4 FROM webhook_deliveries WHERE id = $1)
         UPDATE webhook_deliveries SET
            state = CASE WHEN generation = $2 THEN 'delivered' ELSE 'pending' END,
            finished_at = CASE WHEN generation = $2 THEN now() END,
            next_attempt_at = now(), lease_until = NULL,
            last_status = $3, last_error = NULL, last_latency_ms = $4
          WHERE id = $1 AND state = 'pending'
         RETURNING state",
    )
    .bind(claimed.id)
    .bind(claimed.generation)
    .bind(answer.status.map(i32::from))
    .bind(latency_ms(answer))
    .fetch_optional(pool)
    .await?;
    Ok(state.as_deref().and_then(DeliveryState::parse))
}

/// Records a failed attempt: one more attempt, then a retry at the given time or the
/// dead state. Nothing changes but the log if the claim's lease ran out meanwhile (another
/// sender owns the notification now). True when the notification was updated.
pub async fn record_failed(
    pool: &PgPool,
    claimed: &Claimed,
    answer: &Answer,
    next: AfterFailure,
) -> Result<bool, sqlx::Error> {
    let (dead, retry_at) = match next {
        AfterFailure::RetryAt(at) => (false, Some(at)),
        AfterFailure::Dead => (true, None),
    };
    let done = sqlx::query(
        "WITH attempt AS (
            INSERT INTO webhook_attempts (delivery_id, status, error, latency_ms)
            SELECT id, $3, $4, $5 FROM webhook_deliveries WHERE id = $1)
         UPDATE webhook_deliveries SET
            state = CASE WHEN $6 THEN 'dead' ELSE 'pending' END,
            finished_at = CASE WHEN $6 THEN now() END,
            attempts = attempts + 1,
            next_attempt_at = COALESCE($7, next_attempt_at), lease_until = NULL,
            last_status = $3, last_error = $4, last_latency_ms = $5
          WHERE id = $1 AND state = 'pending' AND lease_until = $2",
    )
    .bind(claimed.id)
    .bind(claimed.lease_until)
    .bind(answer.status.map(i32::from))
    .bind(answer.error.as_deref())
    .bind(latency_ms(answer))
    .bind(dead)
    .bind(retry_at)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Forgets up to `limit` notifications delivered more than `keep_secs` ago, with their
/// attempts (housekeeping). Returns how many went.
pub async fn forget_delivered(
    pool: &PgPool,
    keep_secs: u64,
    limit: i64,
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "DELETE FROM webhook_deliveries WHERE id IN (
            SELECT id FROM webhook_deliveries
             WHERE state = 'delivered' AND finished_at < now() - make_interval(secs => $1)
             LIMIT $2)",
    )
    .bind(keep_secs as f64)
    .bind(limit)
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}
