//! Operations endpoints: liveness, readiness, metrics.

use axum::{extract::State, http::StatusCode, response::IntoResponse, Json};
use serde_json::json;

use crate::AppState;

/// Liveness: the process serves HTTP.
pub async fn health() -> impl IntoResponse {
    Json(json!({"status": "ok"}))
}

/// Readiness: PostgreSQL answers, Redis answers and the reply channel is subscribed.
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
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    state.metrics.render()
}
