//! Keeps a worker running: when `worker.run()` ends with an error (Redis gone, a failed
//! heartbeat), log it and start a fresh worker under a new name after a short pause.

use std::{future::Future, time::Duration};

use apalis::prelude::WorkerError;
use cloudbridge_shared::telemetry::names;
use tokio_util::sync::CancellationToken;

/// Runs `make(name)` until `shutdown` is cancelled, restarting it when it fails.
pub async fn run<F, Fut>(queue: &str, shutdown: CancellationToken, make: F)
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = Result<(), WorkerError>>,
{
    let mut backoff = Duration::from_millis(200);
    loop {
        let name = crate::worker_name(queue);
        metrics::counter!(names::WORKER_STARTS, "queue" => queue.to_string()).increment(1);
        tracing::info!(worker = %name, queue, "worker starting");
        let result = make(name.clone()).await;
        if shutdown.is_cancelled() {
            tracing::info!(worker = %name, "worker stopped");
            return;
        }
        match result {
            Ok(()) => tracing::warn!(worker = %name, "worker ended; restarting"),
            Err(e) => tracing::error!(worker = %name, error = %e, "worker failed; restarting"),
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = shutdown.cancelled() => return,
        }
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}
