//! The scheduler process: it only *enqueues* periodic work, never does it.
//!
//! - Maintenance (housekeeping, token sweep): one job per cron tick, with an idempotency
//!   key derived from the tick time, so two schedulers running by mistake enqueue it once.
//! - Event collection: each tick claims the accounts whose collection is due in
//!   PostgreSQL and enqueues one job per account (the claim is the de-duplication).
//! - Webhook delivery: one job per tick that sends what the outbox has due.
//!
//! It also samples the queue depths and Redis memory into gauges: one process that always
//! runs, so the series exist once per deployment.
//!
//! # Layout
//! - [`run`]: the cron loops and the `/metrics` server.
//! - `events`: the collection sweep and the delivery tick.
//! - `gauges`: the queue-depth and Redis-memory sampler, and the scheduler's heartbeat.

use std::{future::Future, str::FromStr, time::Duration};

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

mod events;
mod gauges;

/// Runs the scheduler until `shutdown` is cancelled.
pub async fn run(settings: Settings, shutdown: CancellationToken) -> anyhow::Result<()> {
    let metrics = telemetry::init_metrics();
    let schedule = |cron: &str, what: &str| {
        metrics::counter!(names::SCHEDULER_TICKS, "kind" => what.to_string()).increment(0);
        cron::Schedule::from_str(cron).with_context(|| format!("invalid cron `{cron}` ({what})"))
    };
    let maintenance = [
        (
            Maintenance::Housekeeping,
            schedule(&settings.scheduler.housekeeping_cron, "housekeeping")?,
        ),
        (
            Maintenance::TokenSweep,
            schedule(&settings.oauth.sweep_cron, "token_sweep")?,
        ),
    ];
    let collect = schedule(&settings.events.sweep_cron, "event_sweep")?;
    let deliver = schedule(&settings.webhooks.sweep_cron, "webhook_delivery")?;

    let names = Names::new(&settings.redis.prefix);
    let redis = queue::connection(&settings.redis)?;
    let db = cloudbridge_shared::db::pool(&settings.database).context("database pool")?;
    let queue_name = names.maintenance_queue();
    let config = queue::queue_config(&queue_name, &settings.jobs)
        .idempotency_ttl(Some(Duration::from_secs(3600)));
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
        events = %settings.events.sweep_cron,
        webhooks = %settings.webhooks.sweep_cron,
        "scheduler started"
    );
    let mut loops = Vec::new();
    for (kind, schedule) in maintenance {
        let (storage, redis, names, queue) = (
            storage.clone(),
            redis.clone(),
            names.clone(),
            queue_name.clone(),
        );
        loops.push(tokio::spawn(every(schedule, shutdown.clone(), move |tick| {
            let (mut storage, mut redis, names, queue) =
                (storage.clone(), redis.clone(), names.clone(), queue.clone());
            async move {
                let task = TaskBuilder::new(MaintenanceJob { tick, kind })
                    .idempotency_key(format!("{}:{tick}", kind.name()))
                    .build();
                match storage.push_task(task).await {
                    Ok(()) => {
                        metrics::counter!(names::SCHEDULER_TICKS, "kind" => kind.name())
                            .increment(1);
                        let _ = queue::wake(&mut redis, &names, &queue).await;
                    }
                    // Redis down: the next tick enqueues again; nothing durable is lost.
                    Err(e) => {
                        tracing::warn!(error = %e, kind = kind.name(), "maintenance not enqueued")
                    }
                }
            }
        })));
    }
    let events = events::Events::new(&settings, db, redis.clone(), names.clone());
    loops.push(tokio::spawn(every(collect, shutdown.clone(), {
        let events = events.clone();
        move |tick| {
            let events = events.clone();
            async move { events.sweep(tick).await }
        }
    })));
    loops.push(tokio::spawn(every(
        deliver,
        shutdown.clone(),
        move |tick| {
            let events = events.clone();
            async move { events.deliver(tick).await }
        },
    )));
    futures::future::join_all(loops).await;
    sampler.await?;
    server.await??;
    Ok(())
}

/// Calls `action` with the Unix time of each of `schedule`'s ticks until `shutdown`; a
/// tick that comes while the previous action still runs waits for it (and ticks missed
/// meanwhile are skipped).
async fn every<F, Fut>(schedule: cron::Schedule, shutdown: CancellationToken, mut action: F)
where
    F: FnMut(i64) -> Fut,
    Fut: Future<Output = ()>,
{
    loop {
        let Some(next) = schedule.upcoming(Utc).next() else {
            return;
        };
        let wait = (next - Utc::now()).to_std().unwrap_or_default();
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.cancelled() => return,
        }
        action(next.timestamp()).await;
    }
}
