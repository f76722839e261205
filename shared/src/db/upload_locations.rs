//! Upload locations: the folders of an application's own accounts where anonymous
//! uploads from the File Picker (`/drop/{app_id}`) and its copies to the upload location
//! land. The schema makes sure a location's account belongs to the same application.

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgPool};

/// An upload location row.
#[derive(Clone, Debug, FromRow)]
pub struct UploadLocation {
    /// Location id.
    pub id: i64,
    /// The application it serves.
    pub application_id: String,
    /// The account of that application files land in.
    pub account_id: i64,
    /// The Kloudless id of the folder in that account.
    pub parent_id: String,
    /// Created.
    pub created_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, application_id, account_id, parent_id, created_at";

/// Why a location could not be added.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    /// The application already has this folder of this account as a location.
    #[error("this folder is already an upload location")]
    Exists,
    /// The database failed.
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// Adds folder `parent_id` of `account` as an upload location of `application` (the
/// account must be one of the application's: the foreign key refuses any other).
pub async fn create(
    pool: &PgPool,
    application: &str,
    account: i64,
    parent_id: &str,
) -> Result<UploadLocation, CreateError> {
    let inserted = sqlx::query_as(&format!(
        "INSERT INTO upload_locations (application_id, account_id, parent_id)
         VALUES ($1, $2, $3) RETURNING {COLUMNS}"
    ))
    .bind(application)
    .bind(account)
    .bind(parent_id)
    .fetch_one(pool)
    .await;
    match inserted {
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Err(CreateError::Exists),
        other => Ok(other?),
    }
}

/// How many locations an application has.
pub async fn count(pool: &PgPool, application: &str) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT count(*) FROM upload_locations WHERE application_id = $1")
        .bind(application)
        .fetch_one(pool)
        .await
}

/// A page of an application's locations, oldest first.
pub async fn list(
    pool: &PgPool,
    application: &str,
    page: u32,
    page_size: u32,
) -> Result<Vec<UploadLocation>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM upload_locations WHERE application_id = $1
         ORDER BY id LIMIT $2 OFFSET $3"
    ))
    .bind(application)
    .bind(i64::from(page_size))
    .bind(super::offset(page, page_size))
    .fetch_all(pool)
    .await
}

/// One of an application's locations.
pub async fn get(
    pool: &PgPool,
    application: &str,
    id: i64,
) -> Result<Option<UploadLocation>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM upload_locations WHERE application_id = $1 AND id = $2"
    ))
    .bind(application)
    .bind(id)
    .fetch_optional(pool)
    .await
}

/// The oldest of an application's locations in `account` (any, when `None`) at folder
/// `parent_id` (any, when `None`): where an upload that names no location, or names it
/// only in part, lands.
pub async fn find(
    pool: &PgPool,
    application: &str,
    account: Option<i64>,
    parent_id: Option<&str>,
) -> Result<Option<UploadLocation>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM upload_locations WHERE application_id = $1
           AND ($2::bigint IS NULL OR account_id = $2)
           AND ($3::text IS NULL OR parent_id = $3)
         ORDER BY id LIMIT 1"
    ))
    .bind(application)
    .bind(account)
    .bind(parent_id)
    .fetch_optional(pool)
    .await
}

/// Removes a location and the multipart sessions of its unfinished uploads; `None` when
/// there was no such location, else the removed sessions' ids (their staged parts go
/// next).
pub async fn delete(
    pool: &PgPool,
    application: &str,
    id: i64,
) -> Result<Option<Vec<i64>>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let sessions = sqlx::query_scalar(
        "DELETE FROM multipart_uploads WHERE id IN (
             SELECT multipart_id FROM drop_uploads WHERE application_id = $1 AND location_id = $2)
         RETURNING id",
    )
    .bind(application)
    .bind(id)
    .fetch_all(&mut *tx)
    .await?;
    let done = sqlx::query("DELETE FROM upload_locations WHERE application_id = $1 AND id = $2")
        .bind(application)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok((done.rows_affected() > 0).then_some(sessions))
}
