//! Unfinished chunked uploads from the File Picker (`/drop/{app_id}`), one per picker and
//! plupload file id. Each is fed into a multipart session of its upload location's account
//! (see [`super::multipart`]): the chunks are that session's parts, staged on the data
//! root; removing the session removes the row (the foreign key cascades), so "discard an
//! upload" is "delete its session", here and in housekeeping.

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgPool};

use super::multipart::{self, NewSession};

/// An unfinished upload, with what its session says about where it goes.
#[derive(Clone, Debug, FromRow)]
pub struct DropUpload {
    /// Its multipart session (whose parts are the chunks received).
    pub multipart_id: i64,
    /// The application it was sent to.
    pub application_id: String,
    /// The upload location it goes to.
    pub location_id: i64,
    /// The picker's `X-Picker-Id`.
    pub picker_id: String,
    /// The picker's id of the file (plupload's `file_id`).
    pub file_id: String,
    /// File name.
    pub name: String,
    /// Size declared by the picker.
    pub size: i64,
    /// How many chunks the picker said it sends.
    pub chunks: i32,
    /// The 0-based chunk expected next.
    pub next_chunk: i32,
    /// Bytes received so far.
    pub bytes_received: i64,
    /// The account the file goes to (the session's).
    pub account_id: i64,
    /// The folder it goes to (the session's).
    pub parent_id: String,
    /// Size of every chunk but the last (the session's part size).
    pub part_size: i64,
    /// Started.
    pub created_at: DateTime<Utc>,
    /// After this time the upload is removed, staged chunks and all.
    pub expires_at: DateTime<Utc>,
}

const COLUMNS: &str = "d.multipart_id, d.application_id, d.location_id, d.picker_id, d.file_id, \
    d.name, d.size, d.chunks, d.next_chunk, d.bytes_received, m.account_id, m.parent_id, \
    m.part_size, d.created_at, d.expires_at";

/// Which upload of which picker: the key of an unfinished upload.
#[derive(Clone, Copy, Debug)]
pub struct Key<'a> {
    /// The application.
    pub application: &'a str,
    /// The picker's `X-Picker-Id`.
    pub picker_id: &'a str,
    /// Plupload's `file_id`.
    pub file_id: &'a str,
}

/// A new upload: where it goes and what the picker announced.
#[derive(Clone, Debug)]
pub struct NewDrop {
    /// The upload location.
    pub location_id: i64,
    /// Its account.
    pub account_id: i64,
    /// Its folder.
    pub parent_id: String,
    /// File name.
    pub name: String,
    /// Declared size.
    pub size: i64,
    /// Declared number of chunks.
    pub chunks: i32,
    /// Size of every chunk but the last.
    pub part_size: i64,
    /// Lifetime in seconds (renewed by every chunk).
    pub ttl_secs: i64,
}

/// Starts an upload afresh (a picker that restarts a file sends chunk 0 again): any
/// unfinished one of the same key is discarded, unless it is being completed. Returns the
/// new upload and the session of the one it replaced (whose parts are to be removed);
/// `None` when another request started the same upload at the same moment or is
/// completing it.
pub async fn start(
    pool: &PgPool,
    key: Key<'_>,
    new: NewDrop,
) -> Result<Option<(DropUpload, Option<i64>)>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let replaced: Option<i64> = sqlx::query_scalar(
        "DELETE FROM multipart_uploads WHERE NOT completing AND id = (
             SELECT multipart_id FROM drop_uploads
              WHERE application_id = $1 AND picker_id = $2 AND file_id = $3)
         RETURNING id",
    )
    .bind(key.application)
    .bind(key.picker_id)
    .bind(key.file_id)
    .fetch_optional(&mut *tx)
    .await?;
    let session = NewSession {
        parent_id: new.parent_id,
        name: new.name.clone(),
        size: new.size,
        part_size: new.part_size,
        overwrite: false,
        expiry_secs: new.ttl_secs,
    };
    let session = multipart::create(&mut *tx, new.account_id, session).await?;
    let inserted: Option<i64> = sqlx::query_scalar(
        "INSERT INTO drop_uploads (multipart_id, application_id, location_id, picker_id,
                                   file_id, name, size, chunks, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT (application_id, picker_id, file_id) DO NOTHING
         RETURNING multipart_id",
    )
    .bind(session.id)
    .bind(key.application)
    .bind(new.location_id)
    .bind(key.picker_id)
    .bind(key.file_id)
    .bind(&new.name)
    .bind(new.size)
    .bind(new.chunks)
    .bind(session.expires_at)
    .fetch_optional(&mut *tx)
    .await?;
    if inserted.is_none() {
        return Ok(None);
    }
    let upload = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM drop_uploads d JOIN multipart_uploads m ON m.id = d.multipart_id
          WHERE d.multipart_id = $1"
    ))
    .bind(session.id)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Some((upload, replaced)))
}

/// The unfinished upload of `key`, unless it expired or is being completed.
pub async fn get(pool: &PgPool, key: Key<'_>) -> Result<Option<DropUpload>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM drop_uploads d JOIN multipart_uploads m ON m.id = d.multipart_id
          WHERE d.application_id = $1 AND d.picker_id = $2 AND d.file_id = $3
            AND d.expires_at > now() AND NOT m.completing"
    ))
    .bind(key.application)
    .bind(key.picker_id)
    .bind(key.file_id)
    .fetch_optional(pool)
    .await
}

/// Records that the chunks before `next_chunk` (`bytes_received` bytes) are staged, and
/// gives the upload and its session `ttl_secs` more to live. Never goes backwards.
pub async fn advance(
    pool: &PgPool,
    multipart_id: i64,
    next_chunk: i32,
    bytes_received: i64,
    ttl_secs: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "WITH d AS (
             UPDATE drop_uploads
                SET next_chunk = $2, bytes_received = $3,
                    expires_at = now() + make_interval(secs => $4)
              WHERE multipart_id = $1 AND next_chunk <= $2
             RETURNING multipart_id, expires_at)
         UPDATE multipart_uploads m SET expires_at = d.expires_at FROM d
          WHERE m.id = d.multipart_id",
    )
    .bind(multipart_id)
    .bind(next_chunk)
    .bind(bytes_received)
    .bind(ttl_secs as f64)
    .execute(pool)
    .await?;
    Ok(())
}

/// Discards the unfinished upload of `key` (aborted by the picker); returns its session's
/// id when there was one (its parts are to be removed).
pub async fn discard(pool: &PgPool, key: Key<'_>) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "DELETE FROM multipart_uploads WHERE id = (
             SELECT multipart_id FROM drop_uploads
              WHERE application_id = $1 AND picker_id = $2 AND file_id = $3)
         RETURNING id",
    )
    .bind(key.application)
    .bind(key.picker_id)
    .bind(key.file_id)
    .fetch_optional(pool)
    .await
}

/// Unfinished, unexpired uploads of an application (anonymous uploads are bounded by it).
pub async fn open_count(pool: &PgPool, application: &str) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT count(*) FROM drop_uploads WHERE application_id = $1 AND expires_at > now()",
    )
    .bind(application)
    .fetch_one(pool)
    .await
}

/// Removes up to `limit` expired uploads with their sessions; returns the sessions' ids
/// (their staged parts go next).
pub async fn purge_expired(pool: &PgPool, limit: i64) -> Result<Vec<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "DELETE FROM multipart_uploads WHERE id IN (
             SELECT multipart_id FROM drop_uploads WHERE expires_at <= now() LIMIT $1)
         RETURNING id",
    )
    .bind(limit)
    .fetch_all(pool)
    .await
}
