//! The event collection sweep and the webhook delivery tick.
//!
//! Due times live in PostgreSQL: a sweep claims due accounts (moving each one's due time
//! on by an interval in the same statement) and enqueues one collection job per claimed
//! account. Losing Redis loses queued jobs, never collections: the accounts come due again
//! an interval later. The sweep stops adding jobs while the events queue holds
//! `events.max_backlog` of them, which keeps apalis' promotion of due jobs within what it
//! can do in one script.

use apalis::prelude::TaskSink;
use apalis_redis::{ConnectionManager, RedisStorage};
use cloudbridge_shared::{
    config::EventSettings,
    db,
    protocol::EventJob,
    queue::{self, Names},
    telemetry::names,
    Settings,
};
use sqlx::PgPool;

/// What the event loops need.
#[derive(Clone)]
pub struct Events {
    settings: EventSettings,
    db: PgPool,
    redis: ConnectionManager,
    names: Names,
    /// The events queue's name and apalis configuration.
    queue: String,
    config: apalis_redis::Config,
    storage: RedisStorage<EventJob>,
}

impl Events {
    /// The event loops of a scheduler with `settings`.
    pub fn new(settings: &Settings, db: PgPool, redis: ConnectionManager, names: Names) -> Self {
        let queue_name = names.events_queue();
        let config = queue::queue_config(&queue_name, &settings.jobs);
        Self {
            settings: settings.events.clone(),
            db,
            storage: RedisStorage::new(redis.clone()).with_config(config.clone()),
            redis,
            names,
            queue: queue_name,
            config,
        }
    }

    /// Claims due accounts and enqueues their collections.
    pub async fn sweep(&self, tick: i64) {
        let mut redis = self.redis.clone();
        let waiting = match queue::depth(&mut redis, &self.config).await {
            Ok(waiting) => waiting,
            Err(e) => {
                tracing::warn!(error = %e, "events queue not reachable; sweep skipped");
                return;
            }
        };
        let room = self.settings.max_backlog.saturating_sub(waiting) as i64;
        let limit = room.min(self.settings.sweep_batch);
        if limit <= 0 {
            return;
        }
        let due = match db::feeds::claim_due(&self.db, limit, self.settings.interval_secs).await {
            Ok(due) => due,
            Err(e) => {
                tracing::warn!(error = %e, "due accounts not claimed");
                return;
            }
        };
        metrics::counter!(names::SCHEDULER_TICKS, "kind" => "event_sweep").increment(1);
        if due.is_empty() {
            return;
        }
        let count = due.len();
        let jobs = due
            .into_iter()
            .map(|(account, round)| EventJob::Collect {
                account,
                round: round.timestamp(),
            })
            .collect();
        let mut storage = self.storage.clone();
        match storage.push_bulk(jobs).await {
            Ok(()) => {
                metrics::counter!(names::EVENT_JOBS_ENQUEUED).increment(count as u64);
                let _ = queue::wake(&mut redis, &self.names, &self.queue).await;
                tracing::debug!(tick, count, "collections enqueued");
            }
            // Claimed but not enqueued: these accounts come due again an interval later.
            Err(e) => tracing::warn!(error = %e, count, "collections not enqueued"),
        }
    }

    /// Enqueues one delivery round of the webhook outbox when something in it is due (an
    /// empty outbox costs one indexed probe a tick, not a job). No idempotency key (one
    /// Redis key per second, kept for its lifetime, for nothing): a second round for the
    /// same tick claims nothing the first one holds.
    pub async fn deliver(&self, tick: i64) {
        match db::webhooks::outbox::any_due(&self.db).await {
            Ok(true) => {}
            Ok(false) => return,
            Err(e) => {
                tracing::warn!(error = %e, "webhook outbox not readable; no delivery round");
                return;
            }
        }
        let mut storage = self.storage.clone();
        match storage.push(EventJob::Deliver { tick }).await {
            Ok(()) => {
                metrics::counter!(names::SCHEDULER_TICKS, "kind" => "webhook_delivery")
                    .increment(1);
                let mut redis = self.redis.clone();
                let _ = queue::wake(&mut redis, &self.names, &self.queue).await;
            }
            Err(e) => tracing::warn!(error = %e, "webhook delivery not enqueued"),
        }
    }
}
