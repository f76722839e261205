//! Operations endpoints: liveness, readiness, metrics.

use axum::{extract::State, http::StatusCode, response::IntoResponse, Json};
use serde_json::json;

use cloudbridge_shared::{protocol::Op, ApiError, Outcome};

use crate::{auth::Developer, AppState};

/// Liveness: the process serves HTTP.
#[utoipa::path(
    get,
    path = "/health",
    tag = "operations",
    summary = "Liveness",
    operation_id = "ops_health",
    responses(
        (status = 200, description = "Alive.", body = crate::contract::JsonObject),
        crate::contract::PublicErrors,
    ),
)]
pub async fn health() -> impl IntoResponse {
    Json(json!({"status": "ok"}))
}

/// Readiness: PostgreSQL answers, Redis answers and the reply channel is subscribed.
#[utoipa::path(
    get,
    path = "/ready",
    tag = "operations",
    summary = "Readiness",
    operation_id = "ops_ready",
    responses(
        (status = 200, description = "PostgreSQL, Redis and the reply channel answer (503 with the same body otherwise).", body = crate::contract::JsonObject),
        crate::contract::PublicErrors,
    ),
)]
pub async fn ready(State(state): State<AppState>) -> impl IntoResponse {
    let postgres = sqlx::query("SELECT 1").execute(&state.db).await.is_ok();
    let mut redis = state.pipeline.redis();
    let redis = redis::cmd("PING")
        .query_async::<String>(&mut redis)
        .await
        .is_ok();
    let replies = state.pipeline.is_ready();
    let ok = postgres && redis && replies;
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({"postgres": postgres, "redis": redis, "reply_channel": replies});
    if ok {
        (status, Json(body)).into_response()
    } else {
        cloudbridge_shared::ApiError::overloaded(format!("Not ready: {body}"), 1).into_response()
    }
}

/// Prometheus exposition.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    summary = "Metrics",
    operation_id = "ops_metrics",
    responses(
        (status = 200, description = "Prometheus metrics.", content_type = "text/plain"),
        crate::contract::PublicErrors,
    ),
)]
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    state.metrics.render()
}

/// `GET /ops/ping` (DeveloperKey): a no-op job through the queue and a worker; answers
/// which worker ran it. The benchmark baseline for the pipeline's own cost, and a check
/// that workers are alive.
#[utoipa::path(
    get,
    path = "/ops/ping",
    tag = "operations",
    summary = "A job round trip",
    operation_id = "ops_ping",
    responses(
        (status = 200, description = "Which worker answered, and how fast.", body = crate::contract::JsonObject),
        crate::contract::ServiceErrors,
    ),
    security(("developer_key" = [])),
)]
pub async fn ping(
    State(state): State<AppState>,
    _: Developer,
) -> Result<Json<serde_json::Value>, ApiError> {
    let started = std::time::Instant::now();
    match state.pipeline.call(None, Op::Ping).await? {
        Outcome::Pong { worker } => Ok(Json(json!({
            "worker": worker,
            "round_trip_ms": started.elapsed().as_secs_f64() * 1000.0,
        }))),
        other => Err(ApiError::internal(format_args!(
            "unexpected outcome {other:?}"
        ))),
    }
}
