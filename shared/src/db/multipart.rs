//! Multipart upload sessions. The parts themselves are staged on the data root (see the
//! API tier's `parts` module); a row says what they will become and until when.

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgExecutor, PgPool};

/// A session row.
#[derive(Clone, Debug, FromRow)]
pub struct Session {
    /// Session id.
    pub id: i64,
    /// Account the file goes to.
    pub account_id: i64,
    /// Target folder id.
    pub parent_id: String,
    /// File name.
    pub name: String,
    /// Total size announced by the client.
    pub size: i64,
    /// Size of every part but the last.
    pub part_size: i64,
    /// Replace an existing file instead of choosing a new name.
    pub overwrite: bool,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// After this time the session and its parts are removed.
    pub expires_at: DateTime<Utc>,
}

const COLUMNS: &str =
    "id, account_id, parent_id, name, size, part_size, overwrite, created_at, expires_at";

/// What a new session will upload.
#[derive(Clone, Debug)]
pub struct NewSession {
    /// Target folder id.
    pub parent_id: String,
    /// File name.
    pub name: String,
    /// Total size.
    pub size: i64,
    /// Part size.
    pub part_size: i64,
    /// Replace an existing file.
    pub overwrite: bool,
    /// Lifetime in seconds.
    pub expiry_secs: i64,
}

/// Opens a session (in a transaction of the caller's, or not).
pub async fn create<'e>(
    db: impl PgExecutor<'e>,
    account: i64,
    s: NewSession,
) -> Result<Session, sqlx::Error> {
    sqlx::query_as(&format!(
        "INSERT INTO multipart_uploads (account_id, parent_id, name, size, part_size, overwrite,
                                        expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, now() + make_interval(secs => $7))
         RETURNING {COLUMNS}"
    ))
    .bind(account)
    .bind(s.parent_id)
    .bind(s.name)
    .bind(s.size)
    .bind(s.part_size)
    .bind(s.overwrite)
    .bind(s.expiry_secs as f64)
    .fetch_one(db)
    .await
}

/// An open (unexpired, not completing) session of an account.
pub async fn get(pool: &PgPool, account: i64, id: i64) -> Result<Option<Session>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM multipart_uploads
         WHERE account_id = $1 AND id = $2 AND expires_at > now() AND NOT completing"
    ))
    .bind(account)
    .bind(id)
    .fetch_optional(pool)
    .await
}

/// Claims an open session for completion, so that only one request completes it.
pub async fn claim(pool: &PgPool, account: i64, id: i64) -> Result<Option<Session>, sqlx::Error> {
    sqlx::query_as(&format!(
        "UPDATE multipart_uploads SET completing = true
         WHERE account_id = $1 AND id = $2 AND expires_at > now() AND NOT completing
         RETURNING {COLUMNS}"
    ))
    .bind(account)
    .bind(id)
    .fetch_optional(pool)
    .await
}

/// Gives a claimed session back after a failed completion, so the client may retry.
pub async fn release(pool: &PgPool, id: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE multipart_uploads SET completing = false WHERE id = $1")
        .bind(id)
        .execute(pool)
        .await?;
    Ok(())
}

/// Removes a session (completed or aborted); true when it existed.
pub async fn delete(pool: &PgPool, account: i64, id: i64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM multipart_uploads WHERE account_id = $1 AND id = $2")
        .bind(account)
        .bind(id)
        .execute(pool)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// Removes up to `limit` expired sessions; returns their ids (their parts go next).
pub async fn purge_expired(pool: &PgPool, limit: i64) -> Result<Vec<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "DELETE FROM multipart_uploads WHERE id IN (
             SELECT id FROM multipart_uploads WHERE expires_at <= now() LIMIT $1)
         RETURNING id",
    )
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// Whether a session exists at all (expired or not); parts without one are orphans.
pub async fn exists(pool: &PgPool, id: i64) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM multipart_uploads WHERE id = $1)")
        .bind(id)
        .fetch_one(pool)
        .await
}
