//! Asynchronous tasks (`X-Kloudless-Async: true`): a row per long operation, updated by
//! the API process running it. A task whose runner stopped (its row not touched for a
//! while) is failed by housekeeping rather than left pending forever.

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgPool};

use crate::secret::random_id;

/// How often a running task's row is touched by its runner.
pub const HEARTBEAT_SECS: u64 = 30;
/// A running task not touched for this long has lost its runner.
pub const STALE_SECS: i64 = 4 * HEARTBEAT_SECS as i64;
/// Finished tasks are kept this long.
pub const KEEP_SECS: i64 = 7 * 24 * 3600;

/// Task states, as the Kloudless API names them.
pub mod state {
    /// Accepted, not started.
    pub const PENDING: &str = "PENDING";
    /// Running.
    pub const STARTED: &str = "STARTED";
    /// Done; `result` holds the response body.
    pub const SUCCESS: &str = "SUCCESS";
    /// Failed; `result` holds the error body.
    pub const FAILURE: &str = "FAILURE";
}

/// A task row.
#[derive(Clone, Debug, FromRow)]
pub struct Task {
    /// Random id.
    pub id: String,
    /// Account the operation runs on.
    pub account_id: i64,
    /// One of [`state`].
    pub state: String,
    /// `{"status": <http status>, "body": <json>}` once finished.
    pub result: Option<serde_json::Value>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last touched by its runner.
    pub modified_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, account_id, state, result, created_at, modified_at";

/// Records a new task, already started by its runner.
pub async fn create(pool: &PgPool, account: i64) -> Result<Task, sqlx::Error> {
    sqlx::query_as(&format!(
        "INSERT INTO tasks (id, account_id, state) VALUES ($1, $2, $3) RETURNING {COLUMNS}"
    ))
    .bind(random_id(24))
    .bind(account)
    .bind(state::STARTED)
    .fetch_one(pool)
    .await
}

/// A task of an account.
pub async fn get(pool: &PgPool, account: i64, id: &str) -> Result<Option<Task>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM tasks WHERE account_id = $1 AND id = $2"
    ))
    .bind(account)
    .bind(id)
    .fetch_optional(pool)
    .await
}

/// Says the runner is still at it.
pub async fn touch(pool: &PgPool, id: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE tasks SET modified_at = now() WHERE id = $1 AND state = $2")
        .bind(id)
        .bind(state::STARTED)
        .execute(pool)
        .await?;
    Ok(())
}

/// Records how a task ended.
pub async fn finish(
    pool: &PgPool,
    id: &str,
    success: bool,
    result: serde_json::Value,
) -> Result<(), sqlx::Error> {
    let state = if success {
        state::SUCCESS
    } else {
        state::FAILURE
    };
    sqlx::query("UPDATE tasks SET state = $2, result = $3, modified_at = now() WHERE id = $1")
        .bind(id)
        .bind(state)
        .bind(result)
        .execute(pool)
        .await?;
    Ok(())
}

/// Fails tasks whose runner has not touched them for `stale_secs` (the process stopped),
/// and removes finished tasks older than `keep_secs`. Returns (failed, removed).
pub async fn sweep(
    pool: &PgPool,
    stale_secs: i64,
    keep_secs: i64,
) -> Result<(u64, u64), sqlx::Error> {
    let failed = sqlx::query(
        "UPDATE tasks SET state = $1, modified_at = now(),
             result = jsonb_build_object('status', 500, 'body', jsonb_build_object(
                 'status_code', 500, 'error_code', 'internal_error',
                 'message', 'The process running this task stopped; try again.'))
         WHERE state IN ($2, $3) AND modified_at < now() - make_interval(secs => $4)",
    )
    .bind(state::FAILURE)
    .bind(state::PENDING)
    .bind(state::STARTED)
    .bind(stale_secs as f64)
    .execute(pool)
    .await?
    .rows_affected();
    let removed = sqlx::query(
        "DELETE FROM tasks WHERE state IN ($1, $2) AND modified_at < now() - make_interval(secs => $3)",
    )
    .bind(state::SUCCESS)
    .bind(state::FAILURE)
    .bind(keep_secs as f64)
    .execute(pool)
    .await?
    .rows_affected();
    Ok((failed, removed))
}
