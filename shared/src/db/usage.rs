//! `usage_daily`: per-application counts by day, metric and label (see [`crate::usage`]).

use chrono::NaiveDate;
use sqlx::{FromRow, PgPool};

use crate::usage::Count;

/// Adds `counts` to `day`'s rows in one statement. Counts of an application deleted
/// meanwhile are dropped.
pub async fn add(pool: &PgPool, day: NaiveDate, counts: &[Count]) -> Result<(), sqlx::Error> {
    let mut apps = Vec::with_capacity(counts.len());
    let mut metrics = Vec::with_capacity(counts.len());
    let mut labels = Vec::with_capacity(counts.len());
    let mut ns = Vec::with_capacity(counts.len());
    for c in counts {
        apps.push(c.application.as_str());
        metrics.push(c.metric.as_str());
        labels.push(c.label.as_str());
        ns.push(i64::try_from(c.n).unwrap_or(i64::MAX));
    }
    sqlx::query(
        "INSERT INTO usage_daily (application_id, day, metric, label, count)
         SELECT u.app, $1, u.metric, u.label, u.n
         FROM unnest($2::text[], $3::text[], $4::text[], $5::int8[]) AS u(app, metric, label, n)
         JOIN applications a ON a.id = u.app
         ON CONFLICT (application_id, day, metric, label)
         DO UPDATE SET count = usage_daily.count + EXCLUDED.count",
    )
    .bind(day)
    .bind(&apps)
    .bind(&metrics)
    .bind(&labels)
    .bind(&ns)
    .execute(pool)
    .await?;
    Ok(())
}

/// One row of `usage_daily`.
#[derive(Clone, Debug, FromRow, PartialEq, Eq)]
pub struct Daily {
    /// The day (UTC).
    pub day: NaiveDate,
    /// What was counted (see [`crate::usage::Metric::as_str`]).
    pub metric: String,
    /// Status class, service or outcome.
    pub label: String,
    /// How many.
    pub count: i64,
}

/// Application `application`'s rows from `from` on (oldest first).
pub async fn since(
    pool: &PgPool,
    application: &str,
    from: NaiveDate,
) -> Result<Vec<Daily>, sqlx::Error> {
    sqlx::query_as(
        "SELECT day, metric, label, count FROM usage_daily
         WHERE application_id = $1 AND day >= $2
         ORDER BY day, metric, label",
    )
    .bind(application)
    .bind(from)
    .fetch_all(pool)
    .await
}

/// Removes up to `batch` rows of days before `before`; returns how many went.
pub async fn prune(pool: &PgPool, before: NaiveDate, batch: i64) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "DELETE FROM usage_daily WHERE ctid IN
           (SELECT ctid FROM usage_daily WHERE day < $1 LIMIT $2)",
    )
    .bind(before)
    .bind(batch)
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}
