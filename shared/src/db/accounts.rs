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
    /// The application's own key/value data about the account (a JSON object).
    pub custom_properties: serde_json::Value,
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
            application: self.application_id.clone(),
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
    /// `custom_properties` to merge in: a null value removes its key.
    pub custom_properties: Option<serde_json::Map<String, serde_json::Value>>,
}

/// At most this many custom properties per account.
pub const MAX_CUSTOM_PROPERTIES: i64 = 100;

const COLUMNS: &str = "id, application_id, service, account, active, enabled, admin, config, \
    secrets, needs_reauth, reauth_reason, custom_properties, created_at, modified_at";

/// Inserts an account, or updates the one with the same `(application, service, account)`
/// (a `local` one keeps its configuration: it says where its folder is).
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
         DO UPDATE SET secrets = EXCLUDED.secrets, active = TRUE,
                       -- A local account's folder never moves (older ones name theirs).
                       config = CASE WHEN accounts.service = 'local' THEN accounts.config
                                     ELSE EXCLUDED.config END,
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

/// Applies a PATCH. `None` when the account does not exist, or when the merged custom
/// properties would be more than [`MAX_CUSTOM_PROPERTIES`] (nothing is changed then).
pub async fn update(
    pool: &PgPool,
    application: &str,
    id: i64,
    changes: &Changes,
) -> Result<Option<Account>, sqlx::Error> {
    let (set, removed) = match &changes.custom_properties {
        Some(props) => {
            let (gone, kept): (Vec<_>, Vec<_>) = props.iter().partition(|(_, v)| v.is_null());
            let kept: serde_json::Map<_, _> = kept
                .into_iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            let gone: Vec<String> = gone.into_iter().map(|(k, _)| k.clone()).collect();
            (Some(serde_json::Value::Object(kept)), gone)
        }
        None => (None, Vec::new()),
    };
    // Merged in the statement itself, so concurrent PATCHes never lose each other's keys.
    sqlx::query_as(&format!(
        "UPDATE accounts SET active = COALESCE($3, active), enabled = COALESCE($4, enabled),
            custom_properties = CASE WHEN $5::jsonb IS NULL THEN custom_properties
                                     ELSE (custom_properties - $6::text[]) || $5 END,
            modified_at = now()
         WHERE application_id = $1 AND id = $2
           AND ($5::jsonb IS NULL OR (SELECT count(*)
                FROM jsonb_object_keys((custom_properties - $6::text[]) || $5)) <= $7)
         RETURNING {COLUMNS}"
    ))
    .bind(application)
    .bind(id)
    .bind(changes.active)
    .bind(changes.enabled)
    .bind(set)
    .bind(removed)
    .bind(MAX_CUSTOM_PROPERTIES)
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
