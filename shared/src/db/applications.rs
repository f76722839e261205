//! Applications, owned by developers.

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgPool};

use crate::secret::random_id;

/// An application row.
#[derive(Clone, Debug, FromRow)]
pub struct Application {
    /// Public id (also the OAuth `client_id`).
    pub id: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Logo URL.
    pub logo_url: String,
    /// Whether the application may be used.
    pub active: bool,
    /// Implicit OAuth grant allowed.
    pub implicit_grant_enabled: bool,
    /// `recent` endpoint enabled.
    pub recent_enabled: bool,
    /// Event collection enabled.
    pub events_grant_enabled: bool,
    /// Free-form source tag.
    pub source: String,
    /// Origins (`scheme://host[:port]`) whose pages the widgets may give bearer tokens.
    pub trusted_domains: Vec<String>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last modified.
    pub modified_at: DateTime<Utc>,
}

/// Fields settable on create and patch; `None` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct ApplicationFields {
    /// Name.
    pub name: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Logo URL.
    pub logo_url: Option<String>,
    /// Active flag.
    pub active: Option<bool>,
    /// Implicit grant.
    pub implicit_grant_enabled: Option<bool>,
    /// Recent endpoint.
    pub recent_enabled: Option<bool>,
    /// Event collection.
    pub events_grant_enabled: Option<bool>,
    /// Source tag.
    pub source: Option<String>,
    /// Trusted origins (replaces the list).
    pub trusted_domains: Option<Vec<String>>,
}

const COLUMNS: &str = "id, name, description, logo_url, active, implicit_grant_enabled, \
    recent_enabled, events_grant_enabled, source, trusted_domains, created_at, modified_at";

/// A page of a developer's applications, oldest first, and the total count.
pub async fn list(
    pool: &PgPool,
    developer: i64,
    active: Option<bool>,
    page: u32,
    page_size: u32,
) -> Result<(Vec<Application>, i64), sqlx::Error> {
    let rows = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM applications WHERE developer_id = $1
           AND ($2::bool IS NULL OR active = $2)
         ORDER BY created_at, id LIMIT $3 OFFSET $4"
    ))
    .bind(developer)
    .bind(active)
    .bind(i64::from(page_size))
    .bind(super::offset(page, page_size))
    .fetch_all(pool)
    .await?;
    let total = sqlx::query_scalar(
        "SELECT count(*) FROM applications WHERE developer_id = $1
           AND ($2::bool IS NULL OR active = $2)",
    )
    .bind(developer)
    .bind(active)
    .fetch_one(pool)
    .await?;
    Ok((rows, total))
}

/// Creates an application with one API key (sealed with `cipher` too, see
/// [`api_keys::create`](super::api_keys::create)); returns it and the key in clear.
pub async fn create(
    pool: &PgPool,
    developer: i64,
    fields: ApplicationFields,
    cipher: Option<&crate::crypto::Cipher>,
) -> Result<(Application, String), sqlx::Error> {
    let mut tx = pool.begin().await?;
    let app: Application = sqlx::query_as(&format!(
        "INSERT INTO applications (id, developer_id, name, description, logo_url, active,
            implicit_grant_enabled, recent_enabled, events_grant_enabled, source, trusted_domains)
         VALUES ($1, $2, $3, COALESCE($4, ''), COALESCE($5, ''), COALESCE($6, TRUE),
            COALESCE($7, FALSE), COALESCE($8, FALSE), COALESCE($9, FALSE), COALESCE($10, ''),
            COALESCE($11, '{{}}'))
         RETURNING {COLUMNS}"
    ))
    .bind(random_id(22))
    .bind(developer)
    .bind(fields.name.unwrap_or_default())
    .bind(fields.description)
    .bind(fields.logo_url)
    .bind(fields.active)
    .bind(fields.implicit_grant_enabled)
    .bind(fields.recent_enabled)
    .bind(fields.events_grant_enabled)
    .bind(fields.source)
    .bind(fields.trusted_domains)
    .fetch_one(&mut *tx)
    .await?;
    let (_, key) = super::api_keys::create(&mut *tx, &app.id, cipher).await?;
    tx.commit().await?;
    Ok((app, key))
}

/// One of a developer's applications.
pub async fn get(
    pool: &PgPool,
    developer: i64,
    id: &str,
) -> Result<Option<Application>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM applications WHERE developer_id = $1 AND id = $2"
    ))
    .bind(developer)
    .bind(id)
    .fetch_optional(pool)
    .await
}

/// An application by id alone (a connect flow names it as its `client_id`).
pub async fn get_any(pool: &PgPool, id: &str) -> Result<Option<Application>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM applications WHERE id = $1"))
        .bind(id)
        .fetch_optional(pool)
        .await
}

/// Updates the given fields of one of a developer's applications.
pub async fn update(
    pool: &PgPool,
    developer: i64,
    id: &str,
    f: ApplicationFields,
) -> Result<Option<Application>, sqlx::Error> {
    sqlx::query_as(&format!(
        "UPDATE applications SET
            name = COALESCE($3, name), description = COALESCE($4, description),
            logo_url = COALESCE($5, logo_url), active = COALESCE($6, active),
            implicit_grant_enabled = COALESCE($7, implicit_grant_enabled),
            recent_enabled = COALESCE($8, recent_enabled),
            events_grant_enabled = COALESCE($9, events_grant_enabled),
            source = COALESCE($10, source),
            trusted_domains = COALESCE($11, trusted_domains), modified_at = now()
         WHERE developer_id = $1 AND id = $2 RETURNING {COLUMNS}"
    ))
    .bind(developer)
    .bind(id)
    .bind(f.name)
    .bind(f.description)
    .bind(f.logo_url)
    .bind(f.active)
    .bind(f.implicit_grant_enabled)
    .bind(f.recent_enabled)
    .bind(f.events_grant_enabled)
    .bind(f.source)
    .bind(f.trusted_domains)
    .fetch_optional(pool)
    .await
}

/// Deletes an application with its keys and accounts. True when it existed.
pub async fn delete(pool: &PgPool, developer: i64, id: &str) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM applications WHERE developer_id = $1 AND id = $2")
        .bind(developer)
        .bind(id)
        .execute(pool)
        .await?;
    Ok(done.rows_affected() > 0)
}
