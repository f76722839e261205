//! `/admin/status`: whether the appliance's parts answer, read when the page is asked for:
//! PostgreSQL and Redis (reachable, round trip), the depth of each job queue (as the
//! scheduler's gauges count it), the worker processes seen (apalis-redis keeps each
//! worker's heartbeat in its queue's `workers` set), whether the scheduler is alive (its
//! heartbeat key), and links to Grafana and Prometheus when they are configured.

use std::{collections::BTreeMap, time::Instant};

use askama::Template;
use axum::{extract::State, http::StatusCode, response::Response};
use cloudbridge_shared::queue::{self, Names};

use super::Admin;
use crate::portal::{
    view::{self, Frame},
    Portal,
};

/// How a dependency answered.
pub struct Check {
    pub ok: bool,
    /// Round trip, or what went wrong.
    pub detail: String,
}

impl Check {
    fn of<T, E: std::fmt::Display>(result: Result<T, E>, started: Instant) -> (Self, Option<T>) {
        match result {
            Ok(value) => (
                Self {
                    ok: true,
                    detail: format!("{:.1} ms", started.elapsed().as_secs_f64() * 1000.0),
                },
                Some(value),
            ),
            Err(e) => (
                Self {
                    ok: false,
                    detail: e.to_string(),
                },
                None,
            ),
        }
    }
}

/// One job queue.
pub struct QueueRow {
    pub name: &'static str,
    /// Jobs waiting (none when Redis did not answer).
    pub depth: Option<u64>,
}

/// One worker process (its workers on each queue share host and process id).
pub struct WorkerRow {
    pub process: String,
    pub queues: String,
    /// Seconds since its latest heartbeat.
    pub seen_secs_ago: u64,
}

/// `admin_status.html`.
#[derive(Template)]
#[template(path = "portal/admin_status.html")]
pub struct Status {
    pub frame: Frame,
    pub postgres: Check,
    pub postgres_version: String,
    pub redis: Check,
    pub redis_memory: String,
    pub queues: Vec<QueueRow>,
    pub workers: Vec<WorkerRow>,
    /// How long within which a worker's heartbeat counts.
    pub worker_window_secs: u64,
    /// Seconds since the scheduler's heartbeat, if it is alive.
    pub scheduler_secs_ago: Option<u64>,
    pub grafana_url: String,
    pub prometheus_url: String,
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

/// The process a worker belongs to: its name is `{host}-{pid}-{queue}-{suffix}`.
fn process_of(worker: &str) -> &str {
    let mut parts = worker.rsplitn(3, '-');
    let (_, _, process) = (parts.next(), parts.next(), parts.next());
    process.unwrap_or(worker)
}

/// `GET /admin/status`.
pub async fn show(State(portal): State<Portal>, Admin(signed): Admin) -> Response {
    let settings = &portal.app.settings;
    let started = Instant::now();
    let version = sqlx::query_scalar::<_, String>("SHOW server_version")
        .fetch_one(&portal.app.db)
        .await;
    let (postgres, version) = Check::of(version, started);

    let mut redis = portal.app.pipeline.redis();
    let started = Instant::now();
    let ping = redis::cmd("PING").query_async::<String>(&mut redis).await;
    let (redis_check, _) = Check::of(ping, started);
    let memory = if redis_check.ok {
        queue::used_memory(&mut redis).await.ok()
    } else {
        None
    };

    let names = Names::new(&settings.redis.prefix);
    let window = settings.jobs.heartbeat_secs * (settings.jobs.missed_heartbeats as u64 + 1);
    let mut queues = Vec::new();
    let mut processes: BTreeMap<String, (Vec<&'static str>, u64)> = BTreeMap::new();
    let now = now_secs();
    for (label, name) in [
        ("requests", names.request_queue()),
        ("events", names.events_queue()),
        ("maintenance", names.maintenance_queue()),
    ] {
        let config = queue::queue_config(&name, &settings.jobs);
        let depth = if redis_check.ok {
            queue::depth(&mut redis, &config).await.ok()
        } else {
            None
        };
        queues.push(QueueRow { name: label, depth });
        if !redis_check.ok {
            continue;
        }
        for (worker, beat) in queue::workers_seen(&mut redis, &config, window)
            .await
            .unwrap_or_default()
        {
            let entry = processes
                .entry(process_of(&worker).to_string())
                .or_insert((Vec::new(), 0));
            if !entry.0.contains(&label) {
                entry.0.push(label);
            }
            entry.1 = entry.1.max(beat);
        }
    }
    let scheduler = if redis_check.ok {
        queue::scheduler_beat(&mut redis, &names)
            .await
            .ok()
            .flatten()
    } else {
        None
    };
    let workers = processes
        .into_iter()
        .map(|(process, (queues, beat))| WorkerRow {
            process,
            queues: queues.join(", "),
            seen_secs_ago: now.saturating_sub(beat),
        })
        .collect();
    view::render(
        StatusCode::OK,
        &Status {
            frame: Frame::signed(&signed.session),
            postgres,
            postgres_version: version.unwrap_or_default(),
            redis: redis_check,
            redis_memory: memory.map_or_else(String::new, |b| {
                format!("{:.1} MiB used", b as f64 / (1024.0 * 1024.0))
            }),
            queues,
            workers,
            worker_window_secs: window,
            scheduler_secs_ago: scheduler.map(|beat| now.saturating_sub(beat)),
            grafana_url: settings.portal.grafana_url.clone(),
            prometheus_url: settings.portal.prometheus_url.clone(),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::process_of;

    #[test]
    fn a_workers_process_is_its_name_without_queue_and_suffix() {
        assert_eq!(process_of("jobs-1-42-requests-0a1b2c3d"), "jobs-1-42");
        assert_eq!(process_of("worker-7-events-ffffffff"), "worker-7");
        assert_eq!(process_of("odd"), "odd");
    }
}
