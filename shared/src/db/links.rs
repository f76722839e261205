//! Shared links to files. The id is a random token and also the path of the link's URL;
//! passwords are stored as argon2 hashes.

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgPool};

use crate::secret::random_token;

/// A link row.
#[derive(Clone, Debug, FromRow)]
pub struct Link {
    /// Random, unguessable id (also in the URL).
    pub id: String,
    /// Account of the file.
    pub account_id: i64,
    /// The file's id.
    pub item_id: String,
    /// Serve the bytes at once instead of a landing page.
    pub direct: bool,
    /// Inactive links serve nothing.
    pub active: bool,
    /// Argon2 hash of the password, if one is set.
    pub password_hash: Option<String>,
    /// After this time the link serves nothing.
    pub expiration: Option<DateTime<Utc>>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last modified.
    pub modified_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, account_id, item_id, direct, active, password_hash, expiration, \
                       created_at, modified_at";

/// What a new link or a change to one sets.
#[derive(Clone, Debug, Default)]
pub struct LinkFields {
    /// The file's id.
    pub item_id: Option<String>,
    /// Direct download.
    pub direct: Option<bool>,
    /// Active.
    pub active: Option<bool>,
    /// New password hash: `Some(None)` removes the password.
    pub password_hash: Option<Option<String>>,
    /// New expiration: `Some(None)` removes it.
    pub expiration: Option<Option<DateTime<Utc>>>,
}

/// Creates a link to `item_id`.
pub async fn create(pool: &PgPool, account: i64, f: LinkFields) -> Result<Link, sqlx::Error> {
    sqlx::query_as(&format!(
        "INSERT INTO links (id, account_id, item_id, direct, active, password_hash, expiration)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {COLUMNS}"
    ))
    .bind(random_token(18))
    .bind(account)
    .bind(f.item_id.unwrap_or_default())
    .bind(f.direct.unwrap_or(false))
    .bind(f.active.unwrap_or(true))
    .bind(f.password_hash.flatten())
    .bind(f.expiration.flatten())
    .fetch_one(pool)
    .await
}

/// A link of an account.
pub async fn get(pool: &PgPool, account: i64, id: &str) -> Result<Option<Link>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM links WHERE account_id = $1 AND id = $2"
    ))
    .bind(account)
    .bind(id)
    .fetch_optional(pool)
    .await
}

/// A link by id alone (serving its URL).
pub async fn find(pool: &PgPool, id: &str) -> Result<Option<Link>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM links WHERE id = $1"))
        .bind(id)
        .fetch_optional(pool)
        .await
}

/// One page of an account's links (oldest first), optionally only (in)active ones, and
/// how many there are in all.
pub async fn list(
    pool: &PgPool,
    account: i64,
    active: Option<bool>,
    page: u32,
    page_size: u32,
) -> Result<(Vec<Link>, i64), sqlx::Error> {
    let rows = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM links WHERE account_id = $1 AND ($2::bool IS NULL OR active = $2)
         ORDER BY created_at, id LIMIT $3 OFFSET $4"
    ))
    .bind(account)
    .bind(active)
    .bind(i64::from(page_size))
    .bind(super::offset(page, page_size))
    .fetch_all(pool)
    .await?;
    let total = sqlx::query_scalar(
        "SELECT count(*) FROM links WHERE account_id = $1 AND ($2::bool IS NULL OR active = $2)",
    )
    .bind(account)
    .bind(active)
    .fetch_one(pool)
    .await?;
    Ok((rows, total))
}

/// Applies a change; `None` when the link does not exist.
pub async fn update(
    pool: &PgPool,
    account: i64,
    id: &str,
    f: LinkFields,
) -> Result<Option<Link>, sqlx::Error> {
    sqlx::query_as(&format!(
        "UPDATE links SET
            item_id = COALESCE($3, item_id),
            direct = COALESCE($4, direct),
            active = COALESCE($5, active),
            password_hash = CASE WHEN $6 THEN $7 ELSE password_hash END,
            expiration = CASE WHEN $8 THEN $9 ELSE expiration END,
            modified_at = now()
         WHERE account_id = $1 AND id = $2 RETURNING {COLUMNS}"
    ))
    .bind(account)
    .bind(id)
    .bind(f.item_id)
    .bind(f.direct)
    .bind(f.active)
    .bind(f.password_hash.is_some())
    .bind(f.password_hash.flatten())
    .bind(f.expiration.is_some())
    .bind(f.expiration.flatten())
    .fetch_optional(pool)
    .await
}

/// Deletes a link; true when it existed.
pub async fn delete(pool: &PgPool, account: i64, id: &str) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM links WHERE account_id = $1 AND id = $2")
        .bind(account)
        .bind(id)
        .execute(pool)
        .await?;
    Ok(done.rows_affected() > 0)
}
