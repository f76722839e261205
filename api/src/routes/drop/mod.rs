//! The File Picker's computer uploads, `/drop/{app_id}` (docs/widgets-protocol.md §3.11):
//! no credentials, so an upload can only go to one of the application's upload locations
//! (see [`super::upload_locations`]), is bounded (chunk size, file size, a per-address rate,
//! unfinished uploads per application, a lifetime) and never overwrites a file.
//!
//! - `GET /drop/{app_id}`: the chunk size (404 when there is nowhere to upload to).
//! - `POST /drop/{app_id}?…`: one chunk (`upload`; `chunk` stages it).
//! - `DELETE /drop/{app_id}?file_id=`: the picker cancelled a file.

mod chunk;
pub mod upload;

use std::collections::HashMap;

use axum::{extract::State, http::HeaderMap, http::StatusCode};
use cloudbridge_connectors::parts;
use cloudbridge_shared::{
    db::{
        self, accounts::Account, applications::Application, drop_uploads::Key,
        upload_locations::UploadLocation,
    },
    telemetry::names,
    ApiError, ItemRef,
};
use serde_json::{json, Value};

use crate::{
    extract::{Json, Path, Query},
    parse::MAX_DROP_ID,
    routes::upload_locations::{account_id, resolve},
    AppState,
};

/// Counts a computer upload's outcome (`cloudbridge_drop_uploads_total`).
fn count(outcome: &'static str) {
    metrics::counter!(names::DROP_UPLOADS, "outcome" => outcome).increment(1);
}

/// The active application `app_id` (404 for an unknown or inactive one).
async fn active_application(state: &AppState, app_id: &str) -> Result<Application, ApiError> {
    db::applications::get_any(&state.db, app_id)
        .await?
        .filter(|a| a.active)
        .ok_or_else(|| ApiError::not_found("No active application has this id."))
}

/// Where a request's upload lands: the application, the upload location the
/// `X-Drop-Account` / `X-Drop-Folder` headers name (the application's first one without
/// them) and its account.
struct Target {
    app: Application,
    location: UploadLocation,
    account: Account,
}

/// Reads the optional `X-Drop-Account` (an account id) and `X-Drop-Folder` (a folder id).
fn named_location(headers: &HeaderMap) -> Result<(Option<i64>, Option<String>), ApiError> {
    let text = |name: &str| -> Result<Option<&str>, ApiError> {
        headers
            .get(name)
            .map(|v| {
                v.to_str()
                    .map(str::trim)
                    .map_err(|_| ApiError::invalid_parameters(format!("{name} is not valid text.")))
            })
            .transpose()
    };
    let account = text("x-drop-account")?
        .map(|raw| {
            account_id(&Value::String(raw.to_string()))
                .ok_or_else(|| ApiError::invalid_parameters("X-Drop-Account is not an account id."))
        })
        .transpose()?;
    let folder = text("x-drop-folder")?
        .map(|raw| {
            ItemRef::from_id(raw)
                .map(|p| p.id())
                .map_err(|_| ApiError::invalid_parameters("X-Drop-Folder is not a folder id."))
        })
        .transpose()?;
    Ok((account, folder))
}

async fn target(state: &AppState, app_id: &str, headers: &HeaderMap) -> Result<Target, ApiError> {
    let app = active_application(state, app_id).await?;
    let (account, folder) = named_location(headers)?;
    let (location, account) = resolve(state, &app.id, account, folder.as_deref()).await?;
    Ok(Target {
        app,
        location,
        account,
    })
}

/// The picker's id (`X-Picker-Id`, or the older `X-Explorer-Id`): its uploads are keyed by
/// it and plupload's file id.
fn picker_id(headers: &HeaderMap) -> Result<String, ApiError> {
    let id = headers
        .get("x-picker-id")
        .or_else(|| headers.get("x-explorer-id"))
        .ok_or_else(|| ApiError::invalid_parameters("The X-Picker-Id header is required."))?
        .to_str()
        .map_err(|_| ApiError::invalid_parameters("X-Picker-Id is not valid text."))?
        .trim();
    if id.is_empty() || id.len() > MAX_DROP_ID {
        return Err(ApiError::invalid_parameters(format!(
            "X-Picker-Id must have 1 to {MAX_DROP_ID} characters."
        )));
    }
    Ok(id.to_string())
}

/// Removes a discarded upload's staged chunks (its rows are gone already).
async fn remove_parts(state: &AppState, session: Option<i64>) -> Result<(), ApiError> {
    match session {
        Some(id) => parts::remove(&state.data_root, id).await,
        None => Ok(()),
    }
}

/// `GET /drop/{app_id}`: the chunk size the picker uploads in.
#[utoipa::path(
    get,
    path = "/drop/{app_id}",
    tag = "widgets",
    summary = "The File Picker's upload settings",
    operation_id = "drop_config",
    params(
        ("app_id" = String, Path, description = "The application id."),
        ("X-Drop-Account" = Option<String>, Header, description = "The upload location's account."),
        ("X-Drop-Folder" = Option<String>, Header, description = "The upload location's folder."),
    ),
    responses(
        (status = 200, description = "`chunk_size` in bytes.", body = crate::contract::JsonObject),
        (status = 403, description = "The headers name no upload location of the application.", body = crate::contract::ErrorBody),
        crate::contract::PublicErrors,
    ),
)]
pub async fn config(
    State(state): State<AppState>,
    Path(app_id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    target(&state, &app_id, &headers).await?;
    Ok(Json(json!({
        "chunk_size": state.settings.widgets.drop_chunk_bytes,
    })))
}

/// `DELETE /drop/{app_id}?file_id=`: discards the picker's unfinished upload of that file
/// (nothing of it stays visible). Idempotent.
#[utoipa::path(
    delete,
    path = "/drop/{app_id}",
    tag = "widgets",
    summary = "Abort a File Picker upload",
    operation_id = "drop_abort",
    params(
        ("app_id" = String, Path, description = "The application id."),
        ("file_id" = String, Query, min_length = 1, description = "The picker's id of the file."),
        ("X-Picker-Id" = String, Header, description = "The picker's id."),
    ),
    responses(
        (status = 204, description = "Nothing of the upload is left."),
        crate::contract::PublicErrors,
    ),
)]
pub async fn abort(
    State(state): State<AppState>,
    Path(app_id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let app = active_application(&state, &app_id).await?;
    let picker = picker_id(&headers)?;
    let file_id = q
        .get("file_id")
        .filter(|f| !f.is_empty() && f.len() <= MAX_DROP_ID)
        .ok_or_else(|| ApiError::invalid_parameters("`file_id` is required."))?;
    let key = Key {
        application: &app.id,
        picker_id: &picker,
        file_id,
    };
    let session = db::drop_uploads::discard(&state.db, key).await?;
    if session.is_some() {
        count("aborted");
    }
    remove_parts(&state, session).await?;
    Ok(StatusCode::NO_CONTENT)
}
