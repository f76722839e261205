//! Storage API: multipart uploads. A session is a row in PostgreSQL; parts are staged on
//! the data root by this tier (any API replica may receive any part); completing streams
//! the parts in order to the service through the ordinary upload path.

use std::collections::HashMap;

use axum::{
    extract::{Request, State},
    http::StatusCode,
    response::IntoResponse,
};
use cloudbridge_connectors::parts::{self, Layout};
use cloudbridge_shared::{
    db::{
        self,
        multipart::{NewSession, Session},
    },
    storage::{validate_name, ItemKind},
    ApiError,
};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::{
    auth::AppCaller,
    extract::{flag, BaseUrl, Json, Path, Query},
    routes::{
        files::{account_ref, metadata, store},
        folders::parent_path,
    },
    wire, AppState,
};

/// Smallest part size offered (object stores want at least 5 MiB per part).
const MIN_PART: u64 = 8 << 20;
/// Most parts one upload may have.
const MAX_PARTS: u64 = 10_000;

fn layout(s: &Session) -> Layout {
    Layout {
        size: s.size as u64,
        part_size: s.part_size as u64,
    }
}

fn render(s: &Session, base: &str) -> Value {
    json!({
        "id": s.id,
        "account": s.account_id,
        "parent_id": s.parent_id,
        "name": s.name,
        "size": s.size,
        "part_size": s.part_size,
        "parallel_uploads": true,
        "overwrite": s.overwrite,
        "created": wire::time(s.created_at),
        "expires": wire::time(s.expires_at),
        "api": "storage",
        "type": "multipart",
        "href": format!("{base}/v1/accounts/{}/storage/multipart/{}", s.account_id, s.id),
    })
}

/// Body of `POST /v1/accounts/{acct}/storage/multipart`.
#[derive(Debug, Deserialize)]
pub struct CreateBody {
    parent_id: Option<String>,
    name: Option<String>,
    size: Option<i64>,
}

/// `POST /v1/accounts/{acct}/storage/multipart` (`overwrite`)
#[utoipa::path(
    post,
    path = "/accounts/{acct}/storage/multipart",
    tag = "storage",
    summary = "Start a multipart upload",
    operation_id = "multipart_create",
    params(
        ("acct" = String, Path, description = "Account id, or `me` with a bearer token."),
        ("overwrite" = Option<bool>, Query, description = "Replace a file of the same name."),
    ),
    request_body(content = crate::contract::JsonObject, content_type = "application/json"),
    responses(
        (status = 201, description = "The session, with its part size.", body = crate::contract::JsonObject),
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
    let overwrite = flag(&q, "overwrite")?;
    let name = body
        .name
        .ok_or_else(|| ApiError::invalid_parameters("`name` is required."))?;
    validate_name(&name)?;
    let size = body
        .size
        .filter(|s| *s >= 0)
        .ok_or_else(|| ApiError::invalid_parameters("`size` must be a number of bytes."))?
        as u64;
    if size > state.settings.api.max_upload_bytes {
        return Err(ApiError::new(
            413,
            "request_too_large",
            "The upload is too large.",
        ));
    }
    let parent = parent_path(body.parent_id.as_deref())?;
    let parent_id = parent.id();
    let ids = (acct.clone(), parent_id.clone());
    metadata(&state, &caller, &base, ids, ItemKind::Folder)
        .await
        .map_err(|e| match e.status {
            404 => ApiError::new(
                400,
                "invalid_parent_folder",
                "The parent folder does not exist.",
            ),
            _ => e,
        })?;
    let part_size = size
        .div_ceil(MAX_PARTS)
        .next_multiple_of(1 << 20)
        .max(MIN_PART);
    let session = NewSession {
        parent_id,
        name,
        size: size as i64,
        part_size: part_size as i64,
        overwrite,
        expiry_secs: state.settings.api.multipart_expiry_secs as i64,
    };
    let session = db::multipart::create(&state.db, account.id, session).await?;
    Ok((StatusCode::CREATED, Json(render(&session, &base))))
}

async fn open_session(
    state: &AppState,
    caller: &AppCaller,
    acct: &str,
    id: &str,
) -> Result<Session, ApiError> {
    let account = caller.account(state, acct).await?;
    let gone = || ApiError::not_found("No multipart upload has this id.");
    let id = id.parse::<i64>().map_err(|_| gone())?;
    db::multipart::get(&state.db, account.id, id)
        .await?
        .ok_or_else(gone)
}

/// `GET /v1/accounts/{acct}/storage/multipart/{id}`
#[utoipa::path(
    get,
    path = "/accounts/{acct}/storage/multipart/{id}",
    tag = "storage",
    summary = "Get a multipart upload",
    operation_id = "multipart_get",
    params(
        ("acct" = String, Path, description = "Account id, or `me` with a bearer token."),
        ("id" = String, Path, description = "Id of the item (`root` for the root folder)."),
    ),
    responses(
        (status = 200, description = "The session.", body = crate::contract::JsonObject),
        crate::contract::Errors,
    ),
    security(("bearer" = []), ("api_key" = [])),
)]
pub async fn get(
    State(state): State<AppState>,
    caller: AppCaller,
    BaseUrl(base): BaseUrl,
    Path((acct, id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let session = open_session(&state, &caller, &acct, &id).await?;
    Ok(Json(render(&session, &base)))
}

/// `PUT /v1/accounts/{acct}/storage/multipart/{id}?part_number=N`: one part, exactly
/// `part_size` bytes (the last part: the rest).
#[utoipa::path(
    put,
    path = "/accounts/{acct}/storage/multipart/{id}",
    tag = "storage",
    summary = "Upload a part",
    operation_id = "multipart_put_part",
    params(
        ("acct" = String, Path, description = "Account id, or `me` with a bearer token."),
        ("id" = String, Path, description = "Id of the item (`root` for the root folder)."),
        ("part_number" = u32, Query, minimum = 1, description = "1-based part number."),
    ),
    request_body(content = crate::contract::Bytes, content_type = "application/octet-stream"),
    responses(
        (status = 200, description = "The part was stored.", body = crate::contract::JsonObject),
        crate::contract::ServiceErrors,
    ),
    security(("bearer" = []), ("api_key" = [])),
)]
pub async fn put_part(
    State(state): State<AppState>,
    caller: AppCaller,
    Path((acct, id)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
    request: Request,
) -> Result<Json<Value>, ApiError> {
    let session = open_session(&state, &caller, &acct, &id).await?;
    let n = crate::parse::part_number(q.get("part_number").map(String::as_str))?;
    let body = request.into_body().into_data_stream();
    let written =
        parts::write_part(&state.data_root, session.id, layout(&session), n, body).await?;
    Ok(Json(json!({
        "id": session.id,
        "part_number": n,
        "size": written,
        "api": "storage",
        "type": "multipart_part",
    })))
}

/// `POST /v1/accounts/{acct}/storage/multipart/{id}/complete`: the file, once every part
/// is there. Only one completion runs; a failed one can be retried.
#[utoipa::path(
    post,
    path = "/accounts/{acct}/storage/multipart/{id}/complete",
    tag = "storage",
    summary = "Complete a multipart upload",
    operation_id = "multipart_complete",
    params(
        ("acct" = String, Path, description = "Account id, or `me` with a bearer token."),
        ("id" = String, Path, description = "Id of the item (`root` for the root folder)."),
    ),
    responses(
        (status = 201, description = "The file.", body = crate::contract::JsonObject),
        crate::contract::ServiceErrors,
    ),
    security(("bearer" = []), ("api_key" = [])),
)]
pub async fn complete(
    State(state): State<AppState>,
    caller: AppCaller,
    BaseUrl(base): BaseUrl,
    Path((acct, id)): Path<(String, String)>,
) -> Result<impl IntoResponse, ApiError> {
    let account = caller.account(&state, &acct).await?;
    let session = open_session(&state, &caller, &acct, &id).await?;
    let missing = parts::missing(&state.data_root, session.id, layout(&session)).await;
    if !missing.is_empty() {
        let shown: Vec<String> = missing.iter().take(20).map(u32::to_string).collect();
        return Err(ApiError::invalid_parameters(format!(
            "Parts missing or incomplete: {}{}.",
            shown.join(", "),
            if missing.len() > 20 { ", …" } else { "" }
        )));
    }
    let session = db::multipart::claim(&state.db, account.id, session.id)
        .await?
        .ok_or_else(|| ApiError::new(409, "conflict", "This upload is being completed."))?;
    let stored = async {
        let parent = parent_path(Some(&session.parent_id))?;
        let body = parts::read(&state.data_root, session.id, layout(&session));
        let target = account_ref(&account);
        let length = Some(session.size as u64);
        store(
            &state,
            &target,
            parent,
            session.name.clone(),
            session.overwrite,
            body,
            length,
        )
        .await
    }
    .await;
    match stored {
        Ok(entry) => {
            db::multipart::delete(&state.db, account.id, session.id).await?;
            parts::remove(&state.data_root, session.id).await?;
            Ok((
                StatusCode::CREATED,
                Json(wire::entry(&entry, account.id, &base)),
            ))
        }
        Err(e) => {
            db::multipart::release(&state.db, session.id).await?;
            Err(e)
        }
    }
}

/// `DELETE /v1/accounts/{acct}/storage/multipart/{id}`: abandons the upload.
#[utoipa::path(
    delete,
    path = "/accounts/{acct}/storage/multipart/{id}",
    tag = "storage",
    summary = "Abort a multipart upload",
    operation_id = "multipart_abort",
    params(
        ("acct" = String, Path, description = "Account id, or `me` with a bearer token."),
        ("id" = String, Path, description = "Id of the item (`root` for the root folder)."),
    ),
    responses(
        (status = 204, description = "Aborted."),
        crate::contract::Errors,
    ),
    security(("bearer" = []), ("api_key" = [])),
)]
pub async fn abort(
    State(state): State<AppState>,
    caller: AppCaller,
    Path((acct, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let session = open_session(&state, &caller, &acct, &id).await?;
    db::multipart::delete(&state.db, session.account_id, session.id).await?;
    parts::remove(&state.data_root, session.id).await?;
    Ok(StatusCode::NO_CONTENT)
}
