//! Results of one run: a latency histogram, errors by code, a per-second timeline.

use std::{collections::BTreeMap, time::Duration};

use hdrhistogram::Histogram;
use serde::Serialize;

/// What one request did.
#[derive(Debug, Clone)]
pub struct Sample {
    /// Seconds since the run started, when the request finished.
    pub at: f64,
    /// Latency.
    pub latency: Duration,
    /// HTTP status, or `None` for a transport error.
    pub status: Option<u16>,
    /// Kloudless `error_code` of an error answer.
    pub error_code: Option<String>,
}

/// Aggregated results of one run.
pub struct Recorder {
    histogram: Histogram<u64>,
    errors: BTreeMap<String, u64>,
    per_second: BTreeMap<u64, (u64, u64)>,
    ok: u64,
}

impl Default for Recorder {
    fn default() -> Self {
        Self {
            histogram: Histogram::new_with_bounds(1, 120_000_000, 3).expect("valid bounds"),
            errors: BTreeMap::new(),
            per_second: BTreeMap::new(),
            ok: 0,
        }
    }
}

impl Recorder {
    /// Adds one request's outcome.
    pub fn record(&mut self, s: &Sample) {
        let micros = (s.latency.as_micros() as u64).clamp(1, 120_000_000);
        self.histogram.record(micros).expect("clamped into range");
        let second = s.at as u64;
        let slot = self.per_second.entry(second).or_default();
        match s.status {
            Some(code) if (200..300).contains(&code) => {
                self.ok += 1;
                slot.0 += 1;
            }
            other => {
                let key = match (other, &s.error_code) {
                    (Some(code), Some(e)) => format!("{code} {e}"),
                    (Some(code), None) => code.to_string(),
                    (None, _) => "transport".to_string(),
                };
                *self.errors.entry(key).or_default() += 1;
                slot.1 += 1;
            }
        }
    }

    /// The summary of the run.
    pub fn summary(&self, name: &str, elapsed: Duration) -> Summary {
        let q = |p: f64| self.histogram.value_at_quantile(p) as f64 / 1000.0;
        let total = self.histogram.len();
        Summary {
            name: name.to_string(),
            requests: total,
            ok: self.ok,
            seconds: elapsed.as_secs_f64(),
            throughput: self.ok as f64 / elapsed.as_secs_f64().max(1e-9),
            p50_ms: q(0.50),
            p90_ms: q(0.90),
            p99_ms: q(0.99),
            p999_ms: q(0.999),
            max_ms: self.histogram.max() as f64 / 1000.0,
            errors: self.errors.clone(),
            timeline: self
                .per_second
                .iter()
                .map(|(s, (ok, err))| (*s, *ok, *err))
                .collect(),
        }
    }
}

/// Figures of one run.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Scenario name.
    pub name: String,
    /// Requests finished.
    pub requests: u64,
    /// Of which 2xx.
    pub ok: u64,
    /// Measured duration.
    pub seconds: f64,
    /// Successful requests per second.
    pub throughput: f64,
    /// Latency percentiles (ms).
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// 99.9th percentile.
    pub p999_ms: f64,
    /// Slowest.
    pub max_ms: f64,
    /// Non-2xx answers by `status error_code`.
    pub errors: BTreeMap<String, u64>,
    /// Per second: (second, ok, errors).
    pub timeline: Vec<(u64, u64, u64)>,
}

/// A Markdown report: one table row per summary, ratios against the first (the baseline).
pub fn markdown(title: &str, runs: &[Summary]) -> String {
    let mut out = format!("# {title}\n\n");
    out.push_str("| run | req/s | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | errors | p50 vs baseline | p50 − direct upstream |\n");
    out.push_str("|---|---:|---:|---:|---:|---:|---:|---|---:|---:|\n");
    let base = runs.first().map_or(0.0, |b| b.p50_ms);
    // With a fake upstream, what Cloudbridge adds over the same call made directly.
    let direct = runs.iter().find(|r| r.name == "direct").map(|r| r.p50_ms);
    for r in runs {
        let errors = if r.errors.is_empty() {
            "none".to_string()
        } else {
            r.errors
                .iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let ratio = if base > 0.0 {
            format!("{:.2}×", r.p50_ms / base)
        } else {
            "-".into()
        };
        let added = match direct {
            Some(d) if r.name != "direct" => format!("{:+.2} ms", r.p50_ms - d),
            _ => "-".into(),
        };
        out.push_str(&format!(
            "| {} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {} | {} | {} |\n",
            r.name,
            r.throughput,
            r.p50_ms,
            r.p90_ms,
            r.p99_ms,
            r.p999_ms,
            r.max_ms,
            errors,
            ratio,
            added
        ));
    }
    for r in runs {
        out.push_str(&format!("\n## {} — per second (ok / errors)\n\n", r.name));
        let line: Vec<String> = r
            .timeline
            .iter()
            .map(|(s, ok, e)| format!("{s}s: {ok}/{e}"))
            .collect();
        out.push_str(&line.join(", "));
        out.push('\n');
    }
    out
}
