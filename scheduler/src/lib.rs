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
    protocol::{Maintenance, MaintenanceJob},
    queue::{self, Names},
    telemetry::{self, names},
    Settings,
};
use tokio_util::sync::CancellationToken;

mod gauges;

/// Runs the scheduler until `shutdown` is cancelled.
pub async fn run(settings: Settings, shutdown: CancellationToken) -> anyhow::Result<()> {
    let metrics = telemetry::init_metrics();
    let entries = [
        (
            Maintenance::Housekeeping,
            &settings.scheduler.housekeeping_cron,
        ),
        (Maintenance::TokenSweep, &settings.oauth.sweep_cron),
    ];
    let mut schedules = Vec::new();
    for (kind, cron) in entries {
        metrics::counter!(names::SCHEDULER_TICKS, "kind" => kind.name()).increment(0);
        let schedule = cron::Schedule::from_str(cron)
            .with_context(|| format!("invalid cron `{cron}` ({})", kind.name()))?;
        schedules.push((kind, schedule));
    }
    let names = Names::new(&settings.redis.prefix);
    let redis = queue::connection(&settings.redis)?;
    let queue_name = names.maintenance_queue();
    let config = queue::queue_config(&queue_name, &settings.jobs)
        .idempotency_ttl(Some(std::time::Duration::from_secs(3600)));
    let storage =
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
    tracing::info!(
        housekeeping = %settings.scheduler.housekeeping_cron,
        tokens = %settings.oauth.sweep_cron,
        "scheduler started"
    );
    let loops = schedules.into_iter().map(|(kind, schedule)| {
        let ticker = Ticker {
            kind,
            storage: storage.clone(),
            redis: redis.clone(),
            names: names.clone(),
            queue: queue_name.clone(),
        };
        tokio::spawn(ticker.run(schedule, shutdown.clone()))
    });
    futures::future::join_all(loops).await;
    sampler.await?;
    server.await??;
    Ok(())
}

/// Enqueues one kind of maintenance job on its cron schedule.
struct Ticker {
    kind: Maintenance,
    storage: apalis_redis::RedisStorage<MaintenanceJob>,
    redis: apalis_redis::ConnectionManager,
    names: Names,
    queue: String,
}

impl Ticker {
    async fn run(mut self, schedule: cron::Schedule, shutdown: CancellationToken) {
        let kind = self.kind;
        for next in schedule.upcoming(Utc) {
            let wait = (next - Utc::now()).to_std().unwrap_or_default();
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.cancelled() => break,
            }
            let tick = next.timestamp();
            let task = TaskBuilder::new(MaintenanceJob { tick, kind })
                .idempotency_key(format!("{}:{tick}", kind.name()))
                .build();
            match self.storage.push_task(task).await {
                Ok(()) => {
                    metrics::counter!(names::SCHEDULER_TICKS, "kind" => kind.name()).increment(1);
                    let _ = queue::wake(&mut self.redis, &self.names, &self.queue).await;
                }
                // Redis down: the next tick enqueues again; nothing durable is lost.
                Err(e) => {
                    tracing::warn!(error = %e, kind = kind.name(), "maintenance not enqueued")
                }
            }
        }
    }
}
