//! Storage API: custom properties of files, kept in PostgreSQL. The file must exist on
//! its service; properties follow it when it moves and go when it is deleted.

use axum::{extract::State, http::StatusCode};
use cloudbridge_shared::{db, storage::ItemKind, ApiError};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::{
    auth::AppCaller,
    extract::{BaseUrl, Json, Path},
    routes::files::metadata,
    wire, AppState,
};

/// Most properties one change may set.
const MAX_CHANGES: usize = 100;
/// Longest key, in bytes.
const MAX_KEY: usize = 255;

/// The file's account id and the id its properties are kept by (its Kloudless id as
/// answered now), after checking the file exists. Properties kept by an id the file had
/// before (the id of its path, issued before ids were the service's own) move to it.
async fn file_account(
    state: &AppState,
    caller: &AppCaller,
    base: &str,
    ids: &(String, String),
) -> Result<(i64, String), ApiError> {
    let account = caller.account(state, &ids.0).await?;
    let Json(file) = metadata(state, caller, base, ids.clone(), ItemKind::File).await?;
    let id = file["id"].as_str().unwrap_or(&ids.1).to_string();
    let path_id = file["ids"]["path"].as_str().unwrap_or(&id);
    for earlier in [ids.1.as_str(), path_id] {
        if earlier != id {
            db::properties::rekey(&state.db, account.id, earlier, &id).await?;
        }
    }
    Ok((account.id, id))
}

async fn render(state: &AppState, account: i64, item: &str) -> Result<Json<Value>, ApiError> {
    let properties: Vec<Value> = db::properties::list(&state.db, account, item)
        .await?
        .iter()
        .map(|p| {
            json!({
                "key": p.key,
                "value": p.value,
                "created": wire::time(p.created_at),
                "modified": wire::time(p.modified_at),
            })
        })
        .collect();
    Ok(Json(json!({ "properties": properties })))
}

/// `GET /v1/accounts/{acct}/storage/files/{id}/properties`
#[utoipa::path(
    get,
    path = "/accounts/{acct}/storage/files/{id}/properties",
    tag = "storage",
    summary = "Get properties",
    operation_id = "properties_get",
    params(
        ("acct" = String, Path, description = "Account id, or `me` with a bearer token."),
        ("id" = String, Path, description = "Id of the item (`root` for the root folder)."),
    ),
    responses(
        (status = 200, description = "The file's properties.", body = crate::contract::JsonObject),
        crate::contract::ServiceErrors,
    ),
    security(("bearer" = []), ("api_key" = [])),
)]
pub async fn get(
    State(state): State<AppState>,
    caller: AppCaller,
    BaseUrl(base): BaseUrl,
    Path(ids): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let (account, id) = file_account(&state, &caller, &base, &ids).await?;
    render(&state, account, &id).await
}

/// One change: a `null` value removes the key.
#[derive(Debug, Deserialize)]
pub struct Change {
    key: String,
    value: Option<Value>,
}

/// `PATCH /v1/accounts/{acct}/storage/files/{id}/properties` with `[{key, value}]`
#[utoipa::path(
    patch,
    path = "/accounts/{acct}/storage/files/{id}/properties",
    tag = "storage",
    summary = "Set properties",
    operation_id = "properties_patch",
    params(
        ("acct" = String, Path, description = "Account id, or `me` with a bearer token."),
        ("id" = String, Path, description = "Id of the item (`root` for the root folder)."),
    ),
    request_body(content = crate::contract::JsonObject, content_type = "application/json"),
    responses(
        (status = 200, description = "The file's properties.", body = crate::contract::JsonObject),
        crate::contract::ServiceErrors,
    ),
    security(("bearer" = []), ("api_key" = [])),
)]
pub async fn patch(
    State(state): State<AppState>,
    caller: AppCaller,
    BaseUrl(base): BaseUrl,
    Path(ids): Path<(String, String)>,
    Json(changes): Json<Vec<Change>>,
) -> Result<Json<Value>, ApiError> {
    if changes.len() > MAX_CHANGES {
        return Err(ApiError::invalid_parameters(format!(
            "At most {MAX_CHANGES} properties per request."
        )));
    }
    if let Some(bad) = changes
        .iter()
        .find(|c| c.key.is_empty() || c.key.len() > MAX_KEY)
    {
        return Err(ApiError::invalid_parameters(format!(
            "Property keys must have 1 to {MAX_KEY} bytes (got {}).",
            bad.key.len()
        )));
    }
    let (account, id) = file_account(&state, &caller, &base, &ids).await?;
    let changes: Vec<(String, Option<Value>)> = changes
        .into_iter()
        .map(|c| (c.key, c.value.filter(|v| !v.is_null())))
        .collect();
    db::properties::apply(&state.db, account, &id, &changes).await?;
    render(&state, account, &id).await
}

/// `DELETE /v1/accounts/{acct}/storage/files/{id}/properties`: removes them all.
#[utoipa::path(
    delete,
    path = "/accounts/{acct}/storage/files/{id}/properties",
    tag = "storage",
    summary = "Remove properties",
    operation_id = "properties_delete",
    params(
        ("acct" = String, Path, description = "Account id, or `me` with a bearer token."),
        ("id" = String, Path, description = "Id of the item (`root` for the root folder)."),
    ),
    responses(
        (status = 204, description = "All removed."),
        crate::contract::ServiceErrors,
    ),
    security(("bearer" = []), ("api_key" = [])),
)]
pub async fn delete(
    State(state): State<AppState>,
    caller: AppCaller,
    BaseUrl(base): BaseUrl,
    Path(ids): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let (account, id) = file_account(&state, &caller, &base, &ids).await?;
    db::properties::clear(&state.db, account, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
