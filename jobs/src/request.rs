//! The request job: one API call, run through a connector, answered on the caller's
//! reply channel. Errors are answers too: the job itself only fails when the reply
//! cannot be delivered, and even then it is not retried (the caller has given up).

use std::{
    panic::AssertUnwindSafe,
    sync::Arc,
    time::{Duration, Instant},
};

use apalis::prelude::{BoxDynError, Data, WorkerContext};
use cloudbridge_connectors::{paging, team, Storage};
use cloudbridge_shared::{
    db,
    protocol::{now_ms, AccountRef, Op, Outcome, Reply, RequestJob},
    storage::ItemKind,
    telemetry::names,
    ApiError, ItemPath, ItemRef,
};
use futures::FutureExt;
use redis::AsyncCommands;
use tracing::Instrument;

use crate::{find, WorkerState};

/// Runs one request job.
pub async fn handle(
    job: RequestJob,
    state: Data<Arc<WorkerState>>,
    worker: WorkerContext,
) -> Result<(), BoxDynError> {
    let op = job.op.kind();
    let now = now_ms();
    metrics::histogram!(names::QUEUE_WAIT, "queue" => "requests")
        .record((now - job.enqueued_ms).max(0) as f64 / 1000.0);
    if now > job.deadline_ms {
        // Nobody waits for this answer any more: do not touch the third party.
        metrics::counter!(names::JOBS_COMPLETED, "queue" => "requests", "op" => op, "outcome" => "expired")
            .increment(1);
        tracing::info!(request_id = %job.request_id, op, "job expired before it ran");
        return Ok(());
    }
    let span = tracing::info_span!("job", request_id = %job.request_id, op, worker = worker.name());
    let started = Instant::now();
    // A panic in a connector is an internal error for this caller, not a dead worker; a
    // job still running at its deadline stops there (nobody waits for it any more).
    let left = Duration::from_millis((job.deadline_ms - now).max(0) as u64);
    let run = AssertUnwindSafe(run(&state, &job, worker.name())).catch_unwind();
    let result = match tokio::time::timeout(left, run)
        .instrument(span.clone())
        .await
    {
        Ok(Ok(result)) => result,
        Ok(Err(_)) => Err(ApiError::internal("panic while running the job")),
        Err(_) => {
            span.in_scope(|| tracing::warn!("job stopped at its deadline"));
            Err(ApiError::gateway_timeout())
        }
    };
    let elapsed = started.elapsed();
    if let Some(account) = &job.account {
        crate::upstream::record(&state.usage, account, op, elapsed, &result);
    }
    let outcome = if result.is_ok() { "ok" } else { "error" };
    metrics::histogram!(names::JOB_DURATION, "queue" => "requests", "op" => op)
        .record(elapsed.as_secs_f64());
    metrics::counter!(names::JOBS_COMPLETED, "queue" => "requests", "op" => op, "outcome" => outcome)
        .increment(1);
    if result.is_ok() && job.op.changes_items() {
        if let Some(account) = &job.account {
            collect_soon(&state, account.id);
        }
    }
    let reply = Reply {
        request_id: job.request_id.clone(),
        result,
    };
    let payload = serde_json::to_string(&reply)?;
    let mut redis = state.redis.clone();
    if let Err(e) = redis.publish::<_, _, ()>(&job.reply_to, payload).await {
        metrics::counter!(names::JOBS_FAILED, "queue" => "requests").increment(1);
        span.in_scope(|| tracing::error!(error = %e, "reply not delivered"));
    }
    Ok(())
}

async fn run(
    state: &Arc<WorkerState>,
    job: &RequestJob,
    worker: &str,
) -> Result<Outcome, ApiError> {
    match (&job.op, &job.account) {
        (Op::Ping, _) => {
            return Ok(Outcome::Pong {
                worker: worker.to_string(),
            })
        }
        (Op::Seed, Some(account)) => {
            // A task of its own: stopping it at the deadline would leave its lease held.
            let (state, id) = (state.clone(), account.id);
            return tokio::spawn(async move { crate::collect::seed(&state, id).await })
                .await
                .map_err(ApiError::internal)?
                .map(|()| Outcome::Done);
        }
        _ => {}
    }
    let account = job
        .account
        .as_ref()
        .ok_or_else(|| ApiError::internal("storage job without an account"))?;
    let storage = cloudbridge_connectors::open(&state.connectors, account)?;
    let result = operate(state, account, storage.as_ref(), &job.op).await;
    match result {
        Err(e)
            if e.conflicting_resource_id.is_some()
                && cloudbridge_connectors::names_items_by_id(&account.service) =>
        {
            Err(conflict_by_id(storage.as_ref(), e).await)
        }
        other => other,
    }
}

/// A naming conflict on a service naming items by id names the item in the way by that id
/// (connectors name it by its path).
async fn conflict_by_id(storage: &dyn Storage, mut e: ApiError) -> ApiError {
    let by_path = e.conflicting_resource_id.as_deref().unwrap_or_default();
    if let Ok(ItemRef::Path(path)) = ItemRef::from_id(by_path) {
        if let Ok(existing) = storage.metadata(&path).await {
            e.conflicting_resource_id = Some(existing.wire_id());
        }
    }
    e
}

/// Runs a storage operation of the request path.
async fn operate(
    state: &Arc<WorkerState>,
    account: &AccountRef,
    storage: &dyn Storage,
    op: &Op,
) -> Result<Outcome, ApiError> {
    match op {
        Op::Ping | Op::Seed => unreachable!("answered above"),
        Op::Validate => storage.validate().await.map(|()| Outcome::Done),
        Op::Metadata { item } => storage.lookup(item).await.map(|entry| Outcome::Entry {
            entry,
            created: false,
        }),
        Op::ListFolder {
            item,
            page,
            page_size,
            from,
            recursive,
        } => {
            let path = storage.locate(item).await?;
            let listed = if *recursive {
                paging::subtree(storage, &path, *page, *page_size, from.as_ref()).await
            } else {
                paging::list(storage, &path, *page, *page_size, from.as_ref()).await
            };
            listed.map(|page| Outcome::Page { page })
        }
        Op::CreateFolder {
            parent,
            name,
            conflict_if_exists,
        } => {
            let parent = locate_parent(storage, parent).await?;
            storage
                .create_folder(&parent, name, *conflict_if_exists)
                .await
                .map(|(entry, created)| Outcome::Entry { entry, created })
        }
        // What it was is answered, so that what the API keeps by its id goes too.
        Op::Delete {
            item,
            kind,
            recursive,
        } => storage
            .delete(item, *kind, *recursive)
            .await
            .map(|entry| Outcome::Entry {
                entry,
                created: false,
            }),
        Op::Relocate {
            item,
            kind,
            parent,
            name,
            copy,
        } => {
            if item.is_root() {
                return Err(ApiError::forbidden(
                    "The root folder cannot be moved or copied.",
                ));
            }
            let source = storage.lookup(item).await?;
            let parent = match parent {
                Some(parent) => locate_parent(storage, parent).await?,
                None => source.path.parent().ok_or_else(|| {
                    ApiError::forbidden("The root folder cannot be moved or copied.")
                })?,
            };
            let to = parent.join(name.as_deref().unwrap_or(source.path.name()))?;
            storage
                .relocate(&source, *kind, &to, *copy)
                .await
                .map(|entry| Outcome::Entry {
                    entry,
                    created: true,
                })
        }
        Op::PlanDownload { item } => {
            let path = storage.locate(item).await?;
            storage
                .plan_download(&path)
                .await
                .map(|(plan, entry)| Outcome::Download { plan, entry })
        }
        Op::PlanUpload {
            parent,
            name,
            overwrite,
        } => {
            let parent = locate_parent(storage, parent).await?;
            let plan = storage.plan_upload(&parent, name, *overwrite).await?;
            if let (true, Some(staged)) = (stages_remotely(account), plan.staged()) {
                ledger(db::remote_uploads::record(&state.db, account.id, staged).await);
            }
            Ok(Outcome::Upload { plan })
        }
        Op::CommitUpload {
            staged,
            parent,
            name,
            overwrite,
        } => {
            let parent = locate_parent(storage, parent).await?;
            let entry = storage
                .commit_upload(staged, &parent, name, *overwrite)
                .await?;
            if stages_remotely(account) {
                ledger(db::remote_uploads::forget(&state.db, account.id, staged).await);
            }
            Ok(Outcome::Entry {
                entry,
                created: true,
            })
        }
        Op::AbortUpload { staged } => {
            if stages_remotely(account) {
                // Kept until housekeeping removed the file for good (see maintenance),
                // whether or not the delete below succeeds.
                ledger(db::remote_uploads::aborted(&state.db, account.id, staged).await);
            }
            storage.abort_upload(staged).await?;
            Ok(Outcome::Done)
        }
        Op::Search {
            q,
            parents,
            page,
            page_size,
            from,
        } => find::search(
            storage,
            q,
            parents,
            (*page, *page_size),
            from.as_ref(),
            state.settings.jobs.walk_limit,
        )
        .await
        .map(|page| Outcome::Page { page }),
        Op::Recent {
            after,
            page,
            page_size,
        } => find::recent(
            storage,
            *after,
            (*page, *page_size),
            state.settings.jobs.walk_limit,
        )
        .await
        .map(|page| Outcome::Page { page }),
        Op::Permissions { item, kind, change } => {
            let entry = storage.lookup(item).await?;
            if entry.kind != *kind {
                return Err(ApiError::not_found(match kind {
                    ItemKind::File => "No file has this id.",
                    ItemKind::Folder => "No folder has this id.",
                }));
            }
            storage
                .permissions(&entry, change.as_ref())
                .await
                .map(|permissions| Outcome::Permissions { permissions })
        }
        Op::Quota => storage.quota().await.map(|quota| Outcome::Quota { quota }),
        Op::Team {
            query,
            page_size,
            cursor,
            skip_pages,
        } => {
            let team = storage.team().ok_or_else(team::no_team)?;
            if !account.admin {
                return Err(team::not_admin());
            }
            team::answer(team, query, cursor.clone(), *skip_pages, *page_size)
                .await
                .map(|answer| Outcome::Team { answer })
        }
        Op::PlanThumbnail { item, spec } => {
            let file = storage.lookup(item).await?;
            if file.kind != ItemKind::File {
                return Err(ApiError::not_found("No file has this id."));
            }
            storage
                .thumbnail(&file, spec)
                .await
                .map(|thumbnail| Outcome::Thumbnail { thumbnail })
        }
    }
}

/// The path of a folder named as a destination: a folder id that names nothing is a bad
/// parent (400), as a missing parent path is.
async fn locate_parent(storage: &dyn Storage, parent: &ItemRef) -> Result<ItemPath, ApiError> {
    match storage.locate(parent).await {
        Err(e) if e.status == 404 && parent.path().is_none() => Err(ApiError::new(
            400,
            "invalid_parent_folder",
            "The parent folder does not exist.",
        )),
        other => other,
    }
}

/// Brings the next event collection of an account changed through Cloudbridge forward,
/// without holding up the reply.
fn collect_soon(state: &Arc<WorkerState>, account: i64) {
    let (db, soon) = (state.db.clone(), state.settings.events.early_collect_ms);
    tokio::spawn(async move {
        if let Err(e) = db::feeds::hurry(&db, account, soon).await {
            tracing::warn!(account, error = %e, "early collection not requested");
        }
    });
}

/// Services whose uploads are staged as hidden files on the service itself (and recorded,
/// so housekeeping can remove those of uploads that never finished).
fn stages_remotely(account: &AccountRef) -> bool {
    cloudbridge_connectors::service::find(&account.service)
        .is_some_and(|s| s.staging == cloudbridge_connectors::service::Staging::HiddenFile)
}

/// The ledger of remote uploads is housekeeping's aid: a failed write is logged, and the
/// upload goes on.
fn ledger(result: Result<(), sqlx::Error>) {
    if let Err(e) = result {
        tracing::warn!(error = %e, "remote upload ledger not updated");
    }
}
