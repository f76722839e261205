//! The scheduler process: it only *enqueues* periodic work, never does it.
//!
//! One cron entry per job kind; each tick's job carries an idempotency key derived from
//! the tick time, so two schedulers running by mistake enqueue it once.
//!
//! It also samples the queue depths and Redis memory into gauges: one process that always
//! runs, so the series exist once per deployment.
//!
//! # Layout
//! - [`run`]: the cron loop and the `/metrics` server.
//! - `gauges`: the queue-depth and Redis-memory sampler.

use std::str::FromStr;

use anyhow::Context;
use apalis::prelude::{TaskBuilder, TaskSink};
use chrono::Utc;
use cloudbridge_shared::{
    protocol::MaintenanceJob,
    queue::{self, Names},
    telemetry::{self, names},
    Settings,
};
use tokio_util::sync::CancellationToken;

mod gauges;

/// Runs the scheduler until `shutdown` is cancelled.
pub async fn run(settings: Settings, shutdown: CancellationToken) -> anyhow::Result<()> {
    let metrics = telemetry::init_metrics();
    metrics::counter!(names::SCHEDULER_TICKS, "kind" => "housekeeping").increment(0);
    let schedule = cron::Schedule::from_str(&settings.scheduler.housekeeping_cron)
        .with_context(|| format!("invalid cron `{}`", settings.scheduler.housekeeping_cron))?;
    let names = Names::new(&settings.redis.prefix);
    let mut redis = queue::connection(&settings.redis)?;
    let queue_name = names.maintenance_queue();
    let config = queue::queue_config(&queue_name, &settings.jobs)
        .idempotency_ttl(Some(std::time::Duration::from_secs(3600)));
    let mut storage =
        apalis_redis::RedisStorage::<MaintenanceJob>::new(redis.clone()).with_config(config);

    let server = tokio::spawn(telemetry::serve_metrics(
        settings.scheduler.metrics_bind,
        metrics,
        {
            let s = shutdown.clone();
            async move { s.cancelled().await }
        },
    ));
    let sampler = tokio::spawn(gauges::run(
        settings.clone(),
        redis.clone(),
        shutdown.clone(),
    ));
    tracing::info!(cron = %settings.scheduler.housekeeping_cron, "scheduler started");
    for next in schedule.upcoming(Utc) {
        let wait = (next - Utc::now()).to_std().unwrap_or_default();
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.cancelled() => break,
        }
        let tick = next.timestamp();
        let task = TaskBuilder::new(MaintenanceJob { tick })
            .idempotency_key(format!("housekeeping:{tick}"))
            .build();
        match storage.push_task(task).await {
            Ok(()) => {
                metrics::counter!(names::SCHEDULER_TICKS, "kind" => "housekeeping").increment(1);
                let _ = queue::wake(&mut redis, &names, &queue_name).await;
            }
            // Redis down: the next tick enqueues again; nothing durable is lost.
            Err(e) => tracing::warn!(error = %e, "housekeeping not enqueued"),
        }
    }
    sampler.await?;
    server.await??;
    Ok(())
}
