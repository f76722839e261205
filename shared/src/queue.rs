//! Redis naming and connections: the request queue, wake-up and reply channels.
//!
//! Every key and channel starts with the configured prefix, so deployments (and tests)
//! sharing one Redis never see each other's work.

use std::time::Duration;

use apalis_redis::{Config as QueueConfig, ConnectionManager, RedisStorage};
use redis::{aio::ConnectionManagerConfig, AsyncCommands, Client};

use crate::config::{JobSettings, RedisSettings};

/// Names of the queues and channels of one deployment.
#[derive(Clone, Debug)]
pub struct Names {
    prefix: String,
}

impl Names {
    /// Names under `prefix`.
    pub fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_string(),
        }
    }

    /// The queue of API request jobs.
    pub fn request_queue(&self) -> String {
        format!("{}:requests", self.prefix)
    }

    /// The queue of maintenance jobs enqueued by the scheduler.
    pub fn maintenance_queue(&self) -> String {
        format!("{}:maintenance", self.prefix)
    }

    /// The queue of event collection and webhook delivery jobs.
    pub fn events_queue(&self) -> String {
        format!("{}:events", self.prefix)
    }

    /// Channel on which pushers announce new jobs of `queue` to idle workers.
    pub fn wake_channel(&self, queue: &str) -> String {
        format!("{queue}:wake")
    }

    /// The key the scheduler keeps set while it runs (expiring unless renewed).
    pub fn scheduler_heartbeat(&self) -> String {
        format!("{}:scheduler:alive", self.prefix)
    }

    /// The reply channel of one API process.
    pub fn reply_channel(&self, api_id: &str) -> String {
        format!("{}:reply:{api_id}", self.prefix)
    }
}

/// Opens a Redis client for `settings`.
pub fn client(settings: &RedisSettings) -> redis::RedisResult<Client> {
    Client::open(settings.url.expose())
}

/// A multiplexed, reconnecting connection with a response timeout long enough
/// that a short Redis pause does not end a worker.
pub fn connection(settings: &RedisSettings) -> redis::RedisResult<ConnectionManager> {
    let config = ConnectionManagerConfig::new()
        .set_response_timeout(Some(Duration::from_millis(settings.response_timeout_ms)))
        .set_connection_timeout(Some(Duration::from_secs(2)))
        .set_number_of_retries(3)
        .set_max_delay(Duration::from_secs(1));
    ConnectionManager::new_lazy_with_config(client(settings)?, config)
}

/// The apalis queue configuration shared by pushers and workers of `queue`.
pub fn queue_config(queue: &str, jobs: &JobSettings) -> QueueConfig {
    QueueConfig::default()
        .queue(queue)
        .batch_size(jobs.batch_size.max(1))
        .heartbeat_interval(Duration::from_secs(jobs.heartbeat_secs.max(1)))
        .missed_heartbeats(jobs.missed_heartbeats.max(1))
        .lock_tasks(false)
        .emit_events(false)
        .persist_results(true)
}

/// An apalis storage for jobs of type `T` on `queue`.
pub fn storage<T>(conn: ConnectionManager, queue: &str, jobs: &JobSettings) -> RedisStorage<T> {
    RedisStorage::new(conn).with_config(queue_config(queue, jobs))
}

/// Jobs waiting in `config`'s queue (scheduled + ready), across all pushers.
pub async fn depth(conn: &mut ConnectionManager, config: &QueueConfig) -> redis::RedisResult<u64> {
    let (scheduled, active): (u64, u64) = redis::pipe()
        .zcard(config.scheduled_jobs_set())
        .llen(config.active_jobs_list())
        .query_async(conn)
        .await?;
    Ok(scheduled + active)
}

/// The workers of `config`'s queue whose last heartbeat (apalis-redis keeps one per worker
/// in the queue's `workers` sorted set, scored in Unix seconds) is at most `within_secs`
/// old: `(worker name, last heartbeat)`, most recent first.
pub async fn workers_seen(
    conn: &mut ConnectionManager,
    config: &QueueConfig,
    within_secs: u64,
) -> redis::RedisResult<Vec<(String, u64)>> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    conn.zrevrangebyscore_withscores(
        config.workers_set(),
        "+inf",
        now.saturating_sub(within_secs),
    )
    .await
}

/// Marks the scheduler alive for `ttl` (the key holds the Unix time of the beat).
pub async fn beat_scheduler(
    conn: &mut ConnectionManager,
    names: &Names,
    ttl: Duration,
) -> redis::RedisResult<()> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    conn.set_ex(names.scheduler_heartbeat(), now, ttl.as_secs().max(1))
        .await
}

/// When the scheduler last beat (Unix seconds), if its heartbeat has not expired.
pub async fn scheduler_beat(
    conn: &mut ConnectionManager,
    names: &Names,
) -> redis::RedisResult<Option<u64>> {
    conn.get(names.scheduler_heartbeat()).await
}

/// Bytes Redis uses for its data (`used_memory` of `INFO memory`): what the housekeeping
/// job keeps flat. One cheap call.
pub async fn used_memory(conn: &mut ConnectionManager) -> redis::RedisResult<u64> {
    let info: String = redis::cmd("INFO").arg("memory").query_async(conn).await?;
    parse_used_memory(&info).ok_or_else(|| {
        redis::RedisError::from((
            redis::ErrorKind::UnexpectedReturnType,
            "INFO memory without used_memory",
        ))
    })
}

/// The `used_memory:<bytes>` field of an `INFO` answer.
fn parse_used_memory(info: &str) -> Option<u64> {
    info.lines()
        .find_map(|line| line.trim_end().strip_prefix("used_memory:"))
        .and_then(|v| v.parse().ok())
}

/// Tells idle workers of `queue` that a job is waiting.
pub async fn wake(
    conn: &mut ConnectionManager,
    names: &Names,
    queue: &str,
) -> redis::RedisResult<()> {
    conn.publish::<_, _, ()>(names.wake_channel(queue), 1).await
}

/// Removes up to `limit` finished jobs' bookkeeping (ids, data, metadata) from `config`'s
/// queue; apalis keeps them forever otherwise. Returns how many were removed.
pub async fn trim_done(
    conn: &mut ConnectionManager,
    config: &QueueConfig,
    limit: usize,
) -> redis::RedisResult<usize> {
    let ids: Vec<String> = redis::cmd("SPOP")
        .arg(config.done_jobs_set())
        .arg(limit)
        .query_async(conn)
        .await?;
    if ids.is_empty() {
        return Ok(0);
    }
    let mut pipe = redis::pipe();
    pipe.hdel(config.job_data_hash(), &ids).ignore();
    let meta = config.job_meta_hash();
    for id in &ids {
        pipe.del(format!("{meta}:{id}")).ignore();
    }
    pipe.query_async::<()>(conn).await?;
    Ok(ids.len())
}

#[cfg(test)]
mod tests {
    use super::parse_used_memory;

    #[test]
    fn used_memory_is_read_from_info_and_not_confused_with_its_neighbours() {
        let info = "# Memory\r\nused_memory_human:1.02M\r\nused_memory:1069480\r\n\
                    used_memory_rss:4005888\r\n";
        assert_eq!(parse_used_memory(info), Some(1_069_480));
        assert_eq!(
            parse_used_memory("# Memory\r\nused_memory_rss:12\r\n"),
            None
        );
    }
}
