//! Storage API: who has access to a file or folder (`/permissions`), read and changed at
//! the item's service by a worker (Google Drive, OneDrive, Dropbox and Box; the other
//! services answer 501). `GET` lists them, `PUT` replaces them (the owner's stays),
//! `PATCH` adds and updates; all three answer `{"permissions": [...]}`.

use axum::{body::Bytes, extract::State};
use cloudbridge_shared::{
    permissions::Change, protocol::Op, storage::ItemKind, ApiError, ItemRef, Outcome,
};
use serde_json::{json, Value};

use crate::{
    auth::AppCaller,
    extract::{refuse_nul_in_json, Json, Path},
    routes::files::account_ref,
    AppState,
};

/// Runs the permissions job of item `id` (of `kind`) and answers its permissions.
async fn permissions(
    state: &AppState,
    caller: &AppCaller,
    (acct, id): (String, String),
    kind: ItemKind,
    change: Option<Change>,
) -> Result<Json<Value>, ApiError> {
    let account = caller.account(state, &acct).await?;
    let item = ItemRef::from_id(&id)?;
    let op = Op::Permissions { item, kind, change };
    match state.pipeline.call(Some(account_ref(&account)), op).await? {
        Outcome::Permissions { permissions } => Ok(Json(json!({ "permissions": permissions }))),
        other => Err(ApiError::internal(format_args!(
            "unexpected outcome {other:?}"
        ))),
    }
}

/// The change a `PUT` (`replace`) or `PATCH` body asks for; the body is required (an
/// empty one would silently unshare everything on a `PUT`).
fn change(body: &Bytes, replace: bool) -> Result<Change, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::invalid_parameters(
            "The body must be a list of permissions (`[]` for none).",
        ));
    }
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("Malformed JSON body: {e}")))?;
    refuse_nul_in_json(body, "JSON strings")?;
    Change::parse(&value, replace)
}

/// `GET /v1/accounts/{acct}/storage/files/{id}/permissions`.
#[utoipa::path(
    get,
    path = "/accounts/{acct}/storage/files/{id}/permissions",
    tag = "storage",
    summary = "Get a file's permissions",
    operation_id = "files_permissions_get",
    params(
        ("acct" = String, Path, description = "Account id, or `me` with a bearer token."),
        ("id" = String, Path, description = "Id of the item (`root` for the root folder)."),
    ),
    responses(
        (status = 200, description = "`{\"permissions\": [{id, email, name, role, type}]}`, the owner's included.", body = crate::contract::JsonObject),
        crate::contract::ServiceErrors,
    ),
    security(("bearer" = []), ("api_key" = [])),
)]
pub async fn get_file(
    State(state): State<AppState>,
    caller: AppCaller,
    Path(ids): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    permissions(&state, &caller, ids, ItemKind::File, None).await
}

/// `PUT /v1/accounts/{acct}/storage/files/{id}/permissions`: replaces them (the owner's stays).
#[utoipa::path(
    put,
    path = "/accounts/{acct}/storage/files/{id}/permissions",
    tag = "storage",
    summary = "Replace a file's permissions",
    operation_id = "files_permissions_put",
    params(
        ("acct" = String, Path, description = "Account id, or `me` with a bearer token."),
        ("id" = String, Path, description = "Id of the item (`root` for the root folder)."),
    ),
    request_body(content = crate::contract::JsonObject, content_type = "application/json", description = "A list of `{type, role, email | domain | id}`; everyone else but the owner loses access."),
    responses(
        (status = 200, description = "The permissions now, the owner's included.", body = crate::contract::JsonObject),
        crate::contract::ServiceErrors,
    ),
    security(("bearer" = []), ("api_key" = [])),
)]
pub async fn put_file(
    State(state): State<AppState>,
    caller: AppCaller,
    Path(ids): Path<(String, String)>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    permissions(
        &state,
        &caller,
        ids,
        ItemKind::File,
        Some(change(&body, true)?),
    )
    .await
}

/// `PATCH /v1/accounts/{acct}/storage/files/{id}/permissions`: grants and changes roles.
#[utoipa::path(
    patch,
    path = "/accounts/{acct}/storage/files/{id}/permissions",
    tag = "storage",
    summary = "Add or update a file's permissions",
    operation_id = "files_permissions_patch",
    params(
        ("acct" = String, Path, description = "Account id, or `me` with a bearer token."),
        ("id" = String, Path, description = "Id of the item (`root` for the root folder)."),
    ),
    request_body(content = crate::contract::JsonObject, content_type = "application/json", description = "A list of `{type, role, email | domain | id}` to grant or change."),
    responses(
        (status = 200, description = "The permissions now, the owner's included.", body = crate::contract::JsonObject),
        crate::contract::ServiceErrors,
    ),
    security(("bearer" = []), ("api_key" = [])),
)]
pub async fn patch_file(
    State(state): State<AppState>,
    caller: AppCaller,
    Path(ids): Path<(String, String)>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    permissions(
        &state,
        &caller,
        ids,
        ItemKind::File,
        Some(change(&body, false)?),
    )
    .await
}

/// `GET /v1/accounts/{acct}/storage/folders/{id}/permissions`.
#[utoipa::path(
    get,
    path = "/accounts/{acct}/storage/folders/{id}/permissions",
    tag = "storage",
    summary = "Get a folder's permissions",
    operation_id = "folders_permissions_get",
    params(
        ("acct" = String, Path, description = "Account id, or `me` with a bearer token."),
        ("id" = String, Path, description = "Id of the item (`root` for the root folder)."),
    ),
    responses(
        (status = 200, description = "`{\"permissions\": [{id, email, name, role, type}]}`, the owner's included.", body = crate::contract::JsonObject),
        crate::contract::ServiceErrors,
    ),
    security(("bearer" = []), ("api_key" = [])),
)]
pub async fn get_folder(
    State(state): State<AppState>,
    caller: AppCaller,
    Path(ids): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    permissions(&state, &caller, ids, ItemKind::Folder, None).await
}

/// `PUT /v1/accounts/{acct}/storage/folders/{id}/permissions`: replaces them (the owner's stays).
#[utoipa::path(
    put,
    path = "/accounts/{acct}/storage/folders/{id}/permissions",
    tag = "storage",
    summary = "Replace a folder's permissions",
    operation_id = "folders_permissions_put",
    params(
        ("acct" = String, Path, description = "Account id, or `me` with a bearer token."),
        ("id" = String, Path, description = "Id of the item (`root` for the root folder)."),
    ),
    request_body(content = crate::contract::JsonObject, content_type = "application/json", description = "A list of `{type, role, email | domain | id}`; everyone else but the owner loses access."),
    responses(
        (status = 200, description = "The permissions now, the owner's included.", body = crate::contract::JsonObject),
        crate::contract::ServiceErrors,
    ),
    security(("bearer" = []), ("api_key" = [])),
)]
pub async fn put_folder(
    State(state): State<AppState>,
    caller: AppCaller,
    Path(ids): Path<(String, String)>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    permissions(
        &state,
        &caller,
        ids,
        ItemKind::Folder,
        Some(change(&body, true)?),
    )
    .await
}

/// `PATCH /v1/accounts/{acct}/storage/folders/{id}/permissions`: grants and changes roles.
#[utoipa::path(
    patch,
    path = "/accounts/{acct}/storage/folders/{id}/permissions",
    tag = "storage",
    summary = "Add or update a folder's permissions",
    operation_id = "folders_permissions_patch",
    params(
        ("acct" = String, Path, description = "Account id, or `me` with a bearer token."),
        ("id" = String, Path, description = "Id of the item (`root` for the root folder)."),
    ),
    request_body(content = crate::contract::JsonObject, content_type = "application/json", description = "A list of `{type, role, email | domain | id}` to grant or change."),
    responses(
        (status = 200, description = "The permissions now, the owner's included.", body = crate::contract::JsonObject),
        crate::contract::ServiceErrors,
    ),
    security(("bearer" = []), ("api_key" = [])),
)]
pub async fn patch_folder(
    State(state): State<AppState>,
    caller: AppCaller,
    Path(ids): Path<(String, String)>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    permissions(
        &state,
        &caller,
        ids,
        ItemKind::Folder,
        Some(change(&body, false)?),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_required_and_parsed() {
        assert_eq!(
            change(&Bytes::from_static(b"  "), true).unwrap_err().status,
            400
        );
        assert_eq!(
            change(&Bytes::from_static(b"[{"), true).unwrap_err().code,
            "bad_request"
        );
        let parsed = change(&Bytes::from_static(b"[]"), true).unwrap();
        assert!(parsed.replace && parsed.grants.is_empty());
    }
}
