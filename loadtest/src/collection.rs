//! The event collection benchmark: how many connected accounts Cloudbridge keeps
//! collected within one interval.
//!
//! It connects `accounts` accounts on the fake upstream to an application that collects
//! events, waits for their first collection, then samples PostgreSQL every few seconds:
//! the share of accounts collected within the last interval (coverage), the oldest
//! collection (lag), and events stored per second. Reads go straight to the database
//! (read-only), so measuring adds no API traffic.

use std::time::{Duration, Instant};

use anyhow::Context;
use futures::StreamExt;
use serde::Serialize;
use serde_json::{json, Value};
use sqlx::PgPool;

/// What to run.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Base URL of the API.
    pub base: String,
    /// DeveloperKey that creates the application.
    pub developer_key: String,
    /// The fake upstream's URL (accounts are `s3_compatible` on it).
    pub upstream: String,
    /// Accounts to connect.
    pub accounts: usize,
    /// Imports in flight at once.
    pub connect_concurrency: usize,
    /// The collection interval Cloudbridge runs with (`events.interval_secs`).
    pub interval: Duration,
    /// How long to measure once every account has been collected.
    pub duration: Duration,
    /// Time between samples.
    pub every: Duration,
}

/// One sample of the collection state.
#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    /// Seconds since measuring began.
    pub at_secs: f64,
    /// Accounts collected within the last interval (plus one sampling period).
    pub covered: i64,
    /// Accounts that collect.
    pub accounts: i64,
    /// Seconds since the least recently collected account was collected.
    pub max_lag_secs: f64,
    /// Events stored per second since the previous sample.
    pub events_per_sec: f64,
    /// Collections that failed last time.
    pub failing: i64,
}

/// The benchmark's result.
#[derive(Debug, Clone, Serialize)]
pub struct Result {
    /// Accounts connected.
    pub accounts: usize,
    /// Seconds spent connecting them.
    pub connect_secs: f64,
    /// Seconds from the last connection until every account had its first collection.
    pub seed_secs: f64,
    /// The samples.
    pub samples: Vec<Sample>,
}

impl Result {
    /// Lowest coverage over the samples (share of accounts, 0..1).
    pub fn min_coverage(&self) -> f64 {
        self.samples
            .iter()
            .map(|s| s.covered as f64 / s.accounts.max(1) as f64)
            .fold(1.0, f64::min)
    }

    /// Largest lag seen.
    pub fn max_lag(&self) -> f64 {
        self.samples
            .iter()
            .map(|s| s.max_lag_secs)
            .fold(0.0, f64::max)
    }

    /// Mean events per second.
    pub fn mean_events_per_sec(&self) -> f64 {
        let n = self.samples.len().max(1) as f64;
        self.samples.iter().map(|s| s.events_per_sec).sum::<f64>() / n
    }

    /// A Markdown report.
    pub fn markdown(&self, plan: &Plan) -> String {
        let mut md = format!(
            "# Event collection: {} accounts, {} s interval\n\n\
             | measure | value |\n|---|---:|\n\
             | accounts connected | {} |\n| connecting | {:.1} s |\n\
             | first collection of all | {:.1} s |\n\
             | lowest coverage (collected within the interval) | {:.2}% |\n\
             | largest lag | {:.1} s |\n| events stored | {:.0}/s |\n\n\
             | t (s) | covered | accounts | max lag (s) | events/s | failing |\n\
             |---:|---:|---:|---:|---:|---:|\n",
            self.accounts,
            plan.interval.as_secs(),
            self.accounts,
            self.connect_secs,
            self.seed_secs,
            self.min_coverage() * 100.0,
            self.max_lag(),
            self.mean_events_per_sec(),
        );
        for s in &self.samples {
            md.push_str(&format!(
                "| {:.0} | {} | {} | {:.1} | {:.0} | {} |\n",
                s.at_secs, s.covered, s.accounts, s.max_lag_secs, s.events_per_sec, s.failing
            ));
        }
        md
    }
}

/// Runs the benchmark.
pub async fn run(plan: &Plan, db: &PgPool) -> anyhow::Result<Result> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(1024)
        .build()?;
    let key = collecting_app(&client, plan).await?;
    let started = Instant::now();
    connect(&client, plan, &key).await?;
    let connect_secs = started.elapsed().as_secs_f64();
    eprintln!(
        "connected {} accounts in {connect_secs:.1} s",
        plan.accounts
    );

    let seeding = Instant::now();
    loop {
        let (seeded, total): (i64, i64) =
            sqlx::query_as("SELECT count(*) FILTER (WHERE seeded), count(*) FROM event_feeds")
                .fetch_one(db)
                .await?;
        if seeded >= total && total as usize >= plan.accounts {
            break;
        }
        eprintln!("first collections: {seeded}/{total}");
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let seed_secs = seeding.elapsed().as_secs_f64();

    let measuring = Instant::now();
    let mut samples = Vec::new();
    let mut last_events = events_so_far(db).await?;
    let mut last_at = Instant::now();
    while measuring.elapsed() < plan.duration {
        tokio::time::sleep(plan.every).await;
        let window = (plan.interval + plan.every).as_secs_f64();
        let (covered, accounts, lag, failing): (i64, i64, f64, i64) = sqlx::query_as(
            "SELECT count(*) FILTER (WHERE last_collected_at > now() - make_interval(secs => $1)),
                    count(*),
                    COALESCE(EXTRACT(EPOCH FROM now() - min(last_collected_at))::float8, 0),
                    count(*) FILTER (WHERE last_error IS NOT NULL)
               FROM event_feeds",
        )
        .bind(window)
        .fetch_one(db)
        .await?;
        let events = events_so_far(db).await?;
        let rate = (events - last_events) as f64 / last_at.elapsed().as_secs_f64();
        (last_events, last_at) = (events, Instant::now());
        let sample = Sample {
            at_secs: measuring.elapsed().as_secs_f64(),
            covered,
            accounts,
            max_lag_secs: lag,
            events_per_sec: rate,
            failing,
        };
        eprintln!("{sample:?}");
        samples.push(sample);
    }
    Ok(Result {
        accounts: plan.accounts,
        connect_secs,
        seed_secs,
        samples,
    })
}

/// Events stored so far: rows, not the highest id (a rolled-back collection burns ids,
/// and ids commit out of order). A count a sample is cheap at the bench's sizes.
async fn events_so_far(db: &PgPool) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(db)
        .await?)
}

/// Creates an application that collects events; returns its API key.
async fn collecting_app(client: &reqwest::Client, plan: &Plan) -> anyhow::Result<String> {
    let app: Value = client
        .post(format!("{}/v1/applications", plan.base))
        .header(
            "Authorization",
            format!("DeveloperKey {}", plan.developer_key),
        )
        .json(&json!({"name": "collection-bench", "events_grant_enabled": true}))
        .send()
        .await?
        .error_for_status()
        .context("creating the application (is the DeveloperKey right?)")?
        .json()
        .await?;
    Ok(app["api_key"].as_str().context("api_key")?.to_string())
}

/// Connects the accounts, `connect_concurrency` at a time.
async fn connect(client: &reqwest::Client, plan: &Plan, key: &str) -> anyhow::Result<()> {
    let auth = format!("APIKey {key}");
    let mut imports = futures::stream::iter(0..plan.accounts)
        .map(|n| {
            let body = json!({
                "account": format!("collect{n}"), "service": "s3_compatible",
                "endpoint": plan.upstream, "bucket": "load", "region": "us-east-1",
                "token": "load", "token_secret": "load",
            });
            let request = client
                .post(format!("{}/v1/accounts", plan.base))
                .header("Authorization", &auth)
                .json(&body)
                .send();
            async move { request.await?.error_for_status().map(|_| ()) }
        })
        .buffer_unordered(plan.connect_concurrency.max(1));
    let mut done = 0;
    while let Some(result) = imports.next().await {
        result.context("connecting an account")?;
        done += 1;
        if done % 5000 == 0 {
            eprintln!("connected {done}/{}", plan.accounts);
        }
    }
    Ok(())
}
