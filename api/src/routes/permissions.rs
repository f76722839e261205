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

/// The three handlers of one kind of item (`$path` its route; operation ids, summaries
/// and handler names given whole, as the OpenAPI attributes take only literals).
macro_rules! permission_routes {
    (
        $kind:expr, $path:tt,
        $get:ident $get_id:tt $get_summary:tt,
        $put:ident $put_id:tt $put_summary:tt,
        $patch:ident $patch_id:tt $patch_summary:tt $(,)?
    ) => {
        #[doc = concat!("`GET /v1", $path, "`: who has access.")]
        #[utoipa::path(
            get,
            path = $path,
            tag = "storage",
            summary = $get_summary,
            operation_id = $get_id,
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
        pub async fn $get(
            State(state): State<AppState>,
            caller: AppCaller,
            Path(ids): Path<(String, String)>,
        ) -> Result<Json<Value>, ApiError> {
            permissions(&state, &caller, ids, $kind, None).await
        }

        #[doc = concat!("`PUT /v1", $path, "`: replaces them (the owner's stays).")]
        #[utoipa::path(
            put,
            path = $path,
            tag = "storage",
            summary = $put_summary,
            operation_id = $put_id,
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
        pub async fn $put(
            State(state): State<AppState>,
            caller: AppCaller,
            Path(ids): Path<(String, String)>,
            body: Bytes,
        ) -> Result<Json<Value>, ApiError> {
            permissions(&state, &caller, ids, $kind, Some(change(&body, true)?)).await
        }

        #[doc = concat!("`PATCH /v1", $path, "`: grants and changes roles.")]
        #[utoipa::path(
            patch,
            path = $path,
            tag = "storage",
            summary = $patch_summary,
            operation_id = $patch_id,
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
        pub async fn $patch(
            State(state): State<AppState>,
            caller: AppCaller,
            Path(ids): Path<(String, String)>,
            body: Bytes,
        ) -> Result<Json<Value>, ApiError> {
            permissions(&state, &caller, ids, $kind, Some(change(&body, false)?)).await
        }
    };
}

permission_routes!(
    ItemKind::File,
    "/accounts/{acct}/storage/files/{id}/permissions",
    get_file "files_permissions_get" "Get a file's permissions",
    put_file "files_permissions_put" "Replace a file's permissions",
    patch_file "files_permissions_patch" "Add or update a file's permissions",
);

permission_routes!(
    ItemKind::Folder,
    "/accounts/{acct}/storage/folders/{id}/permissions",
    get_folder "folders_permissions_get" "Get a folder's permissions",
    put_folder "folders_permissions_put" "Replace a folder's permissions",
    patch_folder "folders_permissions_patch" "Add or update a folder's permissions",
);

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
