//! Custom properties of files: key/value pairs kept here, not on the service.

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgPool};

/// One property.
#[derive(Clone, Debug, FromRow)]
pub struct Property {
    /// Key.
    pub key: String,
    /// Value (any JSON).
    pub value: serde_json::Value,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last modified.
    pub modified_at: DateTime<Utc>,
}

/// A file's properties, by key.
pub async fn list(pool: &PgPool, account: i64, item: &str) -> Result<Vec<Property>, sqlx::Error> {
    sqlx::query_as(
        "SELECT key, value, created_at, modified_at FROM file_properties
         WHERE account_id = $1 AND item_id = $2 ORDER BY key",
    )
    .bind(account)
    .bind(item)
    .fetch_all(pool)
    .await
}

/// Sets (`Some`) or removes (`None`) each key, all or nothing.
pub async fn apply(
    pool: &PgPool,
    account: i64,
    item: &str,
    changes: &[(String, Option<serde_json::Value>)],
) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    for (key, value) in changes {
        match value {
            Some(value) => {
                sqlx::query(
                    "INSERT INTO file_properties (account_id, item_id, key, value)
                     VALUES ($1, $2, $3, $4)
                     ON CONFLICT (account_id, item_id, key)
                     DO UPDATE SET value = EXCLUDED.value, modified_at = now()",
                )
                .bind(account)
                .bind(item)
                .bind(key)
                .bind(value)
                .execute(&mut *tx)
                .await?;
            }
            None => {
                sqlx::query(
                    "DELETE FROM file_properties WHERE account_id = $1 AND item_id = $2 AND key = $3",
                )
                .bind(account)
                .bind(item)
                .bind(key)
                .execute(&mut *tx)
                .await?;
            }
        }
    }
    tx.commit().await
}

/// Removes all of a file's properties.
pub async fn clear(pool: &PgPool, account: i64, item: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM file_properties WHERE account_id = $1 AND item_id = $2")
        .bind(account)
        .bind(item)
        .execute(pool)
        .await?;
    Ok(())
}

/// Properties kept by an id a file had (`from`) are kept by its id now (`to`), unless it
/// has some by `to` already.
pub async fn rekey(pool: &PgPool, account: i64, from: &str, to: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE file_properties SET item_id = $3 WHERE account_id = $1 AND item_id = $2
           AND NOT EXISTS (SELECT 1 FROM file_properties WHERE account_id = $1 AND item_id = $3)",
    )
    .bind(account)
    .bind(from)
    .bind(to)
    .execute(pool)
    .await?;
    Ok(())
}

/// Properties and links follow a file that moved within its account.
pub async fn follow_move(
    pool: &PgPool,
    account: i64,
    from: &str,
    to: &str,
    to_path: &str,
) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    // Left over from a file once at `to` and deleted outside Cloudbridge (unless the file
    // kept its id).
    sqlx::query("DELETE FROM file_properties WHERE account_id = $1 AND item_id = $2 AND $2 <> $3")
        .bind(account)
        .bind(to)
        .bind(from)
        .execute(&mut *tx)
        .await?;
    sqlx::query("UPDATE file_properties SET item_id = $3 WHERE account_id = $1 AND item_id = $2")
        .bind(account)
        .bind(from)
        .bind(to)
        .execute(&mut *tx)
        .await?;
    // A link's identity (`item_key`) is the file's, which a move keeps.
    sqlx::query(
        "UPDATE links SET item_id = $3, item_path = $4 WHERE account_id = $1 AND item_id = $2",
    )
    .bind(account)
    .bind(from)
    .bind(to)
    .bind(to_path)
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}
