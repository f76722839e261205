//! Storage API: folders.

use std::collections::HashMap;

use axum::{extract::State, http::StatusCode, response::IntoResponse};
use cloudbridge_shared::{
    protocol::{Op, Outcome},
    storage::ItemKind,
    ApiError, ItemRef,
};
use serde::Deserialize;
use serde_json::Value;

use crate::{
    auth::AppCaller,
    extract::{flag, BaseUrl, Json, Path, Query},
    page_token,
    routes::files::{account_ref, expect_entry, metadata, remove},
    wire, AppState,
};

/// `GET /v1/accounts/{acct}/storage/folders/{id}`
#[utoipa::path(
    get,
    path = "/accounts/{acct}/storage/folders/{id}",
    tag = "storage",
    summary = "Get a folder",
    operation_id = "folders_get",
    params(
        ("acct" = String, Path, description = "Account id, or `me` with a bearer token."),
        ("id" = String, Path, description = "Id of the item (`root` for the root folder)."),
    ),
    responses(
        (status = 200, description = "The folder.", body = crate::contract::JsonObject),
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
    metadata(&state, &caller, &base, ids, ItemKind::Folder).await
}

/// `GET /v1/accounts/{acct}/storage/folders/{id}/contents`
#[utoipa::path(
    get,
    path = "/accounts/{acct}/storage/folders/{id}/contents",
    tag = "storage",
    summary = "List a folder",
    operation_id = "folders_contents",
    params(
        ("acct" = String, Path, description = "Account id, or `me` with a bearer token."),
        ("id" = String, Path, description = "Id of the item (`root` for the root folder)."),
        ("page" = Option<String>, Query, description = "1-based page number, or the `next_page` value of the page before."),
        ("page_size" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "Items per page (at most 1000)."),
        ("recursive" = Option<bool>, Query, description = "Everything below the folder, at any depth (S3 and Dropbox, where the folder's `can_list_recursively` is true; 501 elsewhere)."),
    ),
    responses(
        (status = 200, description = "One page of the folder's contents.", body = crate::contract::ObjectList),
        crate::contract::ServiceErrors,
    ),
    security(("bearer" = []), ("api_key" = [])),
)]
pub async fn contents(
    State(state): State<AppState>,
    caller: AppCaller,
    BaseUrl(base): BaseUrl,
    Path((acct, id)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let cipher = state.cipher.as_deref();
    let requested = page_token::requested(cipher, &q, 1000)?;
    let recursive = flag(&q, "recursive")?;
    let account = caller.account(&state, &acct).await?;
    // Tokens of a recursive listing never continue the folder's plain one, nor the reverse.
    let scope = if recursive {
        page_token::recursive_scope(&id)
    } else {
        id.clone()
    };
    let (page, from) = requested.resolve(cipher, account.id, &scope)?;
    let op = Op::ListFolder {
        item: ItemRef::from_id(&id)?,
        page,
        page_size: requested.paging.page_size,
        from,
        recursive,
    };
    let page = match state.pipeline.call(Some(account_ref(&account)), op).await? {
        Outcome::Page { page } => page,
        other => {
            return Err(ApiError::internal(format_args!(
                "unexpected outcome {other:?}"
            )))
        }
    };
    // Pages in the service's own paging link on with a sealed position, others by number.
    let next_page = page_token::next(cipher, account.id, &scope, &page);
    let objects = page
        .entries
        .iter()
        .map(|e| wire::account_entry(e, &account, &base))
        .collect();
    Ok(Json(wire::list(
        "storage",
        objects,
        requested.shown(page.page),
        next_page,
        None,
    )))
}

/// Body of `POST /v1/accounts/{acct}/storage/folders`.
#[derive(Debug, Deserialize)]
pub struct CreateBody {
    name: Option<String>,
    parent_id: Option<String>,
}

/// `POST /v1/accounts/{acct}/storage/folders` (`conflict_if_exists`)
#[utoipa::path(
    post,
    path = "/accounts/{acct}/storage/folders",
    tag = "storage",
    summary = "Create a folder",
    operation_id = "folders_create",
    params(
        ("acct" = String, Path, description = "Account id, or `me` with a bearer token."),
        ("conflict_if_exists" = Option<bool>, Query, description = "409 when the folder exists."),
    ),
    request_body(content = crate::contract::JsonObject, content_type = "application/json"),
    responses(
        (status = 201, description = "The new folder.", body = crate::contract::JsonObject),
        (status = 200, description = "The folder, which existed already (without `conflict_if_exists`).", body = crate::contract::JsonObject),
        crate::contract::ServiceErrors,
    ),
    security(("bearer" = []), ("api_key" = [])),
)]
pub async fn create(
    State(state): State<AppState>,
    caller: AppCaller,
    BaseUrl(base): BaseUrl,
    Path(acct): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    Json(body): Json<CreateBody>,
) -> Result<impl IntoResponse, ApiError> {
    let account = caller.account(&state, &acct).await?;
    let name = body
        .name
        .ok_or_else(|| ApiError::invalid_parameters("`name` is required."))?;
    let parent = parent_path(body.parent_id.as_deref())?;
    let conflict_if_exists = flag(&q, "conflict_if_exists")?;
    let op = Op::CreateFolder {
        parent,
        name,
        conflict_if_exists,
    };
    let outcome = state.pipeline.call(Some(account_ref(&account)), op).await?;
    let (entry, created) = expect_entry(outcome, ItemKind::Folder)?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(wire::account_entry(&entry, &account, &base))))
}

pub use crate::parse::parent_path;

/// `DELETE /v1/accounts/{acct}/storage/folders/{id}` (`recursive`)
#[utoipa::path(
    delete,
    path = "/accounts/{acct}/storage/folders/{id}",
    tag = "storage",
    summary = "Delete a folder",
    operation_id = "folders_delete",
    params(
        ("acct" = String, Path, description = "Account id, or `me` with a bearer token."),
        ("id" = String, Path, description = "Id of the item (`root` for the root folder)."),
        ("recursive" = Option<bool>, Query, description = "Delete a non-empty folder."),
    ),
    responses(
        (status = 204, description = "Deleted."),
        crate::contract::ServiceErrors,
    ),
    security(("bearer" = []), ("api_key" = [])),
)]
pub async fn delete(
    State(state): State<AppState>,
    caller: AppCaller,
    Path(ids): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<StatusCode, ApiError> {
    let recursive = flag(&q, "recursive")?;
    remove(&state, &caller, ids, ItemKind::Folder, recursive).await
}
