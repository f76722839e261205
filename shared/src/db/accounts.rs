//! Connected accounts, each owned by one application.

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgPool};

/// An account row.
#[derive(Clone, Debug, FromRow)]
pub struct Account {
    /// Numeric id.
    pub id: i64,
    /// Owning application.
    pub application_id: String,
    /// Service identifier.
    pub service: String,
    /// The upstream account name (e-mail, user name…).
    pub account: String,
    /// Usable.
    pub active: bool,
    /// Enabled by the application.
    pub enabled: bool,
    /// Admin account.
    pub admin: bool,
    /// Non-secret service configuration.
    pub config: serde_json::Value,
    /// Sealed service credentials (see `crypto`).
    pub secrets: Option<Vec<u8>>,
    /// The service no longer accepts the account's tokens: reconnect it.
    pub needs_reauth: bool,
    /// Why, when `needs_reauth`.
    pub reauth_reason: Option<String>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last modified.
    pub modified_at: DateTime<Utc>,
}

impl Account {
    /// What a worker needs to reach this account (credentials still sealed).
    pub fn job_ref(&self) -> crate::protocol::AccountRef {
        use base64::{engine::general_purpose::STANDARD, Engine};
        crate::protocol::AccountRef {
            id: self.id,
            service: self.service.clone(),
            config: self.config.clone(),
            sealed: self.secrets.as_deref().map(|s| STANDARD.encode(s)),
        }
    }
}

/// List filters (`None` = any).
#[derive(Clone, Debug, Default)]
pub struct Filters {
    /// `active`.
    pub active: Option<bool>,
    /// `enabled`.
    pub enabled: Option<bool>,
    /// `admin`.
    pub admin: Option<bool>,
}

/// Fields of a PATCH.
#[derive(Clone, Debug, Default)]
pub struct Changes {
    /// `active`.
    pub active: Option<bool>,
    /// `enabled`.
    pub enabled: Option<bool>,
}

const COLUMNS: &str = "id, application_id, service, account, active, enabled, admin, config, \
    secrets, needs_reauth, reauth_reason, created_at, modified_at";

/// Inserts an account, or updates the one with the same `(application, service, account)`.
pub async fn upsert(
    pool: &PgPool,
    application: &str,
    service: &str,
    account: &str,
    config: &serde_json::Value,
    secrets: Option<&[u8]>,
) -> Result<Account, sqlx::Error> {
    sqlx::query_as(&format!(
        "INSERT INTO accounts (application_id, service, account, config, secrets)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (application_id, service, account)
         DO UPDATE SET config = EXCLUDED.config, secrets = EXCLUDED.secrets, active = TRUE,
                       modified_at = now()
         RETURNING {COLUMNS}"
    ))
    .bind(application)
    .bind(service)
    .bind(account)
    .bind(config)
    .bind(secrets)
    .fetch_one(pool)
    .await
}

/// One of an application's accounts.
pub async fn get(
    pool: &PgPool,
    application: &str,
    id: i64,
) -> Result<Option<Account>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM accounts WHERE application_id = $1 AND id = $2"
    ))
    .bind(application)
    .bind(id)
    .fetch_optional(pool)
    .await
}

/// An account by id alone, whatever its application (serving a shared link).
pub async fn find(pool: &PgPool, id: i64) -> Result<Option<Account>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM accounts WHERE id = $1"))
        .bind(id)
        .fetch_optional(pool)
        .await
}

/// A page of an application's accounts, by id, and the total count.
pub async fn list(
    pool: &PgPool,
    application: &str,
    filters: &Filters,
    page: u32,
    page_size: u32,
) -> Result<(Vec<Account>, i64), sqlx::Error> {
    const WHERE: &str = "WHERE application_id = $1 AND ($2::bool IS NULL OR active = $2)
        AND ($3::bool IS NULL OR enabled = $3) AND ($4::bool IS NULL OR admin = $4)";
    let rows = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM accounts {WHERE} ORDER BY id LIMIT $5 OFFSET $6"
    ))
    .bind(application)
    .bind(filters.active)
    .bind(filters.enabled)
    .bind(filters.admin)
    .bind(i64::from(page_size))
    .bind(super::offset(page, page_size))
    .fetch_all(pool)
    .await?;
    let total = sqlx::query_scalar(&format!("SELECT count(*) FROM accounts {WHERE}"))
        .bind(application)
        .bind(filters.active)
        .bind(filters.enabled)
        .bind(filters.admin)
        .fetch_one(pool)
        .await?;
    Ok((rows, total))
}

/// Applies a PATCH.
pub async fn update(
    pool: &PgPool,
    application: &str,
    id: i64,
    changes: &Changes,
) -> Result<Option<Account>, sqlx::Error> {
    sqlx::query_as(&format!(
        "UPDATE accounts SET active = COALESCE($3, active), enabled = COALESCE($4, enabled),
            modified_at = now()
         WHERE application_id = $1 AND id = $2 RETURNING {COLUMNS}"
    ))
    .bind(application)
    .bind(id)
    .bind(changes.active)
    .bind(changes.enabled)
    .fetch_optional(pool)
    .await
}

/// Disconnects an account (its tokens go with it). True when it existed.
pub async fn delete(pool: &PgPool, application: &str, id: i64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM accounts WHERE application_id = $1 AND id = $2")
        .bind(application)
        .bind(id)
        .execute(pool)
        .await?;
    Ok(done.rows_affected() > 0)
}
