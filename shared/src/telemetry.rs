//! Logs, metrics and the shutdown signal, the same in every process.

use std::net::SocketAddr;

use axum::{routing::get, Router};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::{fmt, prelude::*, EnvFilter};

use crate::config::LogSettings;

/// Metric names (low-cardinality labels only: route, status class, service, op, outcome).
/// Every name here is described by [`describe`]; the README's Operations section lists
/// them, and `ops/` holds the dashboards and alert rules that query them.
pub mod names {
    /// Counter: HTTP requests by `route`, `method`, `status`.
    pub const HTTP_REQUESTS: &str = "cloudbridge_http_requests_total";
    /// Histogram (seconds): HTTP latency by `route`, `method`.
    pub const HTTP_LATENCY: &str = "cloudbridge_http_request_duration_seconds";
    /// Gauge: requests in flight in this API process.
    pub const HTTP_IN_FLIGHT: &str = "cloudbridge_http_in_flight";
    /// Counter: requests shed (503) by `reason`.
    pub const HTTP_SHED: &str = "cloudbridge_http_shed_total";
    /// Counter: requests refused with 429 by `limiter` (`key`, `address`, `link`,
    /// `link_password`, `oauth`, `token`).
    pub const RATE_LIMITED: &str = "cloudbridge_rate_limited_total";
    /// Gauge: keys a rate limiter of this API process holds, by `limiter`.
    pub const RATE_LIMITER_KEYS: &str = "cloudbridge_rate_limiter_keys";
    /// Gauge: password hashes (argon2id) being computed in this API process.
    pub const PASSWORD_HASHES: &str = "cloudbridge_password_hashes_in_flight";
    /// Counter: jobs pushed by `queue`, `op`.
    pub const JOBS_ENQUEUED: &str = "cloudbridge_jobs_enqueued_total";
    /// Counter: jobs run by `queue`, `op`, `outcome` (`ok`, `error`, `expired`).
    pub const JOBS_COMPLETED: &str = "cloudbridge_jobs_completed_total";
    /// Counter: jobs that failed to run (infrastructure errors) by `queue`.
    pub const JOBS_FAILED: &str = "cloudbridge_jobs_failed_total";
    /// Histogram (seconds): time from push to start of work, by `queue`.
    pub const QUEUE_WAIT: &str = "cloudbridge_queue_wait_seconds";
    /// Histogram (seconds): time a worker spends on a job, by `queue`, `op`.
    pub const JOB_DURATION: &str = "cloudbridge_job_duration_seconds";
    /// Gauge: jobs waiting in a queue (scheduled + ready) by `queue` (`requests`,
    /// `maintenance`), as last sampled (by the scheduler, and by each API process for
    /// its backlog bound).
    pub const QUEUE_DEPTH: &str = "cloudbridge_queue_depth";
    /// Gauge: bytes Redis reports as `used_memory` (`INFO memory`), sampled by the
    /// scheduler.
    pub const REDIS_MEMORY: &str = "cloudbridge_redis_used_memory_bytes";
    /// Gauge: requests of this API process waiting for a reply.
    pub const PENDING_REPLIES: &str = "cloudbridge_pending_replies";
    /// Counter: replies with nobody waiting (late or duplicate).
    pub const ORPHAN_REPLIES: &str = "cloudbridge_orphan_replies_total";
    /// Counter: worker (re)starts by `queue`.
    pub const WORKER_STARTS: &str = "cloudbridge_worker_starts_total";
    /// Counter: scheduler ticks by `kind` (the periodic job enqueued: `housekeeping`).
    pub const SCHEDULER_TICKS: &str = "cloudbridge_scheduler_ticks_total";
    /// Counter: account collections by `outcome` (`ok`, `error`).
    pub const EVENT_COLLECTIONS: &str = "cloudbridge_event_collections_total";
    /// Histogram (seconds): duration of one account's collection.
    pub const EVENT_COLLECTION_LATENCY: &str = "cloudbridge_event_collection_duration_seconds";
    /// Counter: collection jobs the scheduler enqueued.
    pub const EVENT_JOBS_ENQUEUED: &str = "cloudbridge_event_jobs_enqueued_total";
    /// Counter: finished-job records removed from Redis.
    pub const REDIS_TRIMMED: &str = "cloudbridge_redis_trimmed_total";
    /// Counter: calls a worker made to a third-party service, by `service`, `op`,
    /// `status` (class of the answer: `2xx`, `4xx`, `5xx`) and `outcome` (`ok` or the
    /// Kloudless `error_code` of the answer).
    pub const UPSTREAM_CALLS: &str = "cloudbridge_upstream_calls_total";
    /// Histogram (seconds): duration of those calls, by `service`, `op`.
    pub const UPSTREAM_LATENCY: &str = "cloudbridge_upstream_call_duration_seconds";
    /// Counter: OAuth token refreshes by `service` and `outcome` (see
    /// [`super::TOKEN_REFRESH_OUTCOMES`]).
    pub const TOKEN_REFRESHES: &str = "cloudbridge_token_refreshes_total";
    /// Counter: token sweeps run by workers (each one refreshes what is due).
    pub const TOKEN_SWEEPS: &str = "cloudbridge_token_sweeps_total";
    /// Counter: events collected (from change feeds and listing diffs).
    pub const EVENTS_COLLECTED: &str = "cloudbridge_events_collected_total";
    /// Counter: webhook delivery attempts by `outcome`: `ok` (the receiver took it),
    /// `retry` (it did not; another attempt is due later), `dead` (it did not, and the
    /// retry window is over).
    pub const WEBHOOK_DELIVERIES: &str = "cloudbridge_webhook_deliveries_total";
    /// Histogram (seconds): duration of webhook delivery attempts, answered or not.
    pub const WEBHOOK_LATENCY: &str = "cloudbridge_webhook_delivery_duration_seconds";
    /// Counter: the File Picker's computer uploads (`/drop/{app_id}`) by how they ended
    /// (see [`super::DROP_UPLOAD_OUTCOMES`]).
    pub const DROP_UPLOADS: &str = "cloudbridge_drop_uploads_total";
}

/// Gives every metric its `# HELP` text and unit. Called by [`init_metrics`], so each
/// process describes the metrics it exports the same way.
pub fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!(
        names::HTTP_REQUESTS,
        "HTTP requests by route template, method and status class."
    );
    describe_histogram!(
        names::HTTP_LATENCY,
        Unit::Seconds,
        "HTTP request latency by route template and method."
    );
    describe_gauge!(
        names::HTTP_IN_FLIGHT,
        "Requests in flight in this API process."
    );
    describe_counter!(names::HTTP_SHED, "Requests refused with 503 by reason.");
    describe_counter!(
        names::RATE_LIMITED,
        "Requests refused with 429 by rate limiter."
    );
    describe_gauge!(
        names::RATE_LIMITER_KEYS,
        "Keys (credentials, addresses, links) a rate limiter holds, by limiter."
    );
    describe_gauge!(
        names::PASSWORD_HASHES,
        "Password hashes being computed in this API process."
    );
    describe_counter!(names::JOBS_ENQUEUED, "Jobs pushed by queue and op.");
    describe_counter!(names::JOBS_COMPLETED, "Jobs run by queue, op and outcome.");
    describe_counter!(
        names::JOBS_FAILED,
        "Jobs whose reply could not be delivered, by queue."
    );
    describe_histogram!(
        names::QUEUE_WAIT,
        Unit::Seconds,
        "Time from push to start of work, by queue."
    );
    describe_histogram!(
        names::JOB_DURATION,
        Unit::Seconds,
        "Time a worker spends on a job, by queue and op."
    );
    describe_gauge!(
        names::QUEUE_DEPTH,
        "Jobs waiting in a queue as last sampled."
    );
    describe_gauge!(
        names::REDIS_MEMORY,
        Unit::Bytes,
        "Redis used_memory as last sampled."
    );
    describe_gauge!(
        names::PENDING_REPLIES,
        "Requests of this API process waiting for a reply."
    );
    describe_counter!(
        names::ORPHAN_REPLIES,
        "Replies nobody waited for (late or duplicate)."
    );
    describe_counter!(names::WORKER_STARTS, "Worker (re)starts by queue.");
    describe_counter!(
        names::SCHEDULER_TICKS,
        "Periodic jobs enqueued by the scheduler, by kind."
    );
    describe_counter!(
        names::REDIS_TRIMMED,
        "Finished-job records removed from Redis by housekeeping."
    );
    describe_counter!(
        names::UPSTREAM_CALLS,
        "Third-party service calls by service, op, status class and outcome."
    );
    describe_histogram!(
        names::UPSTREAM_LATENCY,
        Unit::Seconds,
        "Third-party service call duration by service and op."
    );
    describe_counter!(
        names::TOKEN_REFRESHES,
        "OAuth token refreshes by service and outcome."
    );
    describe_counter!(names::TOKEN_SWEEPS, "Token sweeps run.");
    describe_counter!(
        names::EVENTS_COLLECTED,
        "Events collected from change feeds and listing diffs."
    );
    describe_counter!(
        names::EVENT_COLLECTIONS,
        "Account event collections by outcome."
    );
    describe_histogram!(
        names::EVENT_COLLECTION_LATENCY,
        Unit::Seconds,
        "Duration of one account's event collection."
    );
    describe_counter!(
        names::EVENT_JOBS_ENQUEUED,
        "Event collection jobs enqueued by the scheduler."
    );
    describe_counter!(
        names::WEBHOOK_DELIVERIES,
        "Webhook delivery attempts by outcome: ok, retry (another attempt is due), dead (retry window over)."
    );
    describe_histogram!(
        names::WEBHOOK_LATENCY,
        Unit::Seconds,
        "Duration of webhook delivery attempts."
    );
    describe_counter!(
        names::DROP_UPLOADS,
        "File Picker computer uploads by outcome: stored, rejected, failed, aborted, expired."
    );
}

/// How a File Picker computer upload ends: `stored` (the file is in the upload location);
/// `rejected` (a chunk refused: out of order, too large, a size or count that does not add
/// up, which also discards its upload); `failed` (the service did not take the file);
/// `aborted` (the picker cancelled it); `expired` (removed by housekeeping, unfinished).
/// The API tier counts all but `expired`, which workers count.
pub const DROP_UPLOAD_OUTCOMES: [&str; 5] = ["stored", "rejected", "failed", "aborted", "expired"];

/// How a token refresh ends: `ok`; `refused` (the service refused the account's grant);
/// `client_rejected` (it refused the OAuth client: a configuration error, not the
/// account's); `unavailable`; `no_refresh_token`.
pub const TOKEN_REFRESH_OUTCOMES: [&str; 5] = [
    "ok",
    "refused",
    "client_rejected",
    "unavailable",
    "no_refresh_token",
];

/// Registers, at zero, the counters of background work that the worker process owns
/// (token refresh, event collection, webhook delivery), so that dashboards and alert
/// rules querying them see a series (0) before the first refresh, event or delivery
/// rather than nothing.
pub fn register_background_counters() {
    for outcome in TOKEN_REFRESH_OUTCOMES {
        metrics::counter!(names::TOKEN_REFRESHES, "outcome" => outcome).increment(0);
    }
    metrics::counter!(names::TOKEN_SWEEPS).increment(0);
    metrics::counter!(names::EVENTS_COLLECTED).increment(0);
    for outcome in ["ok", "error"] {
        metrics::counter!(names::EVENT_COLLECTIONS, "outcome" => outcome).increment(0);
    }
    for outcome in ["ok", "retry", "dead"] {
        metrics::counter!(names::WEBHOOK_DELIVERIES, "outcome" => outcome).increment(0);
    }
    metrics::counter!(names::DROP_UPLOADS, "outcome" => "expired").increment(0);
}

/// Installs the global tracing subscriber.
pub fn init_logging(settings: &LogSettings) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(settings.filter.clone()));
    let registry = tracing_subscriber::registry().with(filter);
    let result = if settings.format == "pretty" {
        registry.with(fmt::layer().with_target(false)).try_init()
    } else {
        registry
            .with(fmt::layer().json().flatten_event(true))
            .try_init()
    };
    // A second init (tests running several processes' code in one) keeps the first.
    let _ = result;
}

/// Installs the global Prometheus recorder and returns its handle.
/// Safe to call more than once per process (tests): later calls reuse the first.
pub fn init_metrics() -> PrometheusHandle {
    static HANDLE: std::sync::OnceLock<PrometheusHandle> = std::sync::OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let buckets = [
                0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0,
                30.0,
            ];
            let handle = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &buckets)
                .expect("valid buckets")
                .install_recorder()
                .expect("no other metrics recorder is installed");
            describe();
            let upkeep = handle.clone();
            std::thread::spawn(move || loop {
                std::thread::sleep(std::time::Duration::from_secs(5));
                upkeep.run_upkeep();
            });
            handle
        })
        .clone()
}

/// A router serving `/metrics` and `/health`, for processes without an API.
pub fn metrics_router(handle: PrometheusHandle) -> Router {
    Router::new()
        .route("/metrics", get(move || std::future::ready(handle.render())))
        .route("/health", get(|| async { "ok" }))
}

/// Serves [`metrics_router`] on `addr` until `shutdown` completes.
pub async fn serve_metrics(
    addr: SocketAddr,
    handle: PrometheusHandle,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!(addr = %listener.local_addr()?, "metrics listening");
    axum::serve(listener, metrics_router(handle))
        .with_graceful_shutdown(shutdown)
        .await?;
    Ok(())
}

/// Completes on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutdown signal received");
}

/// A token cancelled on SIGINT or SIGTERM: the one shutdown path of every binary.
pub fn shutdown_token() -> tokio_util::sync::CancellationToken {
    let token = tokio_util::sync::CancellationToken::new();
    let cancel = token.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        cancel.cancel();
    });
    token
}
