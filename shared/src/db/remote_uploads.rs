//! A ledger of uploads staged as hidden files on a remote service (WebDAV, SFTP), so that
//! the files of uploads whose API process died can be found and removed without crawling
//! every account.

use sqlx::PgPool;

/// Notes an upload staged as `staged` on `account`.
pub async fn record(pool: &PgPool, account: i64, staged: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO remote_uploads (account_id, staged) VALUES ($1, $2) ON CONFLICT DO NOTHING",
    )
    .bind(account)
    .bind(staged)
    .execute(pool)
    .await?;
    Ok(())
}

/// Marks an upload aborted: its hidden file was deleted, but the server may still write
/// it back (finishing the interrupted request), so housekeeping looks again.
pub async fn aborted(pool: &PgPool, account: i64, staged: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE remote_uploads SET aborted_at = COALESCE(aborted_at, now())
          WHERE account_id = $1 AND staged = $2",
    )
    .bind(account)
    .bind(staged)
    .execute(pool)
    .await?;
    Ok(())
}

/// Forgets an upload (committed, or its hidden file removed for good).
pub async fn forget(pool: &PgPool, account: i64, staged: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM remote_uploads WHERE account_id = $1 AND staged = $2")
        .bind(account)
        .bind(staged)
        .execute(pool)
        .await?;
    Ok(())
}

/// An upload whose hidden file housekeeping removes.
#[derive(Debug, sqlx::FromRow)]
pub struct Leftover {
    /// The account.
    pub account_id: i64,
    /// The staged file's id.
    pub staged: String,
    /// Aborted more than the settling time ago, or abandoned: once its file is removed
    /// nothing writes it again, and the entry can go.
    pub settled: bool,
}

/// Up to `limit` uploads whose hidden file is to be removed: started more than
/// `age_secs` ago and never finished (their API process died), or aborted (every run
/// looks again; `settled` once aborted more than `settle_secs` ago).
pub async fn leftovers(
    pool: &PgPool,
    age_secs: i64,
    settle_secs: i64,
    limit: i64,
) -> Result<Vec<Leftover>, sqlx::Error> {
    sqlx::query_as(
        "SELECT account_id, staged,
                (aborted_at IS NULL OR aborted_at < now() - make_interval(secs => $2)) AS settled
           FROM remote_uploads
          WHERE started_at < now() - make_interval(secs => $1) OR aborted_at IS NOT NULL
          ORDER BY started_at LIMIT $3",
    )
    .bind(age_secs as f64)
    .bind(settle_secs as f64)
    .bind(limit)
    .fetch_all(pool)
    .await
}
