//! The housekeeping job, enqueued by the scheduler: apalis never forgets a finished job,
//! so trim its bookkeeping in small steps; purge events past retention; remove staged uploads abandoned by a client or
//! an API process that died mid-upload, expired multipart uploads and the File Picker's
//! expired unfinished uploads; remove deleted
//! accounts' data (a bounded part per run); fail tasks whose API process stopped and
//! forget old ones; forget old delivered webhook notifications and usage past its days.

use std::{sync::Arc, time::Duration};

use apalis::prelude::{BoxDynError, Data};
use cloudbridge_connectors::{local::STAGING_DIR, parts};
use cloudbridge_shared::{
    db,
    protocol::{Maintenance, MaintenanceJob},
    queue::{self, queue_config},
    telemetry::names,
    ApiError,
};

use crate::WorkerState;

/// Finished-job records removed per Redis round trip.
const TRIM_BATCH: usize = 500;
/// Round trips per run, so one run never holds Redis for long.
const TRIM_ROUNDS: usize = 200;
/// Staged uploads older than this are abandoned.
const STAGED_MAX_AGE: Duration = Duration::from_secs(6 * 3600);
/// How long after an abort a remote upload's hidden file is still looked for: a server
/// may finish the interrupted write after the abort's delete.
const ABORT_SETTLE: Duration = Duration::from_secs(300);
/// Abandoned remote uploads removed per run.
const REMOTE_BATCH: i64 = 100;
/// Event purge statements per run.
const EVENT_PURGE_ROUNDS: usize = 20;
/// Expired multipart sessions removed per run.
const MULTIPART_BATCH: i64 = 500;
/// Expired File Picker uploads removed per run.
const DROP_BATCH: i64 = 500;
/// Old delivered webhook notifications forgotten per run.
const WEBHOOK_BATCH: i64 = 5_000;
/// Usage rows past `usage.keep_days` removed per run.
const USAGE_BATCH: i64 = 5_000;

/// Runs one maintenance job.
pub async fn handle(job: MaintenanceJob, state: Data<Arc<WorkerState>>) -> Result<(), BoxDynError> {
    match job.kind {
        Maintenance::Housekeeping => housekeeping(job, &state).await,
        Maintenance::TokenSweep => {
            let swept = crate::tokens::sweep(&state).await;
            metrics::counter!(cloudbridge_shared::telemetry::names::TOKEN_SWEEPS).increment(1);
            tracing::info!(
                tick = job.tick,
                due = swept.due,
                refreshed = swept.refreshed,
                failed = swept.failed,
                "token sweep done"
            );
            Ok(())
        }
    }
}

/// Runs one housekeeping pass.
async fn housekeeping(job: MaintenanceJob, state: &WorkerState) -> Result<(), BoxDynError> {
    let mut redis = state.redis.clone();
    let mut trimmed = 0;
    for q in [
        state.names.request_queue(),
        state.names.maintenance_queue(),
        state.names.events_queue(),
    ] {
        let config = queue_config(&q, &state.settings.jobs);
        for _ in 0..TRIM_ROUNDS {
            let n = queue::trim_done(&mut redis, &config, TRIM_BATCH).await?;
            trimmed += n;
            if n < TRIM_BATCH {
                break;
            }
        }
    }
    metrics::counter!(names::REDIS_TRIMMED).increment(trimmed as u64);
    let removed = remove_stale_uploads(&state.data_root).await;
    let drops = remove_expired_drops(state).await;
    let expired = remove_expired_multipart(state).await;
    let abandoned = remove_abandoned_remote_uploads(state).await;
    let deleted = crate::remove_accounts(state).await.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "deleted accounts' data not removed");
        crate::Removed::default()
    });
    let (orphaned, forgotten) =
        db::tasks::sweep(&state.db, db::tasks::STALE_SECS, db::tasks::KEEP_SECS)
            .await
            .unwrap_or_else(|e| {
                tracing::warn!(error = %e, "tasks not swept");
                (0, 0)
            });
    let events = purge_events(state).await;
    let flows = db::oauth::purge(&state.db).await.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "expired connect flows not purged");
        0
    });
    if let Err(e) = db::portal_sessions::delete_expired(&state.db).await {
        tracing::warn!(error = %e, "ended portal sessions not purged");
    }
    if let Err(e) = db::developer_links::purge(&state.db).await {
        tracing::warn!(error = %e, "used or expired portal links not purged");
    }
    let keep = state.settings.webhooks.keep_secs;
    let notifications = db::webhooks::forget_delivered(&state.db, keep, WEBHOOK_BATCH)
        .await
        .unwrap_or_else(|e| {
            tracing::warn!(error = %e, "delivered webhook notifications not forgotten");
            0
        });
    let keep = chrono::Days::new(u64::from(state.settings.usage.keep_days));
    let before = chrono::Utc::now().date_naive() - keep;
    let usage = db::usage::prune(&state.db, before, USAGE_BATCH)
        .await
        .unwrap_or_else(|e| {
            tracing::warn!(error = %e, "old usage not removed");
            0
        });
    tracing::info!(
        tick = job.tick,
        flows,
        usage,
        events,
        trimmed,
        removed,
        expired,
        drops,
        abandoned,
        deleted_accounts = deleted.accounts,
        deleted_entries = deleted.entries,
        orphaned,
        forgotten,
        notifications,
        "housekeeping done"
    );
    Ok(())
}

/// Removes events past the retention window, a batch per statement, a bounded number of
/// statements per run (the rest waits for the next run).
async fn purge_events(state: &WorkerState) -> u64 {
    let settings = &state.settings.events;
    let mut removed = 0;
    for _ in 0..EVENT_PURGE_ROUNDS {
        match db::events::purge(&state.db, settings.retention_secs, settings.purge_batch).await {
            Ok(n) => {
                removed += n;
                if (n as i64) < settings.purge_batch {
                    break;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "old events not purged");
                break;
            }
        }
    }
    removed
}

/// Removes the hidden files of remote uploads (WebDAV, SFTP) that never finished: started
/// long ago and never committed or aborted (their API process died), or aborted (looked
/// for again each run: the server may still write the file after the abort's delete). An
/// entry goes once its file is removed and nothing will write it again; a service that
/// cannot be reached keeps its entries for the next run.
async fn remove_abandoned_remote_uploads(state: &WorkerState) -> usize {
    let (age, settle) = (
        STAGED_MAX_AGE.as_secs() as i64,
        ABORT_SETTLE.as_secs() as i64,
    );
    let leftovers = match db::remote_uploads::leftovers(&state.db, age, settle, REMOTE_BATCH).await
    {
        Ok(leftovers) => leftovers,
        Err(e) => {
            tracing::warn!(error = %e, "abandoned remote uploads not listed");
            return 0;
        }
    };
    let mut removed = 0;
    for upload in leftovers {
        let (account, staged) = (upload.account_id, upload.staged.as_str());
        let Ok(Some(row)) = db::accounts::find(&state.db, account).await else {
            continue;
        };
        let target = row.job_ref();
        let storage = cloudbridge_connectors::open(&state.connectors, &target);
        let aborted = match storage {
            Ok(storage) => storage.abort_upload(staged).await,
            Err(e) => Err(e),
        };
        match aborted {
            Ok(()) | Err(ApiError { status: 404, .. }) => {
                if upload.settled
                    && db::remote_uploads::forget(&state.db, account, staged)
                        .await
                        .is_ok()
                {
                    removed += 1;
                }
            }
            Err(e) => tracing::warn!(account, error = %e, "abandoned upload not removed"),
        }
    }
    removed
}

/// Removes the File Picker's unfinished uploads that stopped coming (see
/// `widgets.drop_ttl_secs`) and their staged chunks. Errors wait for the next run (chunks
/// whose rows went are found as orphans by [`remove_expired_multipart`]).
async fn remove_expired_drops(state: &WorkerState) -> usize {
    let sessions = match db::drop_uploads::purge_expired(&state.db, DROP_BATCH).await {
        Ok(sessions) => sessions,
        Err(e) => {
            tracing::warn!(error = %e, "expired computer uploads not purged");
            return 0;
        }
    };
    let mut removed = 0;
    for id in sessions {
        if parts::remove(&state.data_root, id).await.is_ok() {
            removed += 1;
        }
        metrics::counter!(names::DROP_UPLOADS, "outcome" => "expired").increment(1);
    }
    removed
}

/// Removes expired multipart sessions and their parts, and parts whose session is gone
/// (an API process that died between the two steps). Errors wait for the next run.
async fn remove_expired_multipart(state: &WorkerState) -> usize {
    let mut removed = 0;
    match db::multipart::purge_expired(&state.db, MULTIPART_BATCH).await {
        Ok(ids) => {
            for id in ids {
                if parts::remove(&state.data_root, id).await.is_ok() {
                    removed += 1;
                }
            }
        }
        Err(e) => tracing::warn!(error = %e, "expired multipart uploads not purged"),
    }
    let Ok(mut dir) = tokio::fs::read_dir(state.data_root.join(parts::PARTS_DIR)).await else {
        return removed;
    };
    let orphan_age = Duration::from_secs(state.settings.api.multipart_expiry_secs + 3600);
    while let Ok(Some(item)) = dir.next_entry().await {
        let Some(id) = item
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i64>().ok())
        else {
            continue;
        };
        if older_than(&item, orphan_age).await
            && matches!(db::multipart::exists(&state.db, id).await, Ok(false))
            && parts::remove(&state.data_root, id).await.is_ok()
        {
            removed += 1;
        }
    }
    removed
}

async fn remove_stale_uploads(data_root: &std::path::Path) -> usize {
    let Ok(mut dir) = tokio::fs::read_dir(data_root.join(STAGING_DIR)).await else {
        return 0;
    };
    let mut removed = 0;
    while let Ok(Some(item)) = dir.next_entry().await {
        if older_than(&item, STAGED_MAX_AGE).await
            && tokio::fs::remove_file(item.path()).await.is_ok()
        {
            removed += 1;
        }
    }
    removed
}

/// True when `item` was last modified more than `age` ago.
async fn older_than(item: &tokio::fs::DirEntry, age: Duration) -> bool {
    item.metadata()
        .await
        .ok()
        .and_then(|m| m.modified().ok())
        .and_then(|t| t.elapsed().ok())
        .is_some_and(|elapsed| elapsed > age)
}
