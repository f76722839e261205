//! The worker process: runs request jobs against third-party services and the periodic
//! jobs the scheduler enqueues. Scale it horizontally: every process registers apalis
//! workers under unique names on the same Redis queues.
//!
//! # Layout
//! - [`run`]: starts everything and returns when `shutdown` fires and work has drained.
//! - `request`: the request job (API call → connector → reply on the caller's channel).
//! - `maintenance`: the housekeeping job (Redis bookkeeping, stale staged uploads,
//!   expired multipart uploads, deleted accounts' data).
//! - [`remove_accounts`]: removal of deleted accounts' data, in bounded runs.
//! - `wake`: the poll strategy (wake-up messages plus a slow fallback poll).
//! - `supervise`: restarts a worker that stopped on an error, under a new name.
//! - `upstream`: metrics of the calls to third-party services (and their failures in the
//!   application's usage).
//! - `collect`: event collection, one job per account (events queue).
//! - `webhooks`: [`deliver_webhooks`], one round of webhook delivery from the outbox
//!   (events queue, one job per scheduler tick).

use std::{path::PathBuf, sync::Arc, time::Duration};

use anyhow::Context;
use apalis::prelude::*;
use cloudbridge_shared::{
    protocol::{EventJob, MaintenanceJob, RequestJob},
    queue::{self, Names},
    telemetry, Settings,
};
use tokio_util::sync::CancellationToken;

mod collect;
mod find;
mod maintenance;
mod removal;
mod request;
mod supervise;
mod tokens;
mod upstream;
mod wake;
mod webhooks;

pub use removal::{remove_accounts, Removed};
pub use webhooks::deliver as deliver_webhooks;

/// What every job handler can reach.
pub struct WorkerState {
    /// Root of the `local` service's data.
    pub data_root: PathBuf,
    /// Shared Redis connection (replies, housekeeping).
    pub redis: apalis_redis::ConnectionManager,
    /// Queue and channel names.
    pub names: Names,
    /// Settings of this process.
    pub settings: Settings,
    /// Opens accounts' connectors (sealed credentials, kept OAuth tokens).
    pub connectors: cloudbridge_connectors::Context,
    /// PostgreSQL (housekeeping of multipart uploads and tasks, the webhook outbox).
    pub db: sqlx::PgPool,
    /// Sends webhook notifications.
    pub webhooks: cloudbridge_shared::webhook::Sender,
    /// Usage of each application (upstream errors, events, deliveries), written in
    /// batches by the process's usage flusher.
    pub usage: Arc<cloudbridge_shared::usage::Usage>,
}

impl WorkerState {
    /// The state of a worker process with `settings` (connects lazily).
    pub fn build(settings: &Settings) -> anyhow::Result<Self> {
        let redis = queue::connection(&settings.redis).context("redis connection")?;
        let db = cloudbridge_shared::db::pool(&settings.database).context("database pool")?;
        Ok(Self {
            data_root: settings.local.data_root.clone(),
            redis,
            names: Names::new(&settings.redis.prefix),
            settings: settings.clone(),
            connectors: cloudbridge_connectors::Context::for_process(
                settings,
                db.clone(),
                reqwest::Client::builder()
                    .connect_timeout(std::time::Duration::from_secs(10))
                    .build()?,
            )?,
            webhooks: cloudbridge_shared::webhook::Sender::new(
                &settings.webhooks,
                settings.network.webhooks(),
            )?,
            usage: Arc::new(cloudbridge_shared::usage::Usage::new(
                settings.usage.enabled,
            )),
            db,
        })
    }
}

/// Runs the worker process until `shutdown` is cancelled.
pub async fn run(settings: Settings, shutdown: CancellationToken) -> anyhow::Result<()> {
    let metrics = telemetry::init_metrics();
    telemetry::register_background_counters();
    metrics::counter!(telemetry::names::JOBS_FAILED, "queue" => "requests").increment(0);
    let state = Arc::new(WorkerState::build(&settings)?);
    let usage = cloudbridge_shared::usage::Flusher::start(
        state.usage.clone(),
        state.db.clone(),
        &settings.usage,
    );
    let (names, redis) = (state.names.clone(), state.redis.clone());
    let client = queue::client(&settings.redis)?;

    let requests = names.request_queue();
    let request_wake = wake::listen(
        client.clone(),
        names.wake_channel(&requests),
        shutdown.clone(),
    );
    let jobs = settings.jobs.clone();
    let request_worker = supervise::run(&requests, shutdown.clone(), {
        let (state, redis, shutdown, requests) = (
            state.clone(),
            redis.clone(),
            shutdown.clone(),
            requests.clone(),
        );
        move |name| {
            let storage = queue::storage::<RequestJob>(redis.clone(), &requests, &jobs);
            let strategy = wake::Strategy::new(&request_wake, jobs.fallback_poll_ms);
            let worker = WorkerBuilder::new(name)
                .backend(storage.poll_with_strategy(strategy))
                .concurrency(jobs.concurrency.max(1))
                .data(state.clone())
                .build(request::handle);
            let stop = shutdown.clone();
            async move { worker.run_until(stopped(stop)).await }
        }
    });

    let maintenance = names.maintenance_queue();
    let maintenance_wake = wake::listen(client, names.wake_channel(&maintenance), shutdown.clone());
    let jobs = settings.jobs.clone();
    let maintenance_worker = supervise::run(&maintenance, shutdown.clone(), {
        let (state, redis, shutdown, maintenance) = (
            state.clone(),
            redis.clone(),
            shutdown.clone(),
            maintenance.clone(),
        );
        move |name| {
            let storage = queue::storage::<MaintenanceJob>(redis.clone(), &maintenance, &jobs);
            let strategy = wake::Strategy::new(&maintenance_wake, 1_000);
            let worker = WorkerBuilder::new(name)
                .backend(storage.poll_with_strategy(strategy))
                .concurrency(1)
                .data(state.clone())
                .build(maintenance::handle);
            let stop = shutdown.clone();
            async move { worker.run_until(stopped(stop)).await }
        }
    });

    let events = names.events_queue();
    let events_wake = wake::listen(
        queue::client(&settings.redis)?,
        names.wake_channel(&events),
        shutdown.clone(),
    );
    let jobs = settings.jobs.clone();
    let concurrency = settings.events.concurrency.max(1);
    let events_worker = supervise::run(&events, shutdown.clone(), {
        let (state, redis, shutdown, events) = (
            state.clone(),
            redis.clone(),
            shutdown.clone(),
            events.clone(),
        );
        move |name| {
            let storage = queue::storage::<EventJob>(redis.clone(), &events, &jobs);
            let strategy = wake::Strategy::new(&events_wake, 1_000);
            let worker = WorkerBuilder::new(name)
                .backend(storage.poll_with_strategy(strategy))
                .concurrency(concurrency)
                .data(state.clone())
                .build(handle_event_job);
            let stop = shutdown.clone();
            async move { worker.run_until(stopped(stop)).await }
        }
    });

    let server = telemetry::serve_metrics(settings.jobs.metrics_bind, metrics, {
        let s = shutdown.clone();
        async move { s.cancelled().await }
    });
    let (server, _, _, _) = tokio::join!(server, request_worker, maintenance_worker, events_worker);
    usage.finish().await;
    server
}

/// Runs one job of the events queue.
async fn handle_event_job(job: EventJob, state: Data<Arc<WorkerState>>) -> Result<(), BoxDynError> {
    match job {
        EventJob::Collect { account, .. } => {
            collect::collect(&state, account).await;
        }
        EventJob::Deliver { tick } => webhooks::deliver(&state, tick).await,
    }
    Ok(())
}

/// A shutdown future in the shape `Worker::run_until` wants.
async fn stopped(token: CancellationToken) -> Result<(), WorkerError> {
    token.cancelled().await;
    // Let in-flight jobs reply before the worker stops taking new ones.
    tokio::time::sleep(Duration::from_millis(50)).await;
    Ok(())
}

/// A unique worker name: host, process, queue and a random suffix (apalis refuses to
/// register a name seen within the heartbeat window).
pub(crate) fn worker_name(queue: &str) -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "worker".into());
    let short = queue.rsplit(':').next().unwrap_or(queue);
    let suffix = &uuid::Uuid::new_v4().simple().to_string()[..8];
    format!("{host}-{}-{short}-{suffix}", std::process::id())
}
