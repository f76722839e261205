//! Connect flows in progress and authorization codes waiting to be exchanged.

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgExecutor, PgPool};

use crate::secret::digest;

/// A connect flow between `GET /v1/oauth` and the service's callback.
#[derive(Clone, Debug, FromRow)]
pub struct Flow {
    /// Flow id: the `state` sent to the service.
    pub id: String,
    /// The application being connected to.
    pub application_id: String,
    /// Digest of the browser's flow cookie.
    pub browser_hash: Vec<u8>,
    /// The application's request (redirect URI, state, response type, scope…).
    pub request: serde_json::Value,
    /// The service the user chose.
    pub service: Option<String>,
    /// PKCE verifier sent (hashed) to the service.
    pub pkce_verifier: Option<Vec<u8>>,
    /// When the flow stops being valid.
    pub expires_at: DateTime<Utc>,
}

const FLOW: &str = "id, application_id, browser_hash, request, service, pkce_verifier, expires_at";

/// Starts a flow for the browser holding `browser_secret`.
pub async fn start_flow(
    pool: &PgPool,
    id: &str,
    application: &str,
    browser_secret: &str,
    request: &serde_json::Value,
    ttl_secs: u64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO oauth_flows (id, application_id, browser_hash, request, expires_at)
         VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5))",
    )
    .bind(id)
    .bind(application)
    .bind(digest(browser_secret))
    .bind(request)
    .bind(ttl_secs as f64)
    .execute(pool)
    .await?;
    Ok(())
}

/// A live flow.
pub async fn flow(pool: &PgPool, id: &str) -> Result<Option<Flow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {FLOW} FROM oauth_flows WHERE id = $1 AND expires_at > now()"
    ))
    .bind(id)
    .fetch_optional(pool)
    .await
}

/// Records the service chosen and the PKCE verifier sent to it.
pub async fn choose(
    pool: &PgPool,
    id: &str,
    service: &str,
    verifier: Option<&[u8]>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE oauth_flows SET service = $2, pkce_verifier = $3
         WHERE id = $1 AND expires_at > now()",
    )
    .bind(id)
    .bind(service)
    .bind(verifier)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Ends a flow and returns it, once: a replayed callback finds nothing.
pub async fn finish(pool: &PgPool, id: &str) -> Result<Option<Flow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "DELETE FROM oauth_flows WHERE id = $1 AND expires_at > now() RETURNING {FLOW}"
    ))
    .bind(id)
    .fetch_optional(pool)
    .await
}

/// An authorization code redeemed: what it was issued for.
#[derive(Clone, Debug, FromRow)]
pub struct Redeemed {
    /// The application it was issued to.
    pub application_id: String,
    /// The connected account.
    pub account_id: i64,
    /// The redirect URI it was issued for.
    pub redirect_uri: String,
    /// Scope granted.
    pub scope: String,
}

/// Stores an authorization code (its digest).
pub async fn issue_code(
    pool: &PgPool,
    code: &str,
    application: &str,
    account: i64,
    redirect_uri: &str,
    scope: &str,
    ttl_secs: u64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO oauth_codes (code_hash, application_id, account_id, redirect_uri, scope,
             expires_at)
         VALUES ($1, $2, $3, $4, $5, now() + make_interval(secs => $6))",
    )
    .bind(digest(code))
    .bind(application)
    .bind(account)
    .bind(redirect_uri)
    .bind(scope)
    .bind(ttl_secs as f64)
    .execute(pool)
    .await?;
    Ok(())
}

/// Redeems a code once; `None` when it is unknown, expired or already used.
pub async fn redeem_code<'e>(
    db: impl PgExecutor<'e>,
    code: &str,
) -> Result<Option<Redeemed>, sqlx::Error> {
    sqlx::query_as(
        "UPDATE oauth_codes SET used_at = now()
         WHERE code_hash = $1 AND used_at IS NULL AND expires_at > now()
         RETURNING application_id, account_id, redirect_uri, scope",
    )
    .bind(digest(code))
    .fetch_optional(db)
    .await
}

/// Records the bearer token a redeemed code was exchanged for.
pub async fn bind_token<'e>(
    db: impl PgExecutor<'e>,
    code: &str,
    token: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE oauth_codes SET token_hash = $2 WHERE code_hash = $1")
        .bind(digest(code))
        .bind(digest(token))
        .execute(db)
        .await?;
    Ok(())
}

/// A code presented again after it was used: revokes the bearer token it was exchanged
/// for. Returns the `(application, account)` whose token was revoked, if any.
pub async fn revoke_replayed(
    pool: &PgPool,
    code: &str,
) -> Result<Option<(String, i64)>, sqlx::Error> {
    sqlx::query_as(
        "WITH used AS (SELECT application_id, account_id, token_hash FROM oauth_codes
                       WHERE code_hash = $1 AND used_at IS NOT NULL AND token_hash IS NOT NULL)
         DELETE FROM bearer_tokens t USING used WHERE t.token_hash = used.token_hash
         RETURNING used.application_id, used.account_id",
    )
    .bind(digest(code))
    .fetch_optional(pool)
    .await
}

/// Removes expired flows and codes; returns how many.
pub async fn purge(pool: &PgPool) -> Result<u64, sqlx::Error> {
    let flows = sqlx::query("DELETE FROM oauth_flows WHERE expires_at < now()")
        .execute(pool)
        .await?;
    let codes = sqlx::query("DELETE FROM oauth_codes WHERE expires_at < now() - interval '1 day'")
        .execute(pool)
        .await?;
    Ok(flows.rows_affected() + codes.rows_affected())
}
