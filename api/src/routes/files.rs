//! Storage API: files. Uploads and downloads are planned by a worker and streamed here.

use std::collections::HashMap;

use axum::{
    body::Body,
    extract::{Request, State},
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use cloudbridge_connectors::transfer;
use cloudbridge_shared::{
    db::accounts::Account,
    protocol::{AccountRef, Op, TransferPlan},
    storage::ItemKind,
    ApiError, Entry, ItemRef, Outcome,
};
use serde::Deserialize;
use serde_json::Value;

use crate::{
    auth::AppCaller,
    extract::{flag, refuse_nul_in_json, BaseUrl, Json, Path, Query},
    range, remote,
    routes::folders::parent_path,
    tasks, wire, AppState,
};

/// What a worker needs to reach this account.
pub fn account_ref(account: &Account) -> AccountRef {
    account.job_ref()
}

/// Where this request's bytes go.
fn transfer_for<'a>(state: &'a AppState, account: &'a AccountRef) -> transfer::Transfer<'a> {
    transfer::Transfer {
        ctx: &state.connectors,
        account,
    }
}

/// The entry of an outcome, which must be of `kind` (else "not found").
pub fn expect_entry(outcome: Outcome, kind: ItemKind) -> Result<(Entry, bool), ApiError> {
    match outcome {
        Outcome::Entry { entry, created } if entry.kind == kind => Ok((entry, created)),
        Outcome::Entry { .. } => Err(ApiError::not_found(match kind {
            ItemKind::File => "No file has this id.",
            ItemKind::Folder => "No folder has this id.",
        })),
        other => Err(ApiError::internal(format_args!(
            "unexpected outcome {other:?}"
        ))),
    }
}

/// Metadata of the item `id`, which must be of `kind` (shared by files and folders).
pub async fn metadata(
    state: &AppState,
    caller: &AppCaller,
    base: &str,
    (acct, id): (String, String),
    kind: ItemKind,
) -> Result<Json<Value>, ApiError> {
    let account = caller.account(state, &acct).await?;
    let item = ItemRef::from_id(&id)?;
    let outcome = state
        .pipeline
        .call(Some(account_ref(&account)), Op::Metadata { item })
        .await?;
    let (entry, _) = expect_entry(outcome, kind)?;
    Ok(Json(wire::account_entry(&entry, &account, base)))
}

/// Deletes the item `id`, which must be of `kind` (shared by files and folders).
pub async fn remove(
    state: &AppState,
    caller: &AppCaller,
    (acct, id): (String, String),
    kind: ItemKind,
    recursive: bool,
) -> Result<StatusCode, ApiError> {
    let account = caller.account(state, &acct).await?;
    let item = ItemRef::from_id(&id)?;
    let op = Op::Delete {
        item: item.clone(),
        kind,
        recursive,
    };
    // Services naming items by id say what the item was: what is kept here by its id
    // (or by the id of its path, given before ids were the service's) goes with it.
    let (mut ids, path) = match state.pipeline.call(Some(account_ref(&account)), op).await? {
        Outcome::Entry { entry, .. } => (vec![entry.wire_id(), entry.path.id()], entry.path),
        _ => (Vec::new(), item.path().cloned().unwrap_or_default()),
    };
    ids.push(id);
    ids.dedup();
    for id in &ids {
        if kind == ItemKind::File {
            cloudbridge_shared::db::properties::clear(&state.db, account.id, id).await?;
        }
        // Its links end with it (and, for a folder, those of the files below it).
        let folder = (kind == ItemKind::Folder).then(|| path.as_str().to_string());
        cloudbridge_shared::db::links::forget_item(&state.db, account.id, id, folder.as_deref())
            .await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v1/accounts/{acct}/storage/files/{id}`
#[utoipa::path(
    get,
    path = "/accounts/{acct}/storage/files/{id}",
    tag = "storage",
    summary = "Get a file",
    operation_id = "files_get",
    params(
        ("acct" = String, Path, description = "Account id, or `me` with a bearer token."),
        ("id" = String, Path, description = "Id of the item (`root` for the root folder)."),
    ),
    responses(
        (status = 200, description = "The file.", body = crate::contract::JsonObject),
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
    metadata(&state, &caller, &base, ids, ItemKind::File).await
}

/// `DELETE /v1/accounts/{acct}/storage/files/{id}`
#[utoipa::path(
    delete,
    path = "/accounts/{acct}/storage/files/{id}",
    tag = "storage",
    summary = "Delete a file",
    operation_id = "files_delete",
    params(
        ("acct" = String, Path, description = "Account id, or `me` with a bearer token."),
        ("id" = String, Path, description = "Id of the item (`root` for the root folder)."),
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
) -> Result<StatusCode, ApiError> {
    remove(&state, &caller, ids, ItemKind::File, false).await
}

/// Asks a worker where a file's bytes are.
pub async fn plan_download(
    state: &AppState,
    source: &AccountRef,
    item: ItemRef,
) -> Result<(TransferPlan, Entry), ApiError> {
    let outcome = state
        .pipeline
        .call(Some(source.clone()), Op::PlanDownload { item })
        .await?;
    let Outcome::Download { plan, entry } = outcome else {
        return Err(ApiError::internal("download was not planned"));
    };
    Ok((plan, entry))
}

/// Opens a file's bytes on its service (planned by a worker, streamed by this tier).
pub async fn fetch(
    state: &AppState,
    source: &AccountRef,
    item: ItemRef,
) -> Result<(transfer::Download, Entry), ApiError> {
    let (plan, entry) = plan_download(state, source, item).await?;
    let download = transfer_for(state, source)
        .open_download(&plan, None)
        .await?;
    Ok((download, entry))
}

/// `GET /v1/accounts/{acct}/storage/files/{id}/contents`
#[utoipa::path(
    get,
    path = "/accounts/{acct}/storage/files/{id}/contents",
    tag = "storage",
    summary = "Download a file",
    operation_id = "files_download",
    params(
        ("acct" = String, Path, description = "Account id, or `me` with a bearer token."),
        ("id" = String, Path, description = "Id of the item (`root` for the root folder)."),
    ),
    responses(
        (status = 200, description = "The file's bytes (206 for a range).", body = crate::contract::Bytes, content_type = "*/*"),
        crate::contract::ServiceErrors,
    ),
    security(("bearer" = []), ("api_key" = [])),
)]
pub async fn download(
    State(state): State<AppState>,
    caller: AppCaller,
    Path((acct, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let account = caller.account(&state, &acct).await?;
    let item = ItemRef::from_id(&id)?;
    serve(&state, &account_ref(&account), item, &headers).await
}

/// A file's bytes as an HTTP response: streamed, never buffered whole; one byte `Range`
/// is honoured (206), an unsatisfiable one answers 416.
pub async fn serve(
    state: &AppState,
    source: &AccountRef,
    item: ItemRef,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let (plan, entry) = plan_download(state, source, item).await?;
    stream(state, source, plan, entry, headers).await
}

/// Streams the file `entry` along a download plan (ranges from `headers`).
pub async fn stream(
    state: &AppState,
    source: &AccountRef,
    plan: TransferPlan,
    entry: Entry,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let size = entry.size.unwrap_or(0);
    let spec = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(range::parse);
    let range = match spec.map(|spec| range::resolve(spec, size)) {
        Some(None) => {
            let mut response = ApiError::new(
                416,
                "range_not_satisfiable",
                format!("The file has {size} bytes."),
            )
            .into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
                response.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            return Ok(response);
        }
        Some(resolved) => resolved,
        None => None,
    };
    let download = transfer_for(state, source)
        .open_download(&plan, range)
        .await?;
    let mut response = Body::from_stream(download.body).into_response();
    if range.is_some() {
        *response.status_mut() = StatusCode::PARTIAL_CONTENT;
    }
    let headers = response.headers_mut();
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Some((start, end)) = range {
        if let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{end}/{size}")) {
            headers.insert(header::CONTENT_RANGE, v);
        }
    }
    let mime = entry
        .mime_type
        .as_deref()
        .unwrap_or("application/octet-stream");
    if let Ok(v) = HeaderValue::from_str(mime) {
        headers.insert(header::CONTENT_TYPE, v);
    }
    if let Some(length) = download.length {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    }
    let disposition = format!(
        "attachment; filename*=UTF-8''{}",
        url_escape(entry.path.name())
    );
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}

fn url_escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Streams `body` into a new file `name` in `parent` of `target`: a worker plans it, the
/// bytes go straight to the service, a worker commits it (or discards it on failure).
pub async fn store<S, E>(
    state: &AppState,
    target: &AccountRef,
    parent: ItemRef,
    name: String,
    overwrite: bool,
    body: S,
    length: Option<u64>,
) -> Result<Entry, ApiError>
where
    S: futures::Stream<Item = Result<bytes::Bytes, E>> + Unpin + Send + 'static,
    E: std::fmt::Display + Send + Sync + 'static,
{
    let plan_op = Op::PlanUpload {
        parent: parent.clone(),
        name: name.clone(),
        overwrite,
    };
    let Outcome::Upload { plan } = state.pipeline.call(Some(target.clone()), plan_op).await? else {
        return Err(ApiError::internal("upload was not planned"));
    };
    let staged = plan.staged().unwrap_or_default().to_string();
    let limit = state.settings.api.max_upload_bytes;
    let transfer = transfer_for(state, target);
    // If the client goes away, this request's future is dropped mid-write: the guard
    // still has the staged bytes discarded (housekeeping removes what this misses).
    let mut guard = AbortOnDrop {
        state: state.clone(),
        target: target.clone(),
        staged: Some(staged.clone()),
    };
    if let Err(e) = transfer.write_upload(&plan, body, limit, length).await {
        guard.staged = None;
        let abort = Op::AbortUpload { staged };
        let _ = state.pipeline.call(Some(target.clone()), abort).await;
        return Err(e);
    }
    guard.staged = None;
    let commit = Op::CommitUpload {
        staged,
        parent,
        name,
        overwrite,
    };
    let outcome = state.pipeline.call(Some(target.clone()), commit).await?;
    Ok(expect_entry(outcome, ItemKind::File)?.0)
}

/// Discards a staged upload when dropped while still armed.
struct AbortOnDrop {
    state: AppState,
    target: AccountRef,
    staged: Option<String>,
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(staged) = self.staged.take() {
            let (state, target) = (self.state.clone(), self.target.clone());
            tokio::spawn(async move {
                let abort = Op::AbortUpload { staged };
                let _ = state.pipeline.call(Some(target), abort).await;
            });
        }
    }
}

/// `POST /v1/accounts/{acct}/storage/files`: raw body (any or no Content-Type) with
/// `X-Kloudless-Metadata`; `overwrite=true` replaces, otherwise a free name is chosen.
/// A JSON body `{url, parent_id, name}` uploads from a URL instead (as a task with
/// `X-Kloudless-Async: true`).
#[utoipa::path(
    post,
    path = "/accounts/{acct}/storage/files",
    tag = "storage",
    summary = "Upload a file",
    operation_id = "files_upload",
    params(
        ("acct" = String, Path, description = "Account id, or `me` with a bearer token."),
        ("overwrite" = Option<bool>, Query, description = "Replace a file of the same name."),
    ),
    request_body(content = Option<crate::contract::Bytes>, content_type = "application/octet-stream", description = "The bytes; `X-Kloudless-Metadata: {\"name\", \"parent_id\"}` names the file. Or JSON `{url, parent_id, name}`: an upload from a URL."),
    responses(
        (status = 201, description = "The file.", body = crate::contract::JsonObject),
        crate::contract::ServiceErrors,
    ),
    security(("bearer" = []), ("api_key" = [])),
)]
pub async fn upload(
    State(state): State<AppState>,
    caller: AppCaller,
    BaseUrl(base): BaseUrl,
    Path(acct): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    request: Request,
) -> Result<Response, ApiError> {
    let account = caller.account(&state, &acct).await?;
    let overwrite = flag(&q, "overwrite")?;
    let Some(raw) = headers.get("x-kloudless-metadata") else {
        let json = headers
            .get(header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
        if !json {
            return Err(ApiError::invalid_parameters(
                "The X-Kloudless-Metadata header is required.",
            ));
        }
        let limit = state.settings.api.max_json_bytes;
        let bytes = axum::body::to_bytes(request.into_body(), limit)
            .await
            .map_err(|_| ApiError::invalid_parameters("The JSON body is too large or cut."))?;
        let body: FromUrl = serde_json::from_slice(&bytes)
            .map_err(|e| ApiError::invalid_parameters(format!("Invalid JSON body: {e}")))?;
        refuse_nul_in_json(&bytes, "JSON strings")?;
        let deferred = tasks::wanted(&headers, &q);
        let operation = from_url(state.clone(), account.clone(), base, body, overwrite);
        return tasks::run(&state, account.id, deferred, operation).await;
    };
    let crate::parse::UploadMetadata { name, parent } =
        crate::parse::upload_metadata(raw.as_bytes())?;
    let target = account_ref(&account);

    let length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    let body = request.into_body().into_data_stream();
    let entry = store(&state, &target, parent, name, overwrite, body, length).await?;
    Ok((
        StatusCode::CREATED,
        Json(wire::entry(&entry, account.id, &base)),
    )
        .into_response())
}

/// `PUT /v1/accounts/{acct}/storage/files/{id}`: replaces the file's contents (raw body),
/// streamed like any upload and committed over the old file at once.
#[utoipa::path(
    put,
    path = "/accounts/{acct}/storage/files/{id}",
    tag = "storage",
    summary = "Replace a file's contents",
    operation_id = "files_replace",
    params(
        ("acct" = String, Path, description = "Account id, or `me` with a bearer token."),
        ("id" = String, Path, description = "Id of the item (`root` for the root folder)."),
    ),
    request_body(content = Option<crate::contract::Bytes>, content_type = "application/octet-stream"),
    responses(
        (status = 200, description = "The file, with its new contents.", body = crate::contract::JsonObject),
        crate::contract::ServiceErrors,
    ),
    security(("bearer" = []), ("api_key" = [])),
)]
pub async fn replace(
    State(state): State<AppState>,
    caller: AppCaller,
    BaseUrl(base): BaseUrl,
    Path((acct, id)): Path<(String, String)>,
    headers: HeaderMap,
    request: Request,
) -> Result<Json<Value>, ApiError> {
    let account = caller.account(&state, &acct).await?;
    let item = ItemRef::from_id(&id)?;
    let target = account_ref(&account);
    let outcome = state
        .pipeline
        .call(Some(target.clone()), Op::Metadata { item })
        .await?;
    let (current, _) = expect_entry(outcome, ItemKind::File)?;
    let parent = current
        .parent_ref()
        .ok_or_else(|| ApiError::not_found("No file has this id."))?;
    let path = current.path;
    let length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    let body = request.into_body().into_data_stream();
    let name = path.name().to_string();
    let entry = store(&state, &target, parent, name, true, body, length).await?;
    Ok(Json(wire::entry(&entry, account.id, &base)))
}

/// Body of an upload from a URL.
#[derive(Debug, Deserialize)]
struct FromUrl {
    url: Option<String>,
    parent_id: Option<String>,
    name: Option<String>,
}

/// Fetches `body.url` (public addresses only, unless configured) and streams it into the
/// account like any upload.
async fn from_url(
    state: AppState,
    account: Account,
    base: String,
    body: FromUrl,
    overwrite: bool,
) -> tasks::Answer {
    let url = body
        .url
        .ok_or_else(|| ApiError::invalid_parameters("`url` is required."))?;
    let name = body
        .name
        .or_else(|| remote::name_of(&url))
        .ok_or_else(|| ApiError::invalid_parameters("`name` is required for this URL."))?;
    let parent = parent_path(body.parent_id.as_deref())?;
    let response = remote::open(&url, &state.settings.network.url_uploads()).await?;
    let length = response.content_length();
    let stream = response.bytes_stream();
    let target = account_ref(&account);
    let entry = store(&state, &target, parent, name, overwrite, stream, length).await?;
    Ok((StatusCode::CREATED, wire::entry(&entry, account.id, &base)))
}

/// Body of `POST /v1/accounts/{acct}/storage/files/upload_url`.
#[derive(Debug, Deserialize)]
pub struct UploadUrlBody {
    parent_id: Option<String>,
    name: Option<String>,
}

/// `POST /v1/accounts/{acct}/storage/files/upload_url`: a URL the client uploads the
/// file to itself, where the service presigns uploads (object stores); 501 elsewhere.
#[utoipa::path(
    post,
    path = "/accounts/{acct}/storage/files/upload_url",
    tag = "storage",
    summary = "Get an upload URL",
    operation_id = "files_upload_url",
    params(
        ("acct" = String, Path, description = "Account id, or `me` with a bearer token."),
    ),
    request_body(content = crate::contract::JsonObject, content_type = "application/json"),
    responses(
        (status = 201, description = "A URL to upload to directly.", body = crate::contract::JsonObject),
        crate::contract::ServiceErrors,
    ),
    security(("bearer" = []), ("api_key" = [])),
)]
pub async fn upload_url(
    State(state): State<AppState>,
    caller: AppCaller,
    Path(acct): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    Json(body): Json<UploadUrlBody>,
) -> Result<Json<Value>, ApiError> {
    let account = caller.account(&state, &acct).await?;
    let overwrite = flag(&q, "overwrite")?;
    let name = body
        .name
        .ok_or_else(|| ApiError::invalid_parameters("`name` is required."))?;
    let parent = parent_path(body.parent_id.as_deref())?;
    let op = Op::PlanUpload {
        parent,
        name,
        overwrite,
    };
    let outcome = state.pipeline.call(Some(account_ref(&account)), op).await?;
    match outcome {
        Outcome::Upload {
            plan:
                TransferPlan::Http {
                    method,
                    url,
                    headers,
                    staged,
                },
        } => {
            let headers: serde_json::Map<String, Value> = headers
                .into_iter()
                .map(|(k, v)| (k, Value::String(v)))
                .collect();
            let id = staged.unwrap_or_default();
            Ok(Json(serde_json::json!({
                "url": url,
                "method": method,
                "headers": headers,
                "id": id,
                "account": account.id,
                "expires_in": 900,
                "api": "storage",
                "type": "upload_url",
            })))
        }
        Outcome::Upload { plan } => {
            // Staged elsewhere: nothing to leave behind.
            if let Some(staged) = plan.staged().map(str::to_string) {
                let abort = Op::AbortUpload { staged };
                let _ = state
                    .pipeline
                    .call(Some(account_ref(&account)), abort)
                    .await;
            }
            Err(ApiError::not_implemented(format!(
                "The `{}` service cannot presign uploads; upload through the API.",
                account.service
            )))
        }
        other => Err(ApiError::internal(format_args!(
            "unexpected outcome {other:?}"
        ))),
    }
}
