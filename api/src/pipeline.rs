//! The request path from the API tier: push a job, wait for its reply.
//!
//! Each API process subscribes to its own reply channel once. A waiter is registered
//! *before* the job is pushed, so a fast reply is never missed; the wait ends at the
//! job's deadline with 504. When the backlog across all API processes exceeds the
//! configured bound, new requests are shed with 503 + `Retry-After` before they reach
//! Redis (apalis fails on very large backlogs). When the reply subscription drops,
//! pending requests fail fast with 503 and the subscription is re-established.

use std::{
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};

use apalis::prelude::TaskSink;
use apalis_redis::{ConnectionManager, RedisStorage};
use cloudbridge_shared::{
    protocol::{now_ms, AccountRef, Op, Outcome, Reply, RequestJob},
    queue::{self, Names},
    request_id,
    telemetry::names,
    ApiError, Settings,
};
use dashmap::DashMap;
use futures::StreamExt;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

/// Pushes request jobs and routes their replies back to the waiting handlers.
pub struct Pipeline {
    names: Names,
    queue: String,
    reply_channel: String,
    storage: RedisStorage<RequestJob>,
    redis: ConnectionManager,
    pending: DashMap<String, oneshot::Sender<Reply>>,
    subscribed: AtomicBool,
    depth: AtomicU64,
    backlog_limit: u64,
    timeout: Duration,
    sequence: AtomicU64,
    /// Asks the wake-up publisher for one more wake-up (coalesced under load).
    wake: tokio::sync::Notify,
}

impl Pipeline {
    /// Connects the pipeline and starts its reply listener and depth sampler.
    pub fn start(settings: &Settings, shutdown: CancellationToken) -> anyhow::Result<Arc<Self>> {
        let names = Names::new(&settings.redis.prefix);
        let api_id = uuid::Uuid::new_v4().simple().to_string();
        let redis = queue::connection(&settings.redis)?;
        let queue = names.request_queue();
        let pipeline = Arc::new(Self {
            reply_channel: names.reply_channel(&api_id),
            storage: queue::storage(redis.clone(), &queue, &settings.jobs),
            queue,
            names,
            redis,
            pending: DashMap::new(),
            subscribed: AtomicBool::new(false),
            depth: AtomicU64::new(0),
            backlog_limit: settings.api.backlog_limit,
            timeout: settings.request_timeout(),
            sequence: AtomicU64::new(0),
            wake: tokio::sync::Notify::new(),
        });
        let client = queue::client(&settings.redis)?;
        tokio::spawn(pipeline.clone().listen(client, shutdown.clone()));
        tokio::spawn(pipeline.clone().sample_depth(shutdown.clone()));
        tokio::spawn(pipeline.clone().publish_wakeups(shutdown));
        Ok(pipeline)
    }

    /// Runs `op` on a worker and returns its outcome.
    pub async fn call(&self, account: Option<AccountRef>, op: Op) -> Result<Outcome, ApiError> {
        if !self.subscribed.load(Ordering::Acquire) {
            metrics::counter!(names::HTTP_SHED, "reason" => "no_reply_channel").increment(1);
            return Err(ApiError::overloaded(
                "The job queue is not reachable; retry shortly.",
                1,
            ));
        }
        if self.depth.load(Ordering::Relaxed) >= self.backlog_limit {
            metrics::counter!(names::HTTP_SHED, "reason" => "backlog").increment(1);
            return Err(ApiError::overloaded(
                "Too many queued requests; retry shortly.",
                1,
            ));
        }
        let seq = self.sequence.fetch_add(1, Ordering::Relaxed);
        let id = format!("{}.{seq}", request_id::current());
        let now = now_ms();
        let kind = op.kind();
        let job = RequestJob {
            request_id: id.clone(),
            reply_to: self.reply_channel.clone(),
            enqueued_ms: now,
            deadline_ms: now + self.timeout.as_millis() as i64,
            account,
            op,
        };
        let (tx, rx) = oneshot::channel();
        let waiter = Waiter::register(self, id, tx);
        let mut storage = self.storage.clone();
        if let Err(e) = storage.push(job).await {
            tracing::warn!(error = %e, "job push failed");
            return Err(ApiError::overloaded(
                "The job queue is not reachable; retry shortly.",
                1,
            ));
        }
        metrics::counter!(names::JOBS_ENQUEUED, "queue" => "requests", "op" => kind).increment(1);
        self.wake.notify_one();
        let reply = tokio::time::timeout(self.timeout, rx).await;
        drop(waiter);
        match reply {
            Ok(Ok(reply)) => reply.result,
            Ok(Err(_)) => Err(ApiError::overloaded(
                "The reply channel was lost; retry shortly.",
                1,
            )),
            Err(_) => Err(ApiError::gateway_timeout()),
        }
    }

    /// True when replies can currently be received.
    pub fn is_ready(&self) -> bool {
        self.subscribed.load(Ordering::Acquire)
    }

    /// The Redis connection (readiness checks).
    pub fn redis(&self) -> ConnectionManager {
        self.redis.clone()
    }

    async fn listen(self: Arc<Self>, client: redis::Client, shutdown: CancellationToken) {
        loop {
            match client.get_async_pubsub().await {
                Ok(mut pubsub) => match pubsub.subscribe(&self.reply_channel).await {
                    Ok(()) => {
                        self.subscribed.store(true, Ordering::Release);
                        tracing::info!(channel = %self.reply_channel, "reply channel subscribed");
                        let mut messages = pubsub.on_message();
                        loop {
                            tokio::select! {
                                m = messages.next() => match m {
                                    Some(m) => self.deliver(m.get_payload_bytes()),
                                    None => break,
                                },
                                _ = shutdown.cancelled() => return,
                            }
                        }
                        self.subscribed.store(false, Ordering::Release);
                        self.fail_pending();
                        tracing::warn!("reply channel lost; resubscribing");
                    }
                    Err(e) => tracing::warn!(error = %e, "reply subscription failed"),
                },
                Err(e) => tracing::warn!(error = %e, "reply connection failed"),
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(250)) => {}
                _ = shutdown.cancelled() => return,
            }
        }
    }

    fn deliver(&self, payload: &[u8]) {
        let reply: Reply = match serde_json::from_slice(payload) {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "undecodable reply");
                return;
            }
        };
        match self.pending.remove(&reply.request_id) {
            Some((_, tx)) => {
                let _ = tx.send(reply);
            }
            None => metrics::counter!(names::ORPHAN_REPLIES).increment(1),
        }
    }

    /// Dropping the senders wakes every waiter with a "channel lost" answer.
    fn fail_pending(&self) {
        self.pending.clear();
        metrics::gauge!(names::PENDING_REPLIES).set(0.0);
    }

    /// Publishes a wake-up after pushes, off the request path. Each `notify_one` after a
    /// push leaves a permit, so a wake-up always *starts after* the push it answers;
    /// pushes made while one is being published share the next one.
    async fn publish_wakeups(self: Arc<Self>, shutdown: CancellationToken) {
        let mut redis = self.redis.clone();
        loop {
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = shutdown.cancelled() => return,
            }
            if let Err(e) = queue::wake(&mut redis, &self.names, &self.queue).await {
                // Workers still find the job on their fallback poll.
                tracing::debug!(error = %e, "wake-up not published");
            }
        }
    }

    async fn sample_depth(self: Arc<Self>, shutdown: CancellationToken) {
        let config = self.storage.get_config().clone();
        let mut redis = self.redis.clone();
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = shutdown.cancelled() => return,
            }
            if let Ok(depth) = queue::depth(&mut redis, &config).await {
                self.depth.store(depth, Ordering::Relaxed);
                metrics::gauge!(names::QUEUE_DEPTH, "queue" => "requests").set(depth as f64);
            }
        }
    }
}

/// A registered waiter; unregisters itself when the wait ends, however it ends.
struct Waiter<'a> {
    pipeline: &'a Pipeline,
    id: String,
}

impl<'a> Waiter<'a> {
    fn register(pipeline: &'a Pipeline, id: String, tx: oneshot::Sender<Reply>) -> Self {
        pipeline.pending.insert(id.clone(), tx);
        metrics::gauge!(names::PENDING_REPLIES).set(pipeline.pending.len() as f64);
        Self { pipeline, id }
    }
}

impl Drop for Waiter<'_> {
    fn drop(&mut self) {
        self.pipeline.pending.remove(&self.id);
        metrics::gauge!(names::PENDING_REPLIES).set(self.pipeline.pending.len() as f64);
    }
}
