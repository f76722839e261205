//! Webhooks and their outbox: registered URLs per application, one pending notification
//! per account and webhook (a burst of events is one ping), delivered at least once.
//!
//! # Layout
//! - this module: the `webhooks` rows and [`notify`], which fills the outbox.
//! - [`outbox`]: what senders do: claim due notifications under a lease, record each
//!   attempt's result, forget old delivered ones.
//! - [`log`]: the delivery log (deliveries and their attempts) and replays.

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgConnection, PgPool};

pub mod log;
pub mod outbox;

pub use log::{Attempt, Delivery, DeliveryState, LogFilter};
pub use outbox::{forget_delivered, Claimed};

/// A registered webhook.
#[derive(Clone, Debug, FromRow)]
pub struct Webhook {
    /// Numeric id.
    pub id: i64,
    /// The application whose accounts it is notified about.
    pub application_id: String,
    /// Where notifications are POSTed.
    pub url: String,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last modified.
    pub modified_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, application_id, url, created_at, modified_at";

/// Registers a webhook for an application.
pub async fn create(pool: &PgPool, application: &str, url: &str) -> Result<Webhook, sqlx::Error> {
    sqlx::query_as(&format!(
        "INSERT INTO webhooks (application_id, url) VALUES ($1, $2) RETURNING {COLUMNS}"
    ))
    .bind(application)
    .bind(url)
    .fetch_one(pool)
    .await
}

/// A page of an application's webhooks, oldest first, and their total count.
pub async fn list(
    pool: &PgPool,
    application: &str,
    page: u32,
    page_size: u32,
) -> Result<(Vec<Webhook>, i64), sqlx::Error> {
    let rows = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM webhooks WHERE application_id = $1
         ORDER BY id LIMIT $2 OFFSET $3"
    ))
    .bind(application)
    .bind(i64::from(page_size))
    .bind(super::offset(page, page_size))
    .fetch_all(pool)
    .await?;
    let total = sqlx::query_scalar("SELECT count(*) FROM webhooks WHERE application_id = $1")
        .bind(application)
        .fetch_one(pool)
        .await?;
    Ok((rows, total))
}

/// One of an application's webhooks.
pub async fn get(
    pool: &PgPool,
    application: &str,
    id: i64,
) -> Result<Option<Webhook>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM webhooks WHERE application_id = $1 AND id = $2"
    ))
    .bind(application)
    .bind(id)
    .fetch_optional(pool)
    .await
}

/// Removes one of an application's webhooks with its outbox and log. True when it existed.
pub async fn delete(pool: &PgPool, application: &str, id: i64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM webhooks WHERE application_id = $1 AND id = $2")
        .bind(application)
        .bind(id)
        .execute(pool)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// Records that `account` has new events for every webhook of its application: a new
/// pending notification, or one more generation of the one already pending (so a send
/// already in flight does not count for the new events). Runs in the transaction that
/// stores the events, so a notification exists exactly when events do.
pub async fn notify(conn: &mut PgConnection, account: i64) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO webhook_deliveries (webhook_id, account_id)
         SELECT w.id, a.id FROM accounts a JOIN webhooks w ON w.application_id = a.application_id
          WHERE a.id = $1
         ON CONFLICT (webhook_id, account_id) WHERE state = 'pending'
         DO UPDATE SET generation = webhook_deliveries.generation + 1",
    )
    .bind(account)
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}
