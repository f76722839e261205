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

/// Forgets an upload (committed or aborted).
pub async fn forget(pool: &PgPool, account: i64, staged: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM remote_uploads WHERE account_id = $1 AND staged = $2")
        .bind(account)
        .bind(staged)
        .execute(pool)
        .await?;
    Ok(())
}

/// Up to `limit` uploads started more than `age_secs` ago: `(account, staged)`.
pub async fn stale(
    pool: &PgPool,
    age_secs: i64,
    limit: i64,
) -> Result<Vec<(i64, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT account_id, staged FROM remote_uploads
         WHERE started_at < now() - make_interval(secs => $1) ORDER BY started_at LIMIT $2",
    )
    .bind(age_secs as f64)
    .bind(limit)
    .fetch_all(pool)
    .await
}
