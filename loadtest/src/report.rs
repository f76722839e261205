//! Results of one run: a latency histogram, errors by code, a per-second timeline with
//! each second's own percentiles (a stall shows as one bad second, not a blurred p99).

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
    per_second: BTreeMap<u64, Second>,
    ok: u64,
}

/// What finished within one second of the run.
#[derive(Default)]
struct Second {
    ok: u64,
    errors: u64,
    /// Latencies in microseconds (4 bytes a request: a 30-minute soak at 1,000 req/s
    /// keeps 7 MB).
    micros: Vec<u32>,
}

impl Second {
    fn point(&mut self, second: u64) -> Point {
        self.micros.sort_unstable();
        let at = |q: f64| {
            let n = self.micros.len();
            if n == 0 {
                return 0.0;
            }
            // Nearest rank: the smallest value with at least q of the samples at or below it.
            let rank = ((q * n as f64).ceil() as usize).clamp(1, n);
            self.micros[rank - 1] as f64 / 1000.0
        };
        Point {
            second,
            ok: self.ok,
            errors: self.errors,
            p50_ms: at(0.50),
            p99_ms: at(0.99),
            max_ms: at(1.0),
        }
    }
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
        slot.micros.push(micros.min(u32::MAX as u64) as u32);
        match s.status {
            Some(code) if (200..300).contains(&code) => {
                self.ok += 1;
                slot.ok += 1;
            }
            other => {
                let key = match (other, &s.error_code) {
                    (Some(code), Some(e)) => format!("{code} {e}"),
                    (Some(code), None) => code.to_string(),
                    (None, _) => "transport".to_string(),
                };
                *self.errors.entry(key).or_default() += 1;
                slot.errors += 1;
            }
        }
    }

    /// The summary of the run.
    pub fn summary(&mut self, name: &str, elapsed: Duration) -> Summary {
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
                .iter_mut()
                .map(|(s, second)| second.point(*s))
                .collect(),
            upstream_lists: None,
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
    /// One point per second of the run, by when requests finished.
    pub timeline: Vec<Point>,
    /// Listing calls the fake upstream answered per request (`--upstream` runs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream_lists: Option<f64>,
}

/// The requests that finished within one second of the run.
#[derive(Debug, Clone, Serialize)]
pub struct Point {
    /// Seconds since measuring started.
    pub second: u64,
    /// 2xx answers.
    pub ok: u64,
    /// Other answers, transport errors and dropped sends.
    pub errors: u64,
    /// Median latency of the second (ms).
    pub p50_ms: f64,
    /// 99th percentile of the second.
    pub p99_ms: f64,
    /// Slowest of the second.
    pub max_ms: f64,
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
    let calls: Vec<String> = runs
        .iter()
        .filter_map(|r| Some(format!("{} {:.2}", r.name, r.upstream_lists?)))
        .collect();
    if !calls.is_empty() {
        out.push_str(&format!(
            "\nListing calls the upstream answered per request: {}.\n",
            calls.join(", ")
        ));
    }
    for r in runs {
        out.push_str(&format!(
            "\n## {} — per second\n\n| s | ok | errors | p50 ms | p99 ms | max ms |\n|---:|---:|---:|---:|---:|---:|\n",
            r.name
        ));
        for p in &r.timeline {
            out.push_str(&format!(
                "| {} | {} | {} | {:.2} | {:.2} | {:.2} |\n",
                p.second, p.ok, p.errors, p.p50_ms, p.p99_ms, p.max_ms
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(at: f64, ms: u64, status: u16) -> Sample {
        Sample {
            at,
            latency: Duration::from_millis(ms),
            status: Some(status),
            error_code: None,
        }
    }

    #[test]
    fn each_second_has_its_own_percentiles() {
        let mut r = Recorder::default();
        // Second 0: 99 fast answers and one slow error; second 1: 100 at 5 ms.
        for i in 0..99 {
            r.record(&sample(i as f64 / 100.0, 2, 200));
        }
        r.record(&sample(0.995, 80, 500));
        for i in 0..100 {
            r.record(&sample(1.0 + i as f64 / 100.0, 5, 200));
        }
        let s = r.summary("x", Duration::from_secs(2));
        assert_eq!(s.requests, 200);
        assert_eq!(s.ok, 199);
        assert_eq!(s.errors.get("500"), Some(&1));
        let (first, second) = (&s.timeline[0], &s.timeline[1]);
        assert_eq!((first.second, first.ok, first.errors), (0, 99, 1));
        assert_eq!((first.p50_ms, first.p99_ms, first.max_ms), (2.0, 2.0, 80.0));
        assert_eq!((second.second, second.ok, second.errors), (1, 100, 0));
        assert_eq!(
            (second.p50_ms, second.p99_ms, second.max_ms),
            (5.0, 5.0, 5.0)
        );
        // The run's own p99.9 sees the slow answer.
        assert!(s.p999_ms >= 79.0, "{}", s.p999_ms);
    }
}
