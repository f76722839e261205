//! OAuth tokens of accounts, sealed and versioned: a refresh claims the row for a short
//! while, asks the service, and swaps `version` (see `ARCHITECTURE.md` § Tokens).

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgPool};

/// One account's token row, with what a refresh needs to know about the account.
#[derive(Clone, Debug, FromRow)]
pub struct StoredToken {
    /// Account id.
    pub account_id: i64,
    /// Credential version: bumped by every refresh or reconnect.
    pub version: i64,
    /// Sealed tokens (JSON: access and refresh token).
    pub sealed: Vec<u8>,
    /// Access token expiry, when the service said.
    pub expires_at: Option<DateTime<Utc>>,
    /// When the access token was issued.
    pub issued_at: DateTime<Utc>,
    /// Refresh failures since the last success.
    pub failures: i32,
    /// First failure of the current run of failures.
    pub failing_since: Option<DateTime<Utc>>,
    /// The account's application.
    pub application_id: String,
    /// The account's service.
    pub service: String,
}

const SELECT: &str = "SELECT t.account_id, t.version, t.sealed, t.expires_at, t.issued_at,
        t.failures, t.failing_since, a.application_id, a.service
    FROM account_tokens t JOIN accounts a ON a.id = t.account_id WHERE t.account_id = $1";

/// Stores the tokens of a newly connected (or reconnected) account: a new version, no
/// failures, and the account usable again.
pub async fn store(
    pool: &PgPool,
    account: i64,
    sealed: &[u8],
    expires_at: Option<DateTime<Utc>>,
) -> Result<i64, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let version = sqlx::query_scalar(
        "INSERT INTO account_tokens (account_id, sealed, expires_at)
         VALUES ($1, $2, $3)
         ON CONFLICT (account_id) DO UPDATE SET version = account_tokens.version + 1,
             sealed = EXCLUDED.sealed, expires_at = EXCLUDED.expires_at, issued_at = now(),
             failures = 0, failing_since = NULL, last_error = NULL
         RETURNING version",
    )
    .bind(account)
    .bind(sealed)
    .bind(expires_at)
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query(
        "UPDATE accounts SET needs_reauth = FALSE, reauth_reason = NULL, active = TRUE
         WHERE id = $1",
    )
    .bind(account)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(version)
}

/// The current row, without locking.
pub async fn get(pool: &PgPool, account: i64) -> Result<Option<StoredToken>, sqlx::Error> {
    sqlx::query_as(SELECT)
        .bind(account)
        .fetch_optional(pool)
        .await
}

/// Claims the refresh of version `version` for `secs`: true when this caller is now the
/// one refreshing (committed at once, so no lock or connection is held while the service
/// is asked); false when the row moved on or another refresh holds an unexpired claim.
pub async fn claim(
    pool: &PgPool,
    account: i64,
    version: i64,
    secs: u64,
) -> Result<bool, sqlx::Error> {
    let claimed = sqlx::query(
        "UPDATE account_tokens SET refresh_claimed_until = now() + make_interval(secs => $3)
         WHERE account_id = $1 AND version = $2
           AND (refresh_claimed_until IS NULL OR refresh_claimed_until < now())",
    )
    .bind(account)
    .bind(version)
    .bind(secs as f64)
    .execute(pool)
    .await?;
    Ok(claimed.rows_affected() == 1)
}

/// Gives up a claim of version `version` without new tokens (the refresh failed).
pub async fn release(pool: &PgPool, account: i64, version: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE account_tokens SET refresh_claimed_until = NULL
         WHERE account_id = $1 AND version = $2",
    )
    .bind(account)
    .bind(version)
    .execute(pool)
    .await?;
    Ok(())
}

/// Replaces the tokens of version `version` with refreshed ones (and ends the claim);
/// `None` when the row moved on (a reconnect won, whose tokens are newer).
pub async fn swap(
    pool: &PgPool,
    account: i64,
    version: i64,
    sealed: &[u8],
    expires_at: Option<DateTime<Utc>>,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "UPDATE account_tokens SET version = version + 1, sealed = $3, expires_at = $4,
             issued_at = now(), failures = 0, failing_since = NULL, last_error = NULL,
             refresh_claimed_until = NULL
         WHERE account_id = $1 AND version = $2 RETURNING version",
    )
    .bind(account)
    .bind(version)
    .bind(sealed)
    .bind(expires_at)
    .fetch_optional(pool)
    .await
}

/// Counts a failed refresh; returns since when refreshes have been failing.
pub async fn record_failure(
    pool: &PgPool,
    account: i64,
    error: &str,
) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    sqlx::query_scalar(
        "UPDATE account_tokens SET failures = failures + 1,
             failing_since = COALESCE(failing_since, now()), last_error = $2
         WHERE account_id = $1 RETURNING failing_since",
    )
    .bind(account)
    .bind(error)
    .fetch_optional(pool)
    .await
    .map(Option::flatten)
}

/// Marks an account unusable until it is reconnected, saying why.
pub async fn mark_needs_reauth(
    pool: &PgPool,
    account: i64,
    reason: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE accounts SET needs_reauth = TRUE, active = FALSE, reauth_reason = $2,
             modified_at = now()
         WHERE id = $1",
    )
    .bind(account)
    .bind(reason)
    .execute(pool)
    .await?;
    Ok(())
}

/// Accounts whose tokens should be refreshed now: past `fraction` of their lifetime,
/// or not refreshed for `idle_secs`; active ones first, oldest first.
pub async fn due(
    pool: &PgPool,
    fraction: f64,
    idle_secs: i64,
    limit: i64,
) -> Result<Vec<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT t.account_id FROM account_tokens t JOIN accounts a ON a.id = t.account_id
         WHERE NOT a.needs_reauth AND (
             (t.expires_at IS NOT NULL
              AND now() >= t.issued_at + (t.expires_at - t.issued_at) * $1)
             OR t.issued_at < now() - make_interval(secs => $2))
         ORDER BY t.issued_at LIMIT $3",
    )
    .bind(fraction)
    .bind(idle_secs as f64)
    .bind(limit)
    .fetch_all(pool)
    .await
}
