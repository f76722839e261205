//! Per-application usage, counted in memory by each process and written to PostgreSQL in
//! batches (`usage_daily`, see [`crate::db::usage`]) for the portal's charts: requests by
//! status class (API tier), upstream errors and events collected by service, webhook
//! deliveries by outcome (workers).
//!
//! Nothing is written per request. A request adds one to an atomic counter of its
//! application (found under a read lock without allocating, after the application's
//! first request); a background task ([`Flusher`]) takes every count every
//! `usage.flush_ms` and adds them to the day's rows in one statement, and once more when
//! the process stops. Prometheus labels stay as they are (no application label there).

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex, RwLock,
    },
    time::Duration,
};

use chrono::{NaiveDate, Utc};
use sqlx::PgPool;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::{config::UsageSettings, ApiError};

/// What is counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Metric {
    /// API requests made with the application's credentials, by status class.
    Requests,
    /// Calls to a service that failed on the service's side, by service.
    UpstreamErrors,
    /// Events collected from the application's accounts, by service.
    Events,
    /// Webhook delivery attempts, by outcome (`ok`, `retry`, `dead`).
    Deliveries,
}

impl Metric {
    /// Every metric, in the order the portal shows them.
    pub const ALL: [Metric; 4] = [
        Metric::Requests,
        Metric::UpstreamErrors,
        Metric::Events,
        Metric::Deliveries,
    ];

    /// Its name in `usage_daily.metric`.
    pub fn as_str(self) -> &'static str {
        match self {
            Metric::Requests => "requests",
            Metric::UpstreamErrors => "upstream_errors",
            Metric::Events => "events",
            Metric::Deliveries => "webhook_deliveries",
        }
    }

    /// The metric named `name` in `usage_daily.metric`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == name)
    }
}

/// The status classes requests are counted by.
pub const STATUS_CLASSES: [&str; 4] = ["2xx", "3xx", "4xx", "5xx"];

/// Whether a failed call is the service's failure (it failed, timed out, refused the
/// account's credentials or rate-limited us), not a caller's mistake such as a missing
/// file or an operation the service does not have.
pub fn is_upstream_error(e: &ApiError) -> bool {
    matches!(e.status, 401 | 429) || (e.status >= 500 && e.status != 501)
}

/// One application's requests by status class, counted without a lock.
#[derive(Debug, Default)]
pub struct Requests([AtomicU64; 4]);

impl Requests {
    /// Counts one answer with `status` (1xx with 2xx, beyond 5xx with 5xx).
    pub fn count(&self, status: u16) {
        let class = usize::from(status / 100).clamp(2, 5) - 2;
        self.0[class].fetch_add(1, Ordering::Relaxed);
    }
}

/// A count of one application, metric and label, taken for a flush.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Count {
    /// The application.
    pub application: String,
    /// What was counted.
    pub metric: Metric,
    /// Its label (status class, service or outcome).
    pub label: String,
    /// How many.
    pub n: u64,
}

/// The counts of one process since its last flush.
#[derive(Debug)]
pub struct Usage {
    enabled: bool,
    /// Requests, by application (entries idle for a whole flush are dropped).
    requests: RwLock<HashMap<String, Arc<Requests>>>,
    /// Everything else (rare beside requests), by application, metric and label.
    other: Mutex<HashMap<(String, Metric, String), u64>>,
}

impl Usage {
    /// Counts when `enabled`; otherwise every call is a no-op.
    pub fn new(enabled: bool) -> Self {
        Self {
            enabled,
            requests: RwLock::default(),
            other: Mutex::default(),
        }
    }

    /// Whether anything is counted.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// The request counters of application `app` (`None` when counting is off). Takes a
    /// read lock and a reference count, and allocates only at the application's first
    /// request since it was last idle for a whole flush.
    pub fn requests_of(&self, app: &str) -> Option<Arc<Requests>> {
        if !self.enabled {
            return None;
        }
        if let Some(found) = read(&self.requests).get(app) {
            return Some(found.clone());
        }
        let mut all = write(&self.requests);
        Some(all.entry(app.to_string()).or_default().clone())
    }

    /// Adds `n` to `metric` of application `app` under `label`.
    pub fn add(&self, app: &str, metric: Metric, label: &str, n: u64) {
        if !self.enabled || n == 0 {
            return;
        }
        let mut other = lock(&self.other);
        *other
            .entry((app.to_string(), metric, label.to_string()))
            .or_default() += n;
    }

    /// Takes every count so far (leaving zeroes), sorted by application, metric and label
    /// so that concurrent flushes of several processes lock the same rows in the same
    /// order.
    pub fn take(&self) -> Vec<Count> {
        let mut counts = Vec::new();
        write(&self.requests).retain(|app, requests| {
            let mut idle = true;
            for (slot, class) in requests.0.iter().zip(STATUS_CLASSES) {
                let n = slot.swap(0, Ordering::Relaxed);
                if n > 0 {
                    idle = false;
                    counts.push(Count {
                        application: app.clone(),
                        metric: Metric::Requests,
                        label: class.to_string(),
                        n,
                    });
                }
            }
            // Kept while in use: a request holding it counts into it after this flush.
            !idle || Arc::strong_count(requests) > 1
        });
        counts.extend(
            lock(&self.other)
                .drain()
                .map(|((application, metric, label), n)| Count {
                    application,
                    metric,
                    label,
                    n,
                }),
        );
        counts.sort_by(|a, b| {
            (&a.application, a.metric, &a.label).cmp(&(&b.application, b.metric, &b.label))
        });
        // Restored request counts sit beside new ones: one row each, or the statement fails.
        counts.dedup_by(|later, kept| {
            let same = (&later.application, later.metric, &later.label)
                == (&kept.application, kept.metric, &kept.label);
            if same {
                kept.n += later.n;
            }
            same
        });
        counts
    }

    /// Puts back counts a flush could not write, for the next flush.
    pub fn restore(&self, counts: Vec<Count>) {
        for c in counts {
            self.add(&c.application, c.metric, &c.label, c.n);
        }
    }

    /// Writes every count so far to `day`'s rows in one statement; on failure they are
    /// kept for the next flush. Returns how many counts were written.
    pub async fn flush(&self, db: &PgPool, day: NaiveDate) -> Result<usize, sqlx::Error> {
        let counts = self.take();
        if counts.is_empty() {
            return Ok(0);
        }
        match crate::db::usage::add(db, day, &counts).await {
            Ok(()) => Ok(counts.len()),
            Err(e) => {
                self.restore(counts);
                Err(e)
            }
        }
    }
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn lock<T>(lock: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The background task writing a process's counts: every `usage.flush_ms`, and once more
/// when [`Flusher::finish`] is called at shutdown.
pub struct Flusher {
    stop: CancellationToken,
    task: Option<JoinHandle<()>>,
}

impl Flusher {
    /// Starts writing `usage` to `db` (nothing runs when counting is off).
    pub fn start(usage: Arc<Usage>, db: PgPool, settings: &UsageSettings) -> Self {
        let stop = CancellationToken::new();
        let task = usage.enabled().then(|| {
            let every = Duration::from_millis(settings.flush_ms.max(10));
            let stop = stop.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(every);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                tick.tick().await;
                loop {
                    tokio::select! {
                        _ = stop.cancelled() => break,
                        _ = tick.tick() => flush_logged(&usage, &db).await,
                    }
                }
                flush_logged(&usage, &db).await;
            })
        });
        Self { stop, task }
    }

    /// Writes what is left and stops (waits at most 5 seconds for the database).
    pub async fn finish(mut self) {
        self.stop.cancel();
        if let Some(task) = self.task.take() {
            if tokio::time::timeout(Duration::from_secs(5), task)
                .await
                .is_err()
            {
                tracing::warn!("the last usage counts were not written in time");
            }
        }
    }
}

impl Drop for Flusher {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn flush_logged(usage: &Usage, db: &PgPool) {
    if let Err(e) = usage.flush(db, Utc::now().date_naive()).await {
        tracing::warn!(error = %e, "usage counts not written; kept for the next flush");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(app: &str, metric: Metric, label: &str, n: u64) -> Count {
        Count {
            application: app.into(),
            metric,
            label: label.into(),
            n,
        }
    }

    #[test]
    fn requests_are_counted_by_status_class_and_taken_once() {
        let usage = Usage::new(true);
        let b = usage.requests_of("b").unwrap();
        b.count(200);
        b.count(204);
        b.count(404);
        b.count(599);
        b.count(101);
        usage.requests_of("a").unwrap().count(302);
        usage.add("a", Metric::Events, "local", 3);
        usage.add("a", Metric::Events, "local", 2);
        drop(b);
        assert_eq!(
            usage.take(),
            vec![
                count("a", Metric::Requests, "3xx", 1),
                count("a", Metric::Events, "local", 5),
                count("b", Metric::Requests, "2xx", 3),
                count("b", Metric::Requests, "4xx", 1),
                count("b", Metric::Requests, "5xx", 1),
            ]
        );
        assert!(usage.take().is_empty(), "counts are taken once");
    }

    #[test]
    fn idle_applications_are_forgotten_unless_in_use() {
        let usage = Usage::new(true);
        let held = usage.requests_of("a").unwrap();
        usage.requests_of("b").unwrap().count(200);
        usage.take();
        usage.take();
        let all = read(&usage.requests);
        assert!(all.contains_key("a"), "held by a request");
        assert!(!all.contains_key("b"), "idle for a whole flush");
        drop(all);
        held.count(500);
        assert_eq!(usage.take(), vec![count("a", Metric::Requests, "5xx", 1)]);
    }

    #[test]
    fn restored_counts_join_the_next_flush_and_off_counts_nothing() {
        let usage = Usage::new(true);
        usage.add("a", Metric::Deliveries, "ok", 1);
        usage.requests_of("a").unwrap().count(200);
        let failed = usage.take();
        usage.add("a", Metric::Deliveries, "ok", 2);
        usage.requests_of("a").unwrap().count(201);
        usage.restore(failed);
        assert_eq!(
            usage.take(),
            vec![
                count("a", Metric::Requests, "2xx", 2),
                count("a", Metric::Deliveries, "ok", 3),
            ]
        );

        let off = Usage::new(false);
        assert!(off.requests_of("a").is_none());
        off.add("a", Metric::Events, "local", 1);
        assert!(off.take().is_empty());
    }

    #[test]
    fn upstream_errors_are_the_services_failures() {
        let e = |status| ApiError::new(status, "x", "x");
        for status in [401, 429, 500, 502, 503, 504, 507] {
            assert!(is_upstream_error(&e(status)), "{status}");
        }
        for status in [400, 403, 404, 409, 413, 501] {
            assert!(!is_upstream_error(&e(status)), "{status}");
        }
        assert_eq!(
            Metric::parse("webhook_deliveries"),
            Some(Metric::Deliveries)
        );
        assert_eq!(Metric::parse("nope"), None);
    }
}
