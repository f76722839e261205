//! Application API keys. A key is `<id>.<secret>`; lookups go through its digest, so a
//! key is shown once, at creation, and later listed by id. A sealed copy is kept too
//! (when `secrets.keys` is configured): Kloudless webhooks are signed with the key.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgExecutor, PgPool};

use crate::{
    crypto::Cipher,
    error::ApiError,
    secret::{digest, random_id, random_token},
};

/// An API key row (without the key).
#[derive(Clone, Debug, FromRow)]
pub struct ApiKey {
    /// Public id: the part of the key before the dot.
    pub id: String,
    /// Owning application.
    pub application_id: String,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last modified.
    pub modified_at: DateTime<Utc>,
}

/// The key id of a full key, if it has the Cloudbridge shape.
pub fn key_id(key: &str) -> Option<&str> {
    key.split_once('.').map(|(id, _)| id)
}

/// Creates a key for an application, sealed with `cipher` too when there is one (a key
/// without a sealed copy cannot sign webhooks); returns the row and the key in clear.
pub async fn create<'e>(
    db: impl PgExecutor<'e>,
    application: &str,
    cipher: Option<&Cipher>,
) -> Result<(ApiKey, String), sqlx::Error> {
    let id = random_id(16);
    let key = format!("{id}.{}", random_token(24));
    let row = sqlx::query_as(
        "INSERT INTO api_keys (id, application_id, key_hash, key_sealed) VALUES ($1, $2, $3, $4)
         RETURNING id, application_id, created_at, modified_at",
    )
    .bind(&id)
    .bind(application)
    .bind(digest(&key))
    .bind(cipher.map(|c| c.seal(key.as_bytes())))
    .fetch_one(db)
    .await?;
    Ok((row, key))
}

/// An application's keys, oldest first.
pub async fn list(pool: &PgPool, application: &str) -> Result<Vec<ApiKey>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, application_id, created_at, modified_at FROM api_keys
         WHERE application_id = $1 ORDER BY created_at, id",
    )
    .bind(application)
    .fetch_all(pool)
    .await
}

/// One page of an application's keys, oldest first, with the number of keys.
pub async fn page(
    pool: &PgPool,
    application: &str,
    page: u32,
    page_size: u32,
) -> Result<(Vec<ApiKey>, i64), sqlx::Error> {
    let rows = sqlx::query_as(
        "SELECT id, application_id, created_at, modified_at FROM api_keys
         WHERE application_id = $1 ORDER BY created_at, id LIMIT $2 OFFSET $3",
    )
    .bind(application)
    .bind(i64::from(page_size))
    .bind(super::offset(page, page_size))
    .fetch_all(pool)
    .await?;
    let total = sqlx::query_scalar("SELECT count(*) FROM api_keys WHERE application_id = $1")
        .bind(application)
        .fetch_one(pool)
        .await?;
    Ok((rows, total))
}

/// Deletes a key given either in full or by id. True when it existed.
pub async fn delete(
    pool: &PgPool,
    application: &str,
    key_or_id: &str,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "DELETE FROM api_keys WHERE application_id = $1 AND (id = $2 OR key_hash = $3)",
    )
    .bind(application)
    .bind(key_or_id)
    .bind(digest(key_or_id))
    .execute(pool)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// The active application an API key belongs to.
pub async fn find_application(pool: &PgPool, key: &str) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT k.application_id FROM api_keys k JOIN applications a ON a.id = k.application_id
         WHERE k.key_hash = $1 AND a.active",
    )
    .bind(digest(key))
    .fetch_optional(pool)
    .await
}

/// The signing key in clear of each of `applications` that has one: its oldest key with
/// a sealed copy, opened with `cipher`. Both the registration's verification ping and
/// delivery sign with it. An application whose key does not open (sealed under a key no
/// longer configured, or damaged) maps to that error; one without a sealed key is absent.
pub async fn signing_keys(
    pool: &PgPool,
    cipher: &Cipher,
    applications: &[String],
) -> Result<HashMap<String, Result<Vec<u8>, ApiError>>, sqlx::Error> {
    let sealed: Vec<(String, Vec<u8>)> = sqlx::query_as(
        "SELECT DISTINCT ON (application_id) application_id, key_sealed FROM api_keys
         WHERE application_id = ANY($1) AND key_sealed IS NOT NULL
         ORDER BY application_id, created_at, id",
    )
    .bind(applications)
    .fetch_all(pool)
    .await?;
    Ok(sealed
        .into_iter()
        .map(|(app, sealed)| (app, cipher.open(&sealed)))
        .collect())
}

/// One application's signing key in clear (see [`signing_keys`]); `None` when it has no
/// key with a sealed copy.
pub async fn signing_key(
    pool: &PgPool,
    cipher: &Cipher,
    application: &str,
) -> Result<Option<Vec<u8>>, ApiError> {
    let mut keys = signing_keys(pool, cipher, &[application.to_string()]).await?;
    keys.remove(application).transpose()
}
