//! Metrics of the calls workers make to third-party services: one count and one duration
//! per connector operation, labelled by the account's service, the op, the status class
//! of the answer (`2xx`, `4xx`, `5xx`) and the outcome (`ok` or the Kloudless
//! `error_code` the connector answered with, a small fixed set). A failure on the
//! service's side is also counted in the account's application's usage, by service.

use std::time::Duration;

use cloudbridge_shared::{
    protocol::{AccountRef, Outcome},
    telemetry::names,
    usage::{is_upstream_error, Metric, Usage},
    ApiError,
};

/// Records one finished call of `op` to `account`'s service that took `elapsed`.
pub fn record(
    usage: &Usage,
    account: &AccountRef,
    op: &'static str,
    elapsed: Duration,
    result: &Result<Outcome, ApiError>,
) {
    let service = account.service.as_str();
    if let Err(e) = result {
        if is_upstream_error(e) && !account.application.is_empty() {
            usage.add(&account.application, Metric::UpstreamErrors, service, 1);
        }
    }
    let (status, outcome) = match result {
        Ok(_) => ("2xx", "ok".to_string()),
        Err(e) if e.status >= 500 => ("5xx", e.code.clone()),
        Err(e) => ("4xx", e.code.clone()),
    };
    let service = service.to_string();
    metrics::counter!(
        names::UPSTREAM_CALLS,
        "service" => service.clone(),
        "op" => op,
        "status" => status,
        "outcome" => outcome
    )
    .increment(1);
    metrics::histogram!(names::UPSTREAM_LATENCY, "service" => service, "op" => op)
        .record(elapsed.as_secs_f64());
}
