//! Developers and their DeveloperKeys (stored as digests).

use sqlx::PgPool;

use crate::secret::{digest, random_token};

/// Creates a developer (or finds the one with `email`) and gives it a new key.
/// Returns the key: the only time it exists in clear.
pub async fn create_with_new_key(pool: &PgPool, email: &str) -> Result<String, sqlx::Error> {
    let key = random_token(32);
    ensure_with_key(pool, email, &key).await?;
    Ok(key)
}

/// Makes sure a developer `email` exists and `key` is one of its DeveloperKeys.
pub async fn ensure_with_key(pool: &PgPool, email: &str, key: &str) -> Result<i64, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO developers (email) VALUES ($1)
         ON CONFLICT (email) DO UPDATE SET email = EXCLUDED.email RETURNING id",
    )
    .bind(email)
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO developer_keys (developer_id, key_hash) VALUES ($1, $2)
         ON CONFLICT (key_hash) DO NOTHING",
    )
    .bind(id)
    .bind(digest(key))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// The developer owning a DeveloperKey.
pub async fn find_by_key(pool: &PgPool, key: &str) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar("SELECT developer_id FROM developer_keys WHERE key_hash = $1")
        .bind(digest(key))
        .fetch_optional(pool)
        .await
}
