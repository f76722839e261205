//! Data of deleted accounts still to remove (`account_removals`): a trigger records one row
//! per deleted account, the worker's housekeeping removes what it names and then the row.

use sqlx::{FromRow, PgPool};

/// What a deleted account left to remove.
#[derive(Clone, Debug, FromRow)]
pub struct Removal {
    /// The deleted account's id (never reused).
    pub account_id: i64,
    /// Its application.
    pub application_id: String,
    /// Its service.
    pub service: String,
    /// Its stored configuration (where a `local` account's folder is).
    pub config: serde_json::Value,
    /// Its unfinished multipart uploads (their parts are on the data root).
    pub multipart_ids: Vec<i64>,
    /// Earlier runs that failed on it.
    pub attempts: i32,
}

/// Up to `limit` removals, oldest first, those that failed before last.
pub async fn pending(pool: &PgPool, limit: i64) -> Result<Vec<Removal>, sqlx::Error> {
    sqlx::query_as(
        "SELECT account_id, application_id, service, config, multipart_ids, attempts
         FROM account_removals ORDER BY attempts, deleted_at, account_id LIMIT $1",
    )
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// Everything of the account is gone: forget the removal.
pub async fn done(pool: &PgPool, account: i64) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM account_removals WHERE account_id = $1")
        .bind(account)
        .execute(pool)
        .await?;
    Ok(())
}

/// A run failed on this removal: count it and say why (the next run tries again).
pub async fn failed(pool: &PgPool, account: i64, error: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE account_removals SET attempts = attempts + 1, last_error = $2
         WHERE account_id = $1",
    )
    .bind(account)
    .bind(error)
    .execute(pool)
    .await?;
    Ok(())
}
