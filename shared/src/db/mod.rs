//! PostgreSQL access: one module per table, SQL in small named functions.

use std::time::Duration;

use sqlx::{postgres::PgPoolOptions, PgPool};

use crate::config::DatabaseSettings;

pub mod accounts;
pub mod api_keys;
pub mod applications;
pub mod bearer_tokens;
pub mod developer_links;
pub mod developers;
pub mod drop_uploads;
pub mod events;
pub mod feeds;
pub mod links;
pub mod multipart;
pub mod oauth;
pub mod portal_sessions;
pub mod properties;
pub mod providers;
pub mod remote_uploads;
pub mod removals;
pub mod tasks;
pub mod tokens;
pub mod upload_locations;
pub mod usage;
pub mod webhooks;

/// The embedded migrations (`migrations/`), the only source of the schema.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

/// Opens a lazily connecting pool.
pub fn pool(settings: &DatabaseSettings) -> Result<PgPool, sqlx::Error> {
    PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .acquire_timeout(Duration::from_millis(settings.acquire_timeout_ms))
        .connect_lazy(settings.url.expose())
}

/// Applies pending migrations.
pub async fn migrate(pool: &PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    MIGRATOR.run(pool).await
}

/// Offset of a 1-based page.
pub(crate) fn offset(page: u32, page_size: u32) -> i64 {
    i64::from(page.saturating_sub(1)) * i64::from(page_size)
}
