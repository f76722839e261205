//! Cross-cutting layers: request ids and Kloudless error bodies, the in-flight limit,
//! and HTTP metrics.

use std::{sync::Arc, time::Instant};

use axum::{
    body::Body,
    extract::{MatchedPath, Request, State},
    http::{header, HeaderValue},
    middleware::Next,
    response::{IntoResponse, Response},
};
use cloudbridge_shared::{request_id, telemetry::names, ApiError};
use tokio::sync::Semaphore;

/// Marks a response mirrored from a service (pass-through): its errors are not ours to
/// rewrite.
#[derive(Clone, Copy, Debug)]
pub struct Mirrored;

/// Gives each request an id (in logs, replies and error bodies, and `X-Request-Id`), and
/// turns any error response that is not already a Kloudless error (405 from routing,
/// 413 from a body limit…) into one.
pub async fn request_context(req: Request, next: Next) -> Response {
    let id = uuid::Uuid::new_v4().to_string();
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %req.method(),
        path = %req.uri().path()
    );
    let raw_data = req
        .headers()
        .get("x-kloudless-raw-data")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"true"));
    let mut response = request_id::scope(id.clone(), async move {
        let served = crate::wire::with_raw_data(raw_data, next.run(req));
        let response = tracing::Instrument::instrument(served, span).await;
        let status = response.status();
        // JSON errors are ours already; HTML pages (shared links) are meant for people.
        // A pass-through answer is the service's own, whatever its status.
        let deliberate = response.extensions().get::<Mirrored>().is_some()
            || response
                .headers()
                .get(header::CONTENT_TYPE)
                .is_some_and(|v| v == "application/json" || v.as_bytes().starts_with(b"text/html"));
        if (status.is_client_error() || status.is_server_error()) && !deliberate {
            let (code, message) = match status.as_u16() {
                404 => ("not_found", "Not found."),
                405 => ("method_not_allowed", "Method not allowed."),
                406 => ("not_acceptable", "Not acceptable."),
                413 => ("request_too_large", "The request body is too large."),
                415 => ("unsupported_media_type", "Unsupported media type."),
                s if s < 500 => ("bad_request", "Bad request."),
                _ => ("internal_error", "An internal error occurred."),
            };
            return ApiError::new(status.as_u16(), code, message).into_response();
        }
        response
    })
    .await;
    if let Ok(v) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", v);
    }
    response
}

/// Refuses a request whose request line and headers together exceed `limit` bytes (as sent:
/// names, values, separators) with 431 `request_header_fields_too_large`.
///
/// Heads larger than hyper's read buffer never get here: hyper answers them 431 itself,
/// without a body. Its default buffer is about 400 KiB; the listener raises it to 2 MiB
/// (`http1().max_buf_size`), so that only heads beyond that are hyper's.
pub async fn header_limit(State(limit): State<usize>, req: Request, next: Next) -> Response {
    let line = req.method().as_str().len() + req.uri().to_string().len() + 12;
    let headers: usize = req
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    if line + headers > limit {
        return ApiError::new(
            431,
            "request_header_fields_too_large",
            format!("The request line and headers exceed {limit} bytes."),
        )
        .into_response();
    }
    next.run(req).await
}

/// At most `limit` requests in flight in this process; beyond, 503 + `Retry-After` at once.
pub async fn in_flight_limit(
    State(slots): State<Arc<Semaphore>>,
    req: Request,
    next: Next,
) -> Response {
    let exempt = matches!(req.uri().path(), "/health" | "/ready" | "/metrics");
    if exempt {
        return next.run(req).await;
    }
    match slots.clone().try_acquire_owned() {
        Ok(permit) => {
            let _slot = InFlight::enter(permit);
            next.run(req).await
        }
        Err(_) => {
            metrics::counter!(names::HTTP_SHED, "reason" => "in_flight").increment(1);
            ApiError::overloaded("Too many requests in flight; retry shortly.", 1).into_response()
        }
    }
}

/// Counts requests and records latency by route template (never the raw path).
pub async fn http_metrics(req: Request<Body>, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let method = req.method().to_string();
    let started = Instant::now();
    let response = next.run(req).await;
    let status = format!("{}xx", response.status().as_u16() / 100);
    metrics::counter!(names::HTTP_REQUESTS, "route" => route.clone(), "method" => method.clone(), "status" => status)
        .increment(1);
    metrics::histogram!(names::HTTP_LATENCY, "route" => route, "method" => method)
        .record(started.elapsed().as_secs_f64());
    response
}

/// Registers this process's counters and gauges at zero, so that a dashboard or an alert
/// sees `0` (and `rate()` sees the first increment) before anything happened.
pub fn register_metrics() {
    for reason in ["in_flight", "backlog", "no_reply_channel"] {
        metrics::counter!(names::HTTP_SHED, "reason" => reason).increment(0);
    }
    metrics::counter!(names::ORPHAN_REPLIES).increment(0);
    for outcome in cloudbridge_shared::telemetry::DROP_UPLOAD_OUTCOMES {
        if outcome != "expired" {
            metrics::counter!(names::DROP_UPLOADS, "outcome" => outcome).increment(0);
        }
    }
    metrics::gauge!(names::HTTP_IN_FLIGHT).increment(0.0);
    metrics::gauge!(names::PENDING_REPLIES).increment(0.0);
}

/// One occupied slot; frees it and updates the gauge even if the request is dropped.
struct InFlight(#[allow(dead_code)] tokio::sync::OwnedSemaphorePermit);

impl InFlight {
    fn enter(permit: tokio::sync::OwnedSemaphorePermit) -> Self {
        metrics::gauge!(names::HTTP_IN_FLIGHT).increment(1.0);
        Self(permit)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        metrics::gauge!(names::HTTP_IN_FLIGHT).decrement(1.0);
    }
}
