//! `cloudbridge-loadtest`: run scenarios against a running Cloudbridge and write a report.

/// mimalloc: glibc malloc showed up at the top of request-path profiles.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::{path::PathBuf, time::Duration};

use clap::Parser;
use cloudbridge_loadtest::{
    generator::{self, Load},
    report::{self, Summary},
    scenario::{Fixture, Https, Kind, Service},
};

/// Command line.
#[derive(Debug, Parser)]
#[command(about = "Load-test a running Cloudbridge; the no-op queue round trip is the baseline")]
struct Args {
    /// Base URL of the API.
    #[arg(long, default_value = "http://127.0.0.1:8000")]
    base_url: String,
    /// A DeveloperKey (set-up creates an application and accounts with it).
    #[arg(long, env = "LOADTEST_DEVELOPER_KEY")]
    developer_key: String,
    /// Scenarios to run, in order, after the baseline.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "metadata")]
    scenarios: Vec<Kind>,
    /// Closed loop: simultaneous clients.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Open loop: requests per second (overrides --concurrency).
    #[arg(long)]
    rate: Option<f64>,
    /// Measured duration of each run (e.g. `30s`, `30m` for a soak).
    #[arg(long, default_value = "20s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// Warm-up before measuring each run.
    #[arg(long, default_value = "3s", value_parser = humantime::parse_duration)]
    warmup: Duration,
    /// Accounts the requests are spread over.
    #[arg(long, default_value_t = 10)]
    accounts: usize,
    /// Size of seeded and uploaded files, bytes.
    #[arg(long, default_value_t = 1024)]
    file_size: usize,
    /// Skip the baseline run.
    #[arg(long)]
    no_baseline: bool,
    /// Put the accounts on a fake S3-compatible upstream at this URL
    /// (`cloudbridge-fake-upstream`) instead of `local`; enables the `direct` scenario.
    #[arg(long)]
    upstream: Option<String>,
    /// The API's HTTPS base URL, for `metadata-https` (the API must trust this machine as a
    /// proxy, `api.trusted_proxies`, so that the plain port serves the other scenarios).
    #[arg(long, requires = "ca_cert")]
    https_url: Option<String>,
    /// PEM of the CA (or self-signed certificate) the HTTPS certificate is checked against.
    #[arg(long)]
    ca_cert: Option<PathBuf>,
    /// Entries the walk scenarios must find in the root folder (the fake upstream's
    /// `--listed`).
    #[arg(long, default_value_t = 10_000)]
    walk_entries: usize,
    /// Where to write `report.md` and `report.json`.
    #[arg(long, default_value = "loadtest-report")]
    out: PathBuf,
}

/// Listing calls the fake upstream at `upstream` has answered (S3 and Box together),
/// `None` without one.
async fn upstream_calls(upstream: Option<&str>) -> Option<u64> {
    let stats: serde_json::Value = reqwest::get(format!("{}/_stats", upstream?))
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    Some(
        stats["s3_lists"].as_u64()?
            + stats["box_lists"].as_u64()?
            + stats["box_folders"].as_u64()?,
    )
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let fixture = Fixture::prepare(
        &args.base_url,
        &args.developer_key,
        match &args.upstream {
            Some(url) => Service::Upstream {
                url: url.clone(),
                listed: args.walk_entries,
            },
            None => Service::Local,
        },
        args.accounts,
        args.file_size,
        args.scenarios.iter().any(|k| k.uses_box()),
        match (&args.https_url, &args.ca_cert) {
            (Some(base), Some(ca)) => Some(Https {
                base: base.clone(),
                ca_pem: std::fs::read(ca)
                    .map_err(|e| anyhow::anyhow!("reading {}: {e}", ca.display()))?,
            }),
            _ => None,
        },
    )
    .await?;
    let load = match args.rate {
        Some(rate) => Load::Open {
            rate,
            max_in_flight: 20_000,
        },
        None => Load::Closed {
            concurrency: args.concurrency,
        },
    };
    let mut kinds = Vec::new();
    if !args.no_baseline {
        kinds.push(Kind::Ping);
        if args.upstream.is_some() {
            kinds.push(Kind::Direct);
        }
        if args.scenarios.contains(&Kind::Passthrough) {
            kinds.push(Kind::DirectRaw);
        }
    }
    kinds.extend(args.scenarios.iter().copied());
    let mut runs: Vec<Summary> = Vec::new();
    for kind in kinds {
        let f = fixture.clone();
        let calls_before = upstream_calls(args.upstream.as_deref()).await;
        let (mut recorder, elapsed, made) =
            generator::run(load, args.warmup, args.duration, move |i| {
                let f = f.clone();
                async move { f.request(kind, i).await }
            })
            .await;
        let name = format!("{kind:?}").to_lowercase();
        let mut summary = recorder.summary(&name, elapsed);
        // Listing calls the upstream answered per iteration (warm-up included in neither).
        if let (Some(before), Some(after)) =
            (calls_before, upstream_calls(args.upstream.as_deref()).await)
        {
            summary.upstream_lists = Some(after.saturating_sub(before) as f64 / made.max(1) as f64);
        }
        let worst = summary
            .timeline
            .iter()
            .max_by(|a, b| a.p99_ms.total_cmp(&b.p99_ms))
            .map_or(String::new(), |p| {
                format!(" (worst second: {}s, p99 {:.2} ms)", p.second, p.p99_ms)
            });
        eprintln!(
            "{name}: {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms{worst}, errors {:?}",
            summary.throughput, summary.p50_ms, summary.p99_ms, summary.errors
        );
        runs.push(summary);
    }
    let title = match load {
        Load::Open { rate, .. } => format!("Cloudbridge load test — open loop, {rate} req/s"),
        Load::Closed { concurrency } => {
            format!("Cloudbridge load test — closed loop, {concurrency} clients")
        }
    };
    std::fs::create_dir_all(&args.out)?;
    std::fs::write(args.out.join("report.md"), report::markdown(&title, &runs))?;
    std::fs::write(
        args.out.join("report.json"),
        serde_json::to_string_pretty(&runs)?,
    )?;
    let markdown = report::markdown(&title, &runs);
    let table: Vec<&str> = markdown
        .lines()
        .take_while(|l| !l.starts_with("## "))
        .collect();
    println!("{}", table.join("\n").trim_end());
    Ok(())
}
