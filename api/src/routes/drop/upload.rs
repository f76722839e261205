//! `POST /drop/{app_id}?name&chunk&chunks&file_id&file_size[&link&link_options]`: one chunk
//! of a file the File Picker uploads from the computer (Plupload: raw bytes, chunks of one
//! file in order, each re-sent up to twice after a failure).
//!
//! An upload is a multipart session of the upload location's account, fed chunk by chunk:
//! chunk `i` is part `i + 1`, staged on the data root by the multipart machinery (streamed,
//! never more than a chunk's bytes read). Chunk 0 starts the upload afresh; the others
//! must come in order (the last one may be sent again). Once the last chunk is in, the
//! parts go to the service like any upload, under a free name (never overwriting), and the
//! answer is the file's metadata.

use std::collections::HashMap;

use axum::{
    body::Body,
    extract::State,
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use cloudbridge_connectors::parts::{self, Layout};
use cloudbridge_shared::{
    db::{
        self,
        drop_uploads::{DropUpload, Key, NewDrop},
    },
    ApiError,
};
use serde_json::{json, Value};

use super::{count, picker_id, remove_parts, target, Target};
use crate::{
    extract::{BaseUrl, Json, Path, Query},
    parse::{drop_chunk, DropChunk},
    routes::{
        files::{account_ref, store},
        folders::parent_path,
        links,
    },
    wire, AppState,
};

fn layout(upload: &DropUpload) -> Layout {
    Layout {
        size: upload.size as u64,
        part_size: upload.part_size as u64,
    }
}

/// `POST /drop/{app_id}`: one chunk; the last one answers the stored file.
#[utoipa::path(
    post,
    path = "/drop/{app_id}",
    tag = "widgets",
    summary = "Upload a chunk from the File Picker",
    operation_id = "drop_upload",
    params(
        ("app_id" = String, Path, description = "The application id."),
        ("name" = String, Query, min_length = 1, description = "The file's name."),
        ("file_id" = String, Query, min_length = 1, description = "The picker's id of the file."),
        ("file_size" = u64, Query, description = "The whole file's size in bytes."),
        ("chunk" = Option<u32>, Query, description = "This chunk, 0-based (with `chunks`)."),
        ("chunks" = Option<u32>, Query, description = "How many chunks the file is sent in."),
        ("link" = Option<bool>, Query, description = "Also make a shared link to the file."),
        ("link_options" = Option<String>, Query, description = "The link's options (JSON)."),
        ("X-Picker-Id" = String, Header, description = "The picker's id."),
        ("X-Drop-Account" = Option<String>, Header, description = "The upload location's account."),
        ("X-Drop-Folder" = Option<String>, Header, description = "The upload location's folder."),
    ),
    request_body(content = crate::contract::Bytes, content_type = "application/octet-stream"),
    responses(
        (status = 200, description = "The chunk is staged.", body = crate::contract::JsonObject),
        (status = 201, description = "The last chunk: the stored file (with `link` when asked).", body = crate::contract::JsonObject),
        crate::contract::ServiceErrors,
    ),
)]
pub async fn upload(
    State(state): State<AppState>,
    BaseUrl(base): BaseUrl,
    Path(app_id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let target = target(&state, &app_id, &headers).await?;
    let picker = picker_id(&headers)?;
    let chunk = drop_chunk(&q).inspect_err(|_| count("rejected"))?;
    let link = chunk.link.clone().map(links::options).transpose()?;
    let length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    let key = Key {
        application: &target.app.id,
        picker_id: &picker,
        file_id: &chunk.file_id,
    };
    let upload = match receive(&state, &target, key, &chunk, length, body).await {
        Ok(Received::More(progress)) => return Ok((StatusCode::OK, Json(progress)).into_response()),
        Ok(Received::Stored(answer)) => {
            return Ok((StatusCode::CREATED, Json(answer)).into_response())
        }
        Ok(Received::Last(upload)) => upload,
        Err(Refused { error, discard }) => {
            count("rejected");
            if discard {
                let session = db::drop_uploads::discard(&state.db, key).await?;
                remove_parts(&state, session).await?;
            }
            return Err(error);
        }
    };
    let (session, file) = finish(&state, &target, &upload, &base).await?;
    // The file is there: whatever happens to its link, a chunk sent again gets this file.
    let linked = match link {
        None => Ok(file.clone()),
        Some(options) => with_link(&state, &target, file.clone(), options, &base).await,
    };
    let answer = linked.as_ref().unwrap_or(&file);
    let ttl = state.settings.widgets.drop_ttl_secs as i64;
    db::drop_uploads::complete(&state.db, upload.id, session, answer, ttl).await?;
    parts::remove(&state.data_root, session).await?;
    count("stored");
    Ok((StatusCode::CREATED, Json(linked?)).into_response())
}

/// `file` with `link`: the URL of a new shared link to it with `options`.
async fn with_link(
    state: &AppState,
    target: &Target,
    mut file: Value,
    options: links::LinkBody,
    base: &str,
) -> Result<Value, ApiError> {
    let id = file["id"].as_str().unwrap_or_default().to_string();
    let link = links::create_for(state, &target.account, &id, options).await?;
    file["link"] = wire::link(&link, base)["url"].clone();
    Ok(file)
}

/// What a chunk did.
enum Received {
    /// It is staged; more are to come (the answer says how far the upload is).
    More(Value),
    /// It was the last one: the upload is whole.
    Last(DropUpload),
    /// The last chunk of an upload stored already, sent again: the answer it got.
    Stored(Value),
}

/// A refused chunk, and whether its upload is discarded with it (a size or count that
/// cannot be true, which retrying cannot mend).
struct Refused {
    error: ApiError,
    discard: bool,
}

impl Refused {
    fn keep(error: ApiError) -> Self {
        Self {
            error,
            discard: false,
        }
    }

    fn discard(error: ApiError) -> Self {
        Self {
            error,
            discard: true,
        }
    }
}

impl From<ApiError> for Refused {
    fn from(error: ApiError) -> Self {
        Self::keep(error)
    }
}

impl From<sqlx::Error> for Refused {
    fn from(error: sqlx::Error) -> Self {
        Self::keep(error.into())
    }
}

/// How far an upload is, as intermediate chunks answer.
fn progress(upload: &DropUpload, chunk: u32, received: u64) -> Value {
    json!({
        "file_id": upload.file_id,
        "chunk": chunk,
        "chunks": upload.chunks,
        "received": received,
        "size": upload.size,
    })
}

/// True when `chunk` belongs to `upload`: the same file, sent to the same location.
fn same_file(upload: &DropUpload, chunk: &DropChunk, target: &Target) -> bool {
    upload.name == chunk.name
        && upload.size as u64 == chunk.size
        && upload.chunks as u32 == chunk.chunks
        && upload.location_id == target.location.id
}

/// Stages one chunk: checks it against the upload (started by chunk 0), writes it as its
/// part, and moves the upload on. Any chunk of an upload stored already is taken as sent
/// again (Plupload retries when an answer is lost) and not written.
async fn receive(
    state: &AppState,
    target: &Target,
    key: Key<'_>,
    chunk: &DropChunk,
    length: Option<u64>,
    body: Body,
) -> Result<Received, Refused> {
    let widgets = &state.settings.widgets;
    if chunk.size > widgets.drop_max_bytes {
        return Err(Refused::discard(ApiError::new(
            413,
            "request_too_large",
            format!(
                "The file is too large: uploads from the computer have at most {} bytes.",
                widgets.drop_max_bytes
            ),
        )));
    }
    if length.is_some_and(|l| l > widgets.drop_chunk_bytes) {
        return Err(Refused::discard(ApiError::new(
            413,
            "request_too_large",
            format!(
                "A chunk has at most {} bytes (the chunk_size of GET /drop).",
                widgets.drop_chunk_bytes
            ),
        )));
    }
    let existing = db::drop_uploads::get(&state.db, key).await?;
    if let Some(upload) = existing.as_ref().filter(|u| u.stored.is_some()) {
        return again(upload, chunk, target);
    }
    if existing.as_ref().is_some_and(|u| u.completing) {
        return Err(Refused::keep(ApiError::new(
            409,
            "conflict",
            "This file is being stored; send its last chunk again shortly.",
        )));
    }
    let upload = match existing {
        _ if chunk.chunk == 0 => start(state, target, key, chunk, length).await?,
        Some(upload) => resume(upload, target, chunk)?,
        None => {
            return Err(Refused::keep(ApiError::invalid_parameters(format!(
                "No upload of file `{}` is in progress: send chunk 0 first.",
                key.file_id
            ))))
        }
    };
    let session = upload
        .multipart_id
        .ok_or_else(|| ApiError::internal("an unfinished upload has no session"))?;
    let layout = layout(&upload);
    let part = chunk.chunk + 1;
    let expected = layout.expected(part).unwrap_or_default();
    if length.is_some_and(|l| l != expected) {
        return Err(Refused::discard(ApiError::invalid_parameters(format!(
            "Chunk {} must have {expected} bytes for a file of {} bytes in {} chunks.",
            chunk.chunk, upload.size, upload.chunks
        ))));
    }
    let stream = body.into_data_stream();
    let written = parts::write_part(&state.data_root, session, layout, part, stream)
        .await
        .map_err(|e| match e.code.as_str() {
            // Not the size it must be: the file is not what was announced.
            "invalid_parameters" => Refused::discard(e),
            _ => Refused::keep(e),
        })?;
    let received = u64::from(chunk.chunk) * layout.part_size + written;
    let ttl = widgets.drop_ttl_secs as i64;
    db::drop_uploads::advance(&state.db, upload.id, part as i32, received as i64, ttl).await?;
    if part < layout.count() {
        return Ok(Received::More(progress(&upload, chunk.chunk, received)));
    }
    Ok(Received::Last(upload))
}

/// A chunk of an upload stored already: the same answer as before for the last one, the
/// progress of a whole file for the others; a different file under the same ids is a lie.
fn again(upload: &DropUpload, chunk: &DropChunk, target: &Target) -> Result<Received, Refused> {
    if !same_file(upload, chunk, target) {
        return Err(Refused::discard(ApiError::invalid_parameters(
            "This file id was used for another file.",
        )));
    }
    let last = chunk.chunk + 1 >= layout(upload).count();
    match &upload.stored {
        Some(answer) if last => Ok(Received::Stored(answer.clone())),
        _ => Ok(Received::More(progress(
            upload,
            chunk.chunk,
            upload.size as u64,
        ))),
    }
}

/// Chunk 0: a new upload of the file (replacing an unfinished one), once what the picker
/// announced adds up: `chunks` chunks of the size of this one (the picker's chunk size)
/// make `file_size` bytes.
async fn start(
    state: &AppState,
    target: &Target,
    key: Key<'_>,
    chunk: &DropChunk,
    length: Option<u64>,
) -> Result<DropUpload, Refused> {
    let widgets = &state.settings.widgets;
    let most = widgets.drop_chunk_bytes.max(1);
    // The picker's chunk size is the size of every chunk but the last.
    let part_size = match (chunk.chunks, length) {
        (n, Some(l)) if n > 1 && l > 0 => l,
        _ => most,
    };
    let layout = Layout {
        size: chunk.size,
        part_size,
    };
    let count = if chunk.size == 0 {
        chunk.chunks.max(1)
    } else {
        chunk.chunks
    };
    if count != layout.count() {
        return Err(Refused::discard(ApiError::invalid_parameters(format!(
            "{} bytes in chunks of {part_size} bytes are {} chunks, not {}.",
            chunk.size,
            layout.count(),
            chunk.chunks
        ))));
    }
    let open = db::drop_uploads::open_count(&state.db, key.application).await?;
    if open >= i64::from(widgets.drop_max_open) {
        let mut busy = ApiError::new(
            429,
            "rate_limit_exceeded",
            "This application has too many unfinished uploads; retry later.",
        );
        busy.retry_after = Some(60);
        return Err(Refused::keep(busy));
    }
    let new = NewDrop {
        location_id: target.location.id,
        account_id: target.account.id,
        parent_id: target.location.parent_id.clone(),
        name: chunk.name.clone(),
        size: chunk.size as i64,
        chunks: chunk.chunks as i32,
        part_size: part_size as i64,
        ttl_secs: widgets.drop_ttl_secs as i64,
    };
    let Some((upload, replaced)) = db::drop_uploads::start(&state.db, key, new).await? else {
        return Err(Refused::keep(ApiError::new(
            409,
            "conflict",
            "This file's upload is being started or completed by another request.",
        )));
    };
    remove_parts(state, replaced).await?;
    Ok(upload)
}

/// A later chunk of an unfinished upload: the same file, and this chunk the next one (or
/// the one before, sent again).
fn resume(upload: DropUpload, target: &Target, chunk: &DropChunk) -> Result<DropUpload, Refused> {
    if !same_file(&upload, chunk, target) {
        return Err(Refused::discard(ApiError::invalid_parameters(
            "This chunk's name, size, chunk count or upload location differ from its upload's.",
        )));
    }
    let next = upload.next_chunk as u32;
    if chunk.chunk != next && chunk.chunk + 1 != next {
        return Err(Refused::keep(ApiError::invalid_parameters(format!(
            "Chunk {} is out of order: chunk {next} is expected next.",
            chunk.chunk
        ))));
    }
    Ok(upload)
}

/// Stores the whole upload in its location under a free name; returns its session (to be
/// removed once the answer is recorded) and the file's metadata. A failure gives the
/// session back, so the picker may send the last chunk again.
async fn finish(
    state: &AppState,
    target: &Target,
    upload: &DropUpload,
    base: &str,
) -> Result<(i64, Value), ApiError> {
    let account = &target.account;
    let session = upload
        .multipart_id
        .ok_or_else(|| ApiError::internal("an unfinished upload has no session"))?;
    let missing = parts::missing(&state.data_root, session, layout(upload)).await;
    if !missing.is_empty() {
        count("rejected");
        return Err(ApiError::invalid_parameters(
            "Chunks are missing: send the file again from chunk 0.",
        ));
    }
    let session = db::multipart::claim(&state.db, account.id, session)
        .await?
        .ok_or_else(|| ApiError::new(409, "conflict", "This upload is being completed."))?;
    let stored = async {
        let parent = parent_path(Some(&session.parent_id))?;
        let body = parts::read(&state.data_root, session.id, layout(upload));
        let length = Some(session.size as u64);
        let name = session.name.clone();
        store(
            state,
            &account_ref(account),
            parent,
            name,
            false,
            body,
            length,
        )
        .await
    }
    .await;
    match stored {
        Ok(entry) => Ok((session.id, wire::entry(&entry, account.id, base))),
        Err(e) => {
            db::multipart::release(&state.db, session.id).await?;
            count("failed");
            Err(e)
        }
    }
}
