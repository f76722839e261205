//! `cloudbridge-collect-bench`: how many accounts a running Cloudbridge keeps collected
//! within its event collection interval (see `cloudbridge_loadtest::collection`).

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::{path::PathBuf, time::Duration};

use clap::Parser;
use cloudbridge_loadtest::collection::{self, Plan};

/// Command line.
#[derive(Debug, Parser)]
#[command(about = "Connect many accounts and measure how well their events are collected")]
struct Args {
    /// Base URL of the API.
    #[arg(long, default_value = "http://127.0.0.1:8000")]
    base_url: String,
    /// A DeveloperKey.
    #[arg(long, env = "LOADTEST_DEVELOPER_KEY")]
    developer_key: String,
    /// The fake upstream (`cloudbridge-fake-upstream`) the accounts live on.
    #[arg(long)]
    upstream: String,
    /// Cloudbridge's database (read-only use: sampling the collection state).
    #[arg(long, env = "DATABASE_URL")]
    database_url: String,
    /// Accounts to connect.
    #[arg(long, default_value_t = 50_000)]
    accounts: usize,
    /// Imports in flight at once.
    #[arg(long, default_value_t = 64)]
    connect_concurrency: usize,
    /// The collection interval Cloudbridge runs with.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    interval: Duration,
    /// How long to measure after the first collection of every account.
    #[arg(long, default_value = "180s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// Time between samples.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    every: Duration,
    /// Where to write `report.md` and `report.json`.
    #[arg(long, default_value = "loadtest-report/collection")]
    out: PathBuf,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let plan = Plan {
        base: args.base_url.trim_end_matches('/').to_string(),
        developer_key: args.developer_key,
        upstream: args.upstream,
        accounts: args.accounts,
        connect_concurrency: args.connect_concurrency,
        interval: args.interval,
        duration: args.duration,
        every: args.every,
    };
    let db = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect(&args.database_url)
        .await?;
    let result = collection::run(&plan, &db).await?;
    std::fs::create_dir_all(&args.out)?;
    let md = result.markdown(&plan);
    std::fs::write(args.out.join("report.md"), &md)?;
    std::fs::write(
        args.out.join("report.json"),
        serde_json::to_string_pretty(&result)?,
    )?;
    println!("{md}");
    Ok(())
}
