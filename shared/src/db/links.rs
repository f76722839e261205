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
    /// The file's identity at its service when the link was made (`None`: not known).
    pub item_key: Option<String>,
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

const COLUMNS: &str = "id, account_id, item_id, item_key, direct, active, password_hash, \
                       expiration, created_at, modified_at";

/// What a new link or a change to one sets.
#[derive(Clone, Debug, Default)]
pub struct LinkFields {
    /// The file: its id, path and identity at its service.
    pub item: Option<Item>,
    /// Direct download.
    pub direct: Option<bool>,
    /// Active.
    pub active: Option<bool>,
    /// New password hash: `Some(None)` removes the password.
    pub password_hash: Option<Option<String>>,
    /// New expiration: `Some(None)` removes it.
    pub expiration: Option<Option<DateTime<Utc>>>,
}

/// What a link is made for.
#[derive(Clone, Debug)]
pub struct Item {
    /// The file's id.
    pub id: String,
    /// Its path in the account.
    pub path: String,
    /// Its identity at its service, if it has one beyond the path.
    pub key: Option<String>,
}

/// Creates a link to `f.item`.
pub async fn create(pool: &PgPool, account: i64, f: LinkFields) -> Result<Link, sqlx::Error> {
    sqlx::query_as(&format!(
        "INSERT INTO links (id, account_id, item_id, item_path, item_key, direct, active,
                            password_hash, expiration)
         VALUES ($1, $2, $3, $8, $9, $4, $5, $6, $7) RETURNING {COLUMNS}"
    ))
    .bind(random_token(18))
    .bind(account)
    .bind(f.item.as_ref().map(|i| i.id.clone()).unwrap_or_default())
    .bind(f.direct.unwrap_or(false))
    .bind(f.active.unwrap_or(true))
    .bind(f.password_hash.flatten())
    .bind(f.expiration.flatten())
    .bind(f.item.as_ref().map(|i| i.path.clone()))
    .bind(f.item.and_then(|i| i.key))
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
            item_path = CASE WHEN $3 IS NULL THEN item_path ELSE $10 END,
            item_key = CASE WHEN $3 IS NULL THEN item_key ELSE $11 END,
            direct = COALESCE($4, direct),
            active = COALESCE($5, active),
            password_hash = CASE WHEN $6 THEN $7 ELSE password_hash END,
            expiration = CASE WHEN $8 THEN $9 ELSE expiration END,
            modified_at = now()
         WHERE account_id = $1 AND id = $2 RETURNING {COLUMNS}"
    ))
    .bind(account)
    .bind(id)
    .bind(f.item.as_ref().map(|i| i.id.clone()))
    .bind(f.direct)
    .bind(f.active)
    .bind(f.password_hash.is_some())
    .bind(f.password_hash.flatten())
    .bind(f.expiration.is_some())
    .bind(f.expiration.flatten())
    .bind(f.item.as_ref().map(|i| i.path.clone()))
    .bind(f.item.and_then(|i| i.key))
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

/// Ends the links to an item deleted through the API: to the file `item_id`, or, for a
/// folder at `folder_path`, to every file below it.
pub async fn forget_item(
    pool: &PgPool,
    account: i64,
    item_id: &str,
    folder_path: Option<&str>,
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "DELETE FROM links WHERE account_id = $1
           AND (item_id = $2 OR ($3::text IS NOT NULL AND starts_with(item_path, $3 || '/')))",
    )
    .bind(account)
    .bind(item_id)
    .bind(folder_path)
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

/// Deletes a link whose item is gone (found when serving it).
pub async fn forget(pool: &PgPool, id: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM links WHERE id = $1")
        .bind(id)
        .execute(pool)
        .await?;
    Ok(())
}
