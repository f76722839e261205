//! Storage API: rename or move (`PATCH files|folders/{id}`) and copy
//! (`POST files|folders/{id}/copy`), within one account.

use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::IntoResponse,
};
use cloudbridge_shared::{protocol::Op, storage::ItemKind, ApiError, ItemPath};
use serde::Deserialize;

use crate::{
    auth::AppCaller,
    extract::{BaseUrl, Json},
    routes::{
        files::{account_ref, expect_entry},
        folders::parent_path,
    },
    wire, AppState,
};

/// Body of a move or copy.
#[derive(Debug, Deserialize)]
pub struct RelocateBody {
    name: Option<String>,
    parent_id: Option<String>,
    /// Destination account (Kloudless cross-account moves and copies).
    account: Option<serde_json::Value>,
}

async fn relocate(
    state: AppState,
    caller: AppCaller,
    base: String,
    (acct, id): (String, String),
    kind: ItemKind,
    body: RelocateBody,
    copy: bool,
) -> Result<impl IntoResponse, ApiError> {
    let account = caller.account(&state, &acct).await?;
    if let Some(target) = &body.account {
        let same = target.as_i64() == Some(account.id)
            || target.as_str().and_then(|s| s.parse::<i64>().ok()) == Some(account.id);
        if !same {
            return Err(ApiError::not_implemented(
                "Moving or copying to another account is not available yet.",
            ));
        }
    }
    if !copy && body.name.is_none() && body.parent_id.is_none() {
        return Err(ApiError::invalid_parameters(
            "Give a new `name`, `parent_id`, or both.",
        ));
    }
    let path = ItemPath::from_id(&id)?;
    let current_parent = path
        .parent()
        .ok_or_else(|| ApiError::forbidden("The root folder cannot be moved."))?;
    let parent = match body.parent_id.as_deref() {
        Some(p) => parent_path(Some(p))?,
        None => current_parent,
    };
    let name = body.name.unwrap_or_else(|| path.name().to_string());
    let op = Op::Relocate {
        path,
        kind,
        parent,
        name,
        copy,
    };
    let outcome = state.pipeline.call(Some(account_ref(&account)), op).await?;
    let (entry, _) = expect_entry(outcome, kind)?;
    let status = if copy {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(wire::entry(&entry, account.id, &base))))
}

/// `PATCH /v1/accounts/{acct}/storage/files/{id}`: rename and/or move.
pub async fn patch_file(
    State(state): State<AppState>,
    caller: AppCaller,
    BaseUrl(base): BaseUrl,
    Path(ids): Path<(String, String)>,
    Json(body): Json<RelocateBody>,
) -> Result<impl IntoResponse, ApiError> {
    relocate(state, caller, base, ids, ItemKind::File, body, false).await
}

/// `PATCH /v1/accounts/{acct}/storage/folders/{id}`: rename and/or move.
pub async fn patch_folder(
    State(state): State<AppState>,
    caller: AppCaller,
    BaseUrl(base): BaseUrl,
    Path(ids): Path<(String, String)>,
    Json(body): Json<RelocateBody>,
) -> Result<impl IntoResponse, ApiError> {
    relocate(state, caller, base, ids, ItemKind::Folder, body, false).await
}

/// `POST /v1/accounts/{acct}/storage/files/{id}/copy`
pub async fn copy_file(
    State(state): State<AppState>,
    caller: AppCaller,
    BaseUrl(base): BaseUrl,
    Path(ids): Path<(String, String)>,
    Json(body): Json<RelocateBody>,
) -> Result<impl IntoResponse, ApiError> {
    relocate(state, caller, base, ids, ItemKind::File, body, true).await
}

/// `POST /v1/accounts/{acct}/storage/folders/{id}/copy`
pub async fn copy_folder(
    State(state): State<AppState>,
    caller: AppCaller,
    BaseUrl(base): BaseUrl,
    Path(ids): Path<(String, String)>,
    Json(body): Json<RelocateBody>,
) -> Result<impl IntoResponse, ApiError> {
    relocate(state, caller, base, ids, ItemKind::Folder, body, true).await
}
