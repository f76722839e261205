//! Management API: `/v1/applications/{app}/apikeys` (DeveloperKey).

use axum::{extract::State, http::StatusCode, response::IntoResponse};
use cloudbridge_shared::{db, ApiError};
use serde_json::Value;
use std::collections::HashMap;

use super::applications::owned;
use crate::{
    auth::Developer,
    extract::{Json, Paging, Path, Query},
    wire, AppState,
};

/// `GET /v1/applications/{app}/apikeys`
#[utoipa::path(
    get,
    path = "/applications/{app}/apikeys",
    tag = "management",
    summary = "List API keys",
    operation_id = "api_keys_list",
    params(
        ("app" = String, Path, description = "Application id."),
        ("page" = Option<u32>, Query, minimum = 1, description = "1-based page."),
        ("page_size" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "Items per page (at most 1000)."),
    ),
    responses(
        (status = 200, description = "The application's API keys (masked).", body = crate::contract::ObjectList),
        crate::contract::Errors,
    ),
    security(("developer_key" = [])),
)]
pub async fn list(
    State(state): State<AppState>,
    Developer(dev): Developer,
    Path(app): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let paging = Paging::from_query(&q)?;
    owned(&state, dev, &app).await?;
    let (keys, total) = db::api_keys::page(&state.db, &app, paging.page, paging.page_size).await?;
    let objects = keys.iter().map(|k| wire::api_key(k, None)).collect();
    Ok(Json(wire::counted("meta", objects, paging, total)?))
}

/// `POST /v1/applications/{app}/apikeys`: the key is shown in full only here.
#[utoipa::path(
    post,
    path = "/applications/{app}/apikeys",
    tag = "management",
    summary = "Create an API key",
    operation_id = "api_keys_create",
    params(
        ("app" = String, Path, description = "Application id."),
    ),
    responses(
        (status = 201, description = "The new key (shown only here).", body = crate::contract::JsonObject),
        crate::contract::Errors,
    ),
    security(("developer_key" = [])),
)]
pub async fn create(
    State(state): State<AppState>,
    Developer(dev): Developer,
    Path(app): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let (row, key) = create_key(&state, dev, &app).await?;
    Ok((StatusCode::CREATED, Json(wire::api_key(&row, Some(&key)))))
}

/// A new API key of developer `dev`'s application `app`, in clear (shown once): the one
/// rule for the management API and the portal.
pub(crate) async fn create_key(
    state: &AppState,
    dev: i64,
    app: &str,
) -> Result<(db::api_keys::ApiKey, String), ApiError> {
    owned(state, dev, app).await?;
    Ok(db::api_keys::create(&state.db, app, state.cipher.as_deref()).await?)
}

/// Revokes `key` (a key or its id) of developer `dev`'s application `app`, forgetting it
/// at once in this process.
pub(crate) async fn revoke_key(
    state: &AppState,
    dev: i64,
    app: &str,
    key: &str,
) -> Result<(), ApiError> {
    owned(state, dev, app).await?;
    if db::api_keys::delete(&state.db, app, key).await? {
        state.forget_application(app);
        Ok(())
    } else {
        Err(ApiError::not_found("No API key has this id."))
    }
}

/// `DELETE /v1/applications/{app}/apikeys/{key}` (the full key or its id).
#[utoipa::path(
    delete,
    path = "/applications/{app}/apikeys/{key}",
    tag = "management",
    summary = "Revoke an API key",
    operation_id = "api_keys_delete",
    params(
        ("app" = String, Path, description = "Application id."),
        ("key" = String, Path, description = "API key or key id."),
    ),
    responses(
        (status = 204, description = "Revoked."),
        crate::contract::Errors,
    ),
    security(("developer_key" = [])),
)]
pub async fn delete(
    State(state): State<AppState>,
    Developer(dev): Developer,
    Path((app, key)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    revoke_key(&state, dev, &app, &key).await?;
    Ok(StatusCode::NO_CONTENT)
}
