//! Management API: an application's usage by day (DeveloperKey),
//! `GET /v1/applications/{app}/usage`, from the rollup the processes write in batches
//! (`cloudbridge_shared::usage`). Not part of Kloudless v1. The portal's Usage tab shows
//! the same [`application_usage`].

use std::collections::{BTreeMap, HashMap};

use axum::extract::State;
use chrono::{Days, NaiveDate, Utc};
use cloudbridge_shared::{
    db,
    usage::{Metric, STATUS_CLASSES},
    ApiError,
};
use serde_json::{json, Map, Value};

use crate::{
    auth::Developer,
    extract::{Json, Path, Query},
    AppState,
};

/// Days shown unless asked otherwise.
pub const DEFAULT_DAYS: u32 = 30;
/// Labels always shown for these metrics (in this order), counted or not.
const DELIVERY_OUTCOMES: [&str; 3] = ["ok", "retry", "dead"];

/// An application's usage over consecutive days (UTC), the last one today.
pub struct Report {
    /// Every day of the report, oldest first.
    pub days: Vec<NaiveDate>,
    /// One entry per metric, in [`Metric::ALL`]'s order.
    pub metrics: Vec<MetricSeries>,
}

/// One metric's counts by label and day.
pub struct MetricSeries {
    /// What was counted.
    pub metric: Metric,
    /// One entry per label: status classes and outcomes in a fixed order, services by name.
    pub labels: Vec<LabelSeries>,
}

/// One label's count on each day of the report.
pub struct LabelSeries {
    /// Status class, service or outcome.
    pub label: String,
    /// One count per day of [`Report::days`].
    pub counts: Vec<u64>,
}

impl MetricSeries {
    /// Everything counted on day `i` of the report.
    pub fn day_total(&self, i: usize) -> u64 {
        self.labels.iter().map(|l| l.counts[i]).sum()
    }

    /// Everything counted in the report.
    pub fn total(&self) -> u64 {
        self.labels.iter().flat_map(|l| &l.counts).sum()
    }
}

/// The usage of developer `dev`'s application `app` over the last `days` days (1 to
/// `usage.keep_days`, today included); another developer's application is not found.
pub(crate) async fn application_usage(
    state: &AppState,
    dev: i64,
    app: &str,
    days: u32,
) -> Result<Report, ApiError> {
    let keep = state.settings.usage.keep_days.max(1);
    if days == 0 || days > keep {
        return Err(ApiError::invalid_parameters(format!(
            "`days` must be between 1 and {keep}."
        )));
    }
    super::applications::owned(state, dev, app).await?;
    let today = Utc::now().date_naive();
    let from = today - Days::new(u64::from(days - 1));
    let rows = db::usage::since(&state.db, app, from).await?;
    Ok(report(from, days, &rows))
}

/// Shapes `rows` into a report of `days` days from `from`.
fn report(from: NaiveDate, days: u32, rows: &[db::usage::Daily]) -> Report {
    let days: Vec<NaiveDate> = (0..days).map(|i| from + Days::new(u64::from(i))).collect();
    let mut found: HashMap<Metric, BTreeMap<&str, Vec<u64>>> = HashMap::new();
    for row in rows {
        let (Some(metric), Ok(offset)) = (
            Metric::parse(&row.metric),
            usize::try_from((row.day - from).num_days()),
        ) else {
            continue;
        };
        if offset >= days.len() {
            continue;
        }
        let counts = found
            .entry(metric)
            .or_default()
            .entry(row.label.as_str())
            .or_insert_with(|| vec![0; days.len()]);
        counts[offset] += u64::try_from(row.count).unwrap_or(0);
    }
    let metrics = Metric::ALL
        .into_iter()
        .map(|metric| {
            let mut by_label = found.remove(&metric).unwrap_or_default();
            let fixed: &[&str] = match metric {
                Metric::Requests => &STATUS_CLASSES,
                Metric::Deliveries => &DELIVERY_OUTCOMES,
                Metric::UpstreamErrors | Metric::Events => &[],
            };
            let mut labels: Vec<LabelSeries> = fixed
                .iter()
                .map(|label| LabelSeries {
                    label: label.to_string(),
                    counts: by_label
                        .remove(label)
                        .unwrap_or_else(|| vec![0; days.len()]),
                })
                .collect();
            labels.extend(by_label.into_iter().map(|(label, counts)| LabelSeries {
                label: label.to_string(),
                counts,
            }));
            MetricSeries { metric, labels }
        })
        .collect();
    Report { days, metrics }
}

/// The report as the management API answers it.
fn render(app: &str, report: &Report) -> Value {
    let mut body = Map::new();
    body.insert("application".into(), app.into());
    body.insert(
        "days".into(),
        report.days.iter().map(|d| d.to_string()).collect(),
    );
    for series in &report.metrics {
        let labels: Map<String, Value> = series
            .labels
            .iter()
            .map(|l| (l.label.clone(), json!(l.counts)))
            .collect();
        body.insert(series.metric.as_str().into(), Value::Object(labels));
    }
    body.insert("type".into(), "usage".into());
    Value::Object(body)
}

/// `GET /v1/applications/{app}/usage?days=30`
#[utoipa::path(
    get,
    path = "/applications/{app}/usage",
    tag = "management",
    summary = "Get an application's usage",
    description = "Counts per day (UTC, oldest first, today last): `requests` by status class, \
        `upstream_errors` and `events` by service, `webhook_deliveries` by outcome (`ok`, \
        `retry`, `dead`). Each process writes its counts every `usage.flush_ms`, so the last \
        few seconds may not show yet.",
    params(
        ("app" = String, Path, description = "Application id."),
        ("days" = Option<u32>, Query, minimum = 1, description = "Days, today included (default 30, at most `usage.keep_days`)."),
    ),
    responses(
        (status = 200, description = "The application's usage.", body = crate::contract::JsonObject),
        crate::contract::Errors,
    ),
    security(("developer_key" = [])),
)]
pub async fn get(
    State(state): State<AppState>,
    Developer(dev): Developer,
    Path(app): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let days = match q.get("days") {
        None => DEFAULT_DAYS,
        Some(raw) => raw
            .parse()
            .map_err(|_| ApiError::invalid_parameters("`days` must be a whole number."))?,
    };
    let report = application_usage(&state, dev, &app, days).await?;
    Ok(Json(render(&app, &report)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(day: NaiveDate, metric: &str, label: &str, count: i64) -> db::usage::Daily {
        db::usage::Daily {
            day,
            metric: metric.into(),
            label: label.into(),
            count,
        }
    }

    #[test]
    fn rows_become_one_count_per_label_and_day() {
        let from = NaiveDate::from_ymd_opt(2026, 11, 30).unwrap();
        let day = |n| from + Days::new(n);
        let r = report(
            from,
            3,
            &[
                row(day(0), "requests", "2xx", 5),
                row(day(2), "requests", "4xx", 1),
                row(day(1), "upstream_errors", "s3", 2),
                row(day(1), "upstream_errors", "gdrive", 1),
                row(day(3), "events", "local", 9),
                row(day(1), "unknown", "x", 1),
            ],
        );
        assert_eq!(r.days, vec![day(0), day(1), day(2)]);
        let requests = &r.metrics[0];
        assert_eq!(requests.metric, Metric::Requests);
        let labels: Vec<_> = requests.labels.iter().map(|l| l.label.as_str()).collect();
        assert_eq!(labels, STATUS_CLASSES);
        assert_eq!(requests.labels[0].counts, vec![5, 0, 0]);
        assert_eq!(requests.labels[2].counts, vec![0, 0, 1]);
        assert_eq!((requests.day_total(0), requests.total()), (5, 6));
        let errors = &r.metrics[1];
        let labels: Vec<_> = errors.labels.iter().map(|l| l.label.as_str()).collect();
        assert_eq!(labels, ["gdrive", "s3"], "services by name");
        assert!(r.metrics[2].labels.is_empty(), "outside the days");
        assert_eq!(r.metrics[3].labels.len(), 3, "outcomes always shown");
        assert_eq!(r.metrics[3].total(), 0);
    }
}
