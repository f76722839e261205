//! Developer portal sessions: a random cookie, kept as its digest, with the CSRF token of
//! the session's forms. A session ends on sign-out, when its developer is disabled, or
//! after going unused for the configured idle time.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::secret::digest;

/// A live session and who it is.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Session {
    /// The developer signed in.
    pub developer_id: i64,
    /// The developer's e-mail.
    pub email: String,
    /// Whether the developer is an appliance admin.
    pub admin: bool,
    /// The token every form of the session carries.
    pub csrf: String,
    /// When it ends unless used.
    pub expires_at: DateTime<Utc>,
}

/// Starts a session for `developer` known by `token` (the cookie), ending after
/// `idle_secs` unless used.
pub async fn create(
    pool: &PgPool,
    developer: i64,
    token: &str,
    csrf: &str,
    idle_secs: u64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO portal_sessions (token_hash, developer_id, csrf, expires_at)
         VALUES ($1, $2, $3, now() + make_interval(secs => $4))",
    )
    .bind(digest(token))
    .bind(developer)
    .bind(csrf)
    .bind(idle_secs as f64)
    .execute(pool)
    .await?;
    Ok(())
}

/// The live session of `token`, its idle time restarted (at most once a minute, so that
/// browsing writes little).
pub async fn touch(
    pool: &PgPool,
    token: &str,
    idle_secs: u64,
) -> Result<Option<Session>, sqlx::Error> {
    sqlx::query_as(
        "WITH live AS (
           UPDATE portal_sessions s
              SET expires_at = CASE
                    WHEN s.expires_at < now() + make_interval(secs => $2) - interval '60 seconds'
                    THEN now() + make_interval(secs => $2) ELSE s.expires_at END
             FROM developers d
            WHERE s.token_hash = $1 AND s.expires_at > now()
              AND d.id = s.developer_id AND NOT d.disabled
           RETURNING s.developer_id, d.email, d.admin, s.csrf, s.expires_at)
         SELECT * FROM live",
    )
    .bind(digest(token))
    .bind(idle_secs as f64)
    .fetch_optional(pool)
    .await
}

/// Ends the session of `token`.
pub async fn delete(pool: &PgPool, token: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM portal_sessions WHERE token_hash = $1")
        .bind(digest(token))
        .execute(pool)
        .await?;
    Ok(())
}

/// Forgets sessions that ended; returns how many.
pub async fn delete_expired(pool: &PgPool) -> Result<u64, sqlx::Error> {
    Ok(
        sqlx::query("DELETE FROM portal_sessions WHERE expires_at <= now()")
            .execute(pool)
            .await?
            .rows_affected(),
    )
}
