//! Samples what only Redis knows into gauges: the depth of each queue and Redis'
//! `used_memory`; and beats the scheduler's heartbeat (a Redis key that expires after three
//! missed samples), which the portal's status page reads. The scheduler always runs exactly once, so these series exist once per
//! deployment whatever the number of API and worker processes. Each sample is three cheap
//! calls (`ZCARD` + `LLEN` per queue, `INFO memory`).

use std::time::Duration;

use apalis_redis::ConnectionManager;
use cloudbridge_shared::{
    queue::{self, Names},
    telemetry::names,
    Settings,
};
use tokio_util::sync::CancellationToken;

/// Samples every `scheduler.sample_ms` until `shutdown` is cancelled. A failed sample
/// (Redis down) leaves the gauges at their last value and is retried on the next tick.
pub async fn run(settings: Settings, redis: ConnectionManager, shutdown: CancellationToken) {
    let names = Names::new(&settings.redis.prefix);
    let queues = [
        ("requests", names.request_queue()),
        ("maintenance", names.maintenance_queue()),
        ("events", names.events_queue()),
    ]
    .map(|(label, name)| (label, queue::queue_config(&name, &settings.jobs)));
    let mut redis = redis;
    let every = Duration::from_millis(settings.scheduler.sample_ms.max(100));
    let heartbeat_ttl = (every * 3).max(Duration::from_secs(5));
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.cancelled() => return,
        }
        for (label, config) in &queues {
            match queue::depth(&mut redis, config).await {
                Ok(depth) => {
                    metrics::gauge!(names::QUEUE_DEPTH, "queue" => *label).set(depth as f64)
                }
                Err(e) => tracing::debug!(error = %e, queue = label, "queue depth not sampled"),
            }
        }
        if let Err(e) = queue::beat_scheduler(&mut redis, &names, heartbeat_ttl).await {
            tracing::debug!(error = %e, "scheduler heartbeat not written");
        }
        match queue::used_memory(&mut redis).await {
            Ok(bytes) => metrics::gauge!(names::REDIS_MEMORY).set(bytes as f64),
            Err(e) => tracing::debug!(error = %e, "redis memory not sampled"),
        }
    }
}
