//! The operator's view (`ops/`, `docker-compose.yml`): every metric that the Grafana
//! dashboards and the Prometheus alert rules query is exported by the real processes, and
//! Prometheus scrapes every compose service on the port it serves `/metrics` on.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use cloudbridge_shared::Settings;
use serde_json::{json, Value};
use serde_yaml::Value as Yaml;

use crate::helpers::{bearer, connect_account, free_port, wait_ready, Isolated, Proc};

mod promql;

/// Names a rule may query that no Cloudbridge process exports: Prometheus writes them
/// itself for every scraped target.
const WRITTEN_BY_PROMETHEUS: [&str; 1] = ["up"];

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn yaml(path: &Path) -> Yaml {
    serde_yaml::from_str(&read(path)).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every PromQL expression of the dashboards and alert rules, with where it comes from.
fn expressions() -> Vec<(String, String)> {
    let mut found = Vec::new();
    let dashboards = repo().join("ops/grafana/dashboards");
    for entry in std::fs::read_dir(&dashboards).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            let dashboard: Value = serde_json::from_str(&read(&path)).unwrap();
            let file = path.file_name().unwrap().to_string_lossy().to_string();
            json_exprs(&dashboard, &file, &mut found);
        }
    }
    let rules = yaml(&repo().join("ops/prometheus/alerts.yml"));
    for group in rules["groups"].as_sequence().expect("rule groups") {
        for rule in group["rules"].as_sequence().expect("rules") {
            let name = rule["alert"].as_str().or(rule["record"].as_str());
            let expr = rule["expr"].as_str().expect("rule expr");
            found.push((format!("alerts.yml: {}", name.unwrap()), expr.to_string()));
        }
    }
    found
}

/// Collects every `"expr"` string in a Grafana dashboard (panels, rows, targets).
fn json_exprs(value: &Value, file: &str, found: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(expr)) = map.get("expr") {
                found.push((file.to_string(), expr.clone()));
            }
            map.values().for_each(|v| json_exprs(v, file, found));
        }
        Value::Array(items) => items.iter().for_each(|v| json_exprs(v, file, found)),
        _ => {}
    }
}

/// Metric name → the dashboards and rules querying it.
fn queried_metrics() -> BTreeMap<String, BTreeSet<String>> {
    let mut metrics: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (source, expr) in expressions() {
        for name in promql::metric_names(&expr) {
            metrics.entry(name).or_default().insert(source.clone());
        }
    }
    metrics
}

/// The names of the samples in a Prometheus text exposition (not `# HELP`/`# TYPE`
/// lines: a described metric without a sample is not exported).
fn sample_names(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(str::to_string)
        .collect()
}

/// A little of everything: uploads, downloads, listings, an error.
async fn exercise(client: &reqwest::Client, base: &str, token: &str) {
    let storage = format!("{base}/v1/accounts/me/storage");
    let auth = bearer(token);
    let upload = client
        .post(format!("{storage}/files"))
        .header("Authorization", &auth)
        .header(
            "X-Kloudless-Metadata",
            json!({"name": "a.txt", "parent_id": "root"}).to_string(),
        )
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(upload.status(), 201);
    let file: Value = upload.json().await.unwrap();
    let id = file["id"].as_str().unwrap();
    for path in [
        format!("/files/{id}"),
        format!("/files/{id}/contents"),
        "/folders/root/contents".to_string(),
    ] {
        let r = client
            .get(format!("{storage}{path}"))
            .header("Authorization", &auth)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
    }
    let missing = client
        .get(format!("{storage}/files/bm9wZQ"))
        .header("Authorization", &auth)
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
}

#[tokio::test]
async fn every_metric_a_dashboard_or_alert_rule_queries_is_exported_by_the_processes() {
    let queried = queried_metrics();
    // The reading itself works: the core series are found in the files.
    for name in [
        "cloudbridge_http_requests_total",
        "cloudbridge_queue_depth",
        "cloudbridge_redis_used_memory_bytes",
        "cloudbridge_upstream_calls_total",
    ] {
        assert!(queried.contains_key(name), "{name} not read from ops/");
    }

    let iso = Isolated::new().await;
    let (api_port, jobs_port, scheduler_port) = (free_port(), free_port(), free_port());
    let bind = |port: u16| format!("127.0.0.1:{port}");
    let _api = Proc::spawn(
        "cloudbridge-api",
        &iso.settings,
        &[("CLOUDBRIDGE_API__BIND", bind(api_port))],
    );
    let _jobs = Proc::spawn(
        "cloudbridge-jobs",
        &iso.settings,
        &[("CLOUDBRIDGE_JOBS__METRICS_BIND", bind(jobs_port))],
    );
    let _scheduler = Proc::spawn(
        "cloudbridge-scheduler",
        &iso.settings,
        &[
            ("CLOUDBRIDGE_SCHEDULER__METRICS_BIND", bind(scheduler_port)),
            (
                "CLOUDBRIDGE_SCHEDULER__HOUSEKEEPING_CRON",
                "* * * * * *".into(),
            ),
            ("CLOUDBRIDGE_SCHEDULER__SAMPLE_MS", "200".into()),
        ],
    );
    let base = format!("http://{}", bind(api_port));
    let client = reqwest::Client::new();
    wait_ready(&client, &base).await;
    let token = connect_account(&client, &base, &iso.settings).await;
    exercise(&client, &base, &token).await;

    // Scrape until everything showed up (housekeeping and sampling run on their own
    // clocks), then say what is missing and who queries it.
    let endpoints =
        [api_port, jobs_port, scheduler_port].map(|p| format!("http://{}/metrics", bind(p)));
    let deadline = Instant::now() + Duration::from_secs(20);
    let missing = loop {
        let mut exported = BTreeSet::new();
        for url in &endpoints {
            if let Ok(r) = client.get(url).send().await {
                exported.extend(sample_names(&r.text().await.unwrap_or_default()));
            }
        }
        let missing: Vec<_> = queried
            .iter()
            .filter(|(name, _)| {
                !exported.contains(*name) && !WRITTEN_BY_PROMETHEUS.contains(&name.as_str())
            })
            .map(|(name, sources)| format!("{name} (queried by {sources:?})"))
            .collect();
        if missing.is_empty() || Instant::now() > deadline {
            break missing;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert!(
        missing.is_empty(),
        "queried but exported by no process:\n{}",
        missing.join("\n")
    );
}

#[test]
fn prometheus_scrapes_every_replica_of_every_process_on_its_metrics_port() {
    let defaults = Settings::default();
    let expected = [
        ("api", defaults.api.bind.port()),
        ("jobs", defaults.jobs.metrics_bind.port()),
        ("scheduler", defaults.scheduler.metrics_bind.port()),
    ];
    let compose = yaml(&repo().join("docker-compose.yml"));
    let services = compose["services"].as_mapping().expect("compose services");
    let config = yaml(&repo().join("ops/prometheus/prometheus.yml"));
    let scraped: Vec<(String, u64)> = config["scrape_configs"]
        .as_sequence()
        .unwrap()
        .iter()
        .flat_map(|job| {
            job["dns_sd_configs"]
                .as_sequence()
                .cloned()
                .unwrap_or_default()
        })
        .flat_map(|sd| {
            let port = sd["port"].as_u64().unwrap();
            let names = sd["names"].as_sequence().cloned().unwrap_or_default();
            names
                .into_iter()
                .map(move |n| (n.as_str().unwrap().to_string(), port))
        })
        .collect();
    for (service, port) in expected {
        assert!(
            services.contains_key(service),
            "{service} is not a compose service"
        );
        assert!(
            scraped.contains(&(service.to_string(), u64::from(port))),
            "Prometheus does not discover {service}:{port} by DNS: {scraped:?}"
        );
        // A fixed host port would stop `--scale` (and nginx publishes the API).
        assert!(
            services[service].get("ports").is_none(),
            "{service} publishes a host port, so it cannot be scaled"
        );
    }
    let rule_files = config["rule_files"].as_sequence().unwrap();
    assert!(rule_files.iter().any(|f| f.as_str() == Some("alerts.yml")));
    let alerting = &config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"];
    assert_eq!(
        alerting[0].as_str(),
        Some("alertmanager:9093"),
        "Prometheus sends alerts to the compose alertmanager"
    );
    for service in ["nginx", "prometheus", "alertmanager", "grafana"] {
        assert!(services.contains_key(service), "{service} missing");
    }

    // The dashboards use the datasource Grafana is provisioned with.
    let datasources = yaml(&repo().join("ops/grafana/provisioning/datasources/prometheus.yml"));
    let uid = datasources["datasources"][0]["uid"]
        .as_str()
        .unwrap()
        .to_string();
    let dashboard: Value = serde_json::from_str(&read(
        &repo().join("ops/grafana/dashboards/cloudbridge.json"),
    ))
    .unwrap();
    let mut uids = BTreeSet::new();
    datasource_uids(&dashboard, &mut uids);
    assert_eq!(uids, BTreeSet::from([uid]));
}

fn datasource_uids(value: &Value, uids: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            if let Some(uid) = map.get("datasource").and_then(|d| d["uid"].as_str()) {
                uids.insert(uid.to_string());
            }
            map.values().for_each(|v| datasource_uids(v, uids));
        }
        Value::Array(items) => items.iter().for_each(|v| datasource_uids(v, uids)),
        _ => {}
    }
}
