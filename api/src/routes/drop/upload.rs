//! `POST /drop/{app_id}?name&chunk&chunks&file_id&file_size[&link&link_options]`: one chunk
//! of a file the File Picker uploads from the computer (Plupload: raw bytes, chunks of one
//! file in order, each re-sent up to twice after a failure).
//!
//! An upload is a multipart session of the upload location's account, fed chunk by chunk
//! (see `chunk`): chunk `i` is part `i + 1`, staged on the data root by the multipart
//! machinery (streamed, never more than a chunk's bytes read). Once the last chunk is in,
//! the parts go to the service like any upload, under a free name (never overwriting), and
//! the answer is the file's metadata, kept for chunks sent again.

use std::collections::HashMap;

use axum::{
    body::Body,
    extract::State,
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use cloudbridge_connectors::parts;
use cloudbridge_shared::{
    db::{
        self,
        drop_uploads::{DropUpload, Key},
    },
    ApiError,
};
use serde_json::Value;

use super::{
    chunk::{layout, receive, Received, Refused},
    count, picker_id, remove_parts, target, Target,
};
use crate::{
    extract::{BaseUrl, Json, Path, Query},
    parse::drop_chunk,
    routes::{
        files::{account_ref, store},
        folders::parent_path,
        links,
    },
    wire, AppState,
};

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
