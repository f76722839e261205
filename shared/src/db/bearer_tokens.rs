//! Per-account bearer tokens (stored as digests).

use sqlx::{PgExecutor, PgPool};

use crate::secret::{digest, random_token};

/// Issues a new bearer token for an account; returns it in clear.
pub async fn create<'e>(db: impl PgExecutor<'e>, account: i64) -> Result<String, sqlx::Error> {
    let token = random_token(32);
    sqlx::query("INSERT INTO bearer_tokens (account_id, token_hash) VALUES ($1, $2)")
        .bind(account)
        .bind(digest(&token))
        .execute(db)
        .await?;
    Ok(token)
}

/// The `(account, application)` a token was issued for, if the application is active.
pub async fn find(pool: &PgPool, token: &str) -> Result<Option<(i64, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT t.account_id, ac.application_id FROM bearer_tokens t
         JOIN accounts ac ON ac.id = t.account_id
         JOIN applications a ON a.id = ac.application_id
         WHERE t.token_hash = $1 AND a.active",
    )
    .bind(digest(token))
    .fetch_optional(pool)
    .await
}
