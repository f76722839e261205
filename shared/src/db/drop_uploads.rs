//! Chunked uploads from the File Picker (`/drop/{app_id}`), one per picker and plupload
//! file id. While unfinished, an upload feeds a multipart session of its upload location's
//! account (see [`super::multipart`]): the chunks are that session's parts, staged on the
//! data root. Once stored, the session goes and the row keeps the answer until it expires,
//! so that a chunk sent again gets the same answer rather than a second file.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{FromRow, PgPool};

use super::multipart::{self, NewSession};

/// An upload, unfinished or stored.
#[derive(Clone, Debug, FromRow)]
pub struct DropUpload {
    /// Row id.
    pub id: i64,
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
    /// Size of every chunk but the last.
    pub part_size: i64,
    /// The 0-based chunk expected next.
    pub next_chunk: i32,
    /// Bytes received so far.
    pub bytes_received: i64,
    /// While unfinished: the multipart session whose parts are the chunks received.
    pub multipart_id: Option<i64>,
    /// The session is being completed (the file is being stored) by some request.
    pub completing: bool,
    /// Once stored: the answer to its last chunk (the file's metadata).
    pub stored: Option<Value>,
    /// Started.
    pub created_at: DateTime<Utc>,
    /// After this time the row is removed (and, unfinished, its staged chunks).
    pub expires_at: DateTime<Utc>,
}

const COLUMNS: &str = "d.id, d.application_id, d.location_id, d.picker_id, d.file_id, d.name, \
    d.size, d.chunks, d.part_size, d.next_chunk, d.bytes_received, d.multipart_id, \
    COALESCE(m.completing, false) AS completing, d.stored, d.created_at, d.expires_at";

/// Which upload of which picker: the key of an upload.
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

/// Starts an upload afresh (a picker that restarts a file sends chunk 0 again): an
/// unfinished (or expired) one of the same key is discarded, unless it is being completed. Returns the
/// new upload and the session of the one it replaced (whose parts are to be removed);
/// `None` when the key is taken (another request started or is completing it, or it is
/// stored).
pub async fn start(
    pool: &PgPool,
    key: Key<'_>,
    new: NewDrop,
) -> Result<Option<(DropUpload, Option<i64>)>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let replaced: Option<Option<i64>> = sqlx::query_scalar(
        "DELETE FROM drop_uploads d
          WHERE application_id = $1 AND picker_id = $2 AND file_id = $3
            AND (stored IS NULL OR expires_at <= now())
            AND NOT EXISTS (SELECT 1 FROM multipart_uploads m
                             WHERE m.id = d.multipart_id AND m.completing)
         RETURNING multipart_id",
    )
    .bind(key.application)
    .bind(key.picker_id)
    .bind(key.file_id)
    .fetch_optional(&mut *tx)
    .await?;
    let replaced = replaced.flatten();
    if let Some(old) = replaced {
        sqlx::query("DELETE FROM multipart_uploads WHERE id = $1")
            .bind(old)
            .execute(&mut *tx)
            .await?;
    }
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
        "INSERT INTO drop_uploads (application_id, location_id, picker_id, file_id, name, size,
                                   chunks, part_size, multipart_id, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         ON CONFLICT (application_id, picker_id, file_id) DO NOTHING
         RETURNING id",
    )
    .bind(key.application)
    .bind(new.location_id)
    .bind(key.picker_id)
    .bind(key.file_id)
    .bind(&new.name)
    .bind(new.size)
    .bind(new.chunks)
    .bind(new.part_size)
    .bind(session.id)
    .bind(session.expires_at)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(id) = inserted else {
        return Ok(None);
    };
    let upload = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM drop_uploads d
           LEFT JOIN multipart_uploads m ON m.id = d.multipart_id
          WHERE d.id = $1"
    ))
    .bind(id)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Some((upload, replaced)))
}

/// The upload of `key`: unfinished (with its session) or stored, unless it expired.
pub async fn get(pool: &PgPool, key: Key<'_>) -> Result<Option<DropUpload>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM drop_uploads d
           LEFT JOIN multipart_uploads m ON m.id = d.multipart_id
          WHERE d.application_id = $1 AND d.picker_id = $2 AND d.file_id = $3
            AND d.expires_at > now() AND (m.id IS NOT NULL OR d.stored IS NOT NULL)"
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
    id: i64,
    next_chunk: i32,
    bytes_received: i64,
    ttl_secs: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "WITH d AS (
             UPDATE drop_uploads
                SET next_chunk = $2, bytes_received = $3,
                    expires_at = now() + make_interval(secs => $4)
              WHERE id = $1 AND next_chunk <= $2 AND stored IS NULL
             RETURNING multipart_id, expires_at)
         UPDATE multipart_uploads m SET expires_at = d.expires_at FROM d
          WHERE m.id = d.multipart_id",
    )
    .bind(id)
    .bind(next_chunk)
    .bind(bytes_received)
    .bind(ttl_secs as f64)
    .execute(pool)
    .await?;
    Ok(())
}

/// Records that upload `id` is stored: its session `session` goes (its parts are to be
/// removed) and `answer` is kept for `ttl_secs`, for chunks sent again.
pub async fn complete(
    pool: &PgPool,
    id: i64,
    session: i64,
    answer: &Value,
    ttl_secs: i64,
) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("DELETE FROM multipart_uploads WHERE id = $1")
        .bind(session)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "UPDATE drop_uploads SET stored = $2, multipart_id = NULL,
                expires_at = now() + make_interval(secs => $3)
          WHERE id = $1",
    )
    .bind(id)
    .bind(answer)
    .bind(ttl_secs as f64)
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}

/// Forgets the upload of `key` (aborted by the picker, or refused); returns its session's
/// id when it was unfinished (its parts are to be removed). A stored file stays.
pub async fn discard(pool: &PgPool, key: Key<'_>) -> Result<Option<i64>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let session: Option<Option<i64>> = sqlx::query_scalar(
        "DELETE FROM drop_uploads
          WHERE application_id = $1 AND picker_id = $2 AND file_id = $3
         RETURNING multipart_id",
    )
    .bind(key.application)
    .bind(key.picker_id)
    .bind(key.file_id)
    .fetch_optional(&mut *tx)
    .await?;
    let session = session.flatten();
    if let Some(id) = session {
        sqlx::query("DELETE FROM multipart_uploads WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(session)
}

/// Unfinished, unexpired uploads of an application (anonymous uploads are bounded by it).
pub async fn open_count(pool: &PgPool, application: &str) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT count(*) FROM drop_uploads
          WHERE application_id = $1 AND stored IS NULL AND expires_at > now()",
    )
    .bind(application)
    .fetch_one(pool)
    .await
}

/// Removes up to `limit` expired uploads; returns the sessions of the unfinished ones
/// among them, removed too (their staged parts go next).
pub async fn purge_expired(pool: &PgPool, limit: i64) -> Result<Vec<i64>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let sessions: Vec<Option<i64>> = sqlx::query_scalar(
        "DELETE FROM drop_uploads WHERE id IN (
             SELECT id FROM drop_uploads WHERE expires_at <= now() LIMIT $1)
         RETURNING multipart_id",
    )
    .bind(limit)
    .fetch_all(&mut *tx)
    .await?;
    let sessions: Vec<i64> = sessions.into_iter().flatten().collect();
    let removed =
        sqlx::query_scalar("DELETE FROM multipart_uploads WHERE id = ANY($1) RETURNING id")
            .bind(&sessions)
            .fetch_all(&mut *tx)
            .await?;
    tx.commit().await?;
    Ok(removed)
}
