//! Webhooks and their outbox: registered URLs per application, one pending notification
//! per account and webhook (a burst of events is one ping), delivered at least once.

use sqlx::PgConnection;

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
