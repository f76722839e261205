//! Staging one chunk of a computer upload: checked against its upload (chunk 0 starts it,
//! once what the picker announced adds up; the others come in order), written as the part
//! of the upload's multipart session, and the upload moved on. Any chunk of an upload
//! stored already is taken as sent again and answered as before.

use axum::body::Body;
use cloudbridge_connectors::parts::{self, Layout};
use cloudbridge_shared::{
    db::{
        self,
        drop_uploads::{DropUpload, Key, NewDrop},
    },
    ApiError,
};
use serde_json::{json, Value};

use super::{remove_parts, Target};
use crate::{parse::DropChunk, AppState};

/// The parts layout of an upload: its chunks.
pub(super) fn layout(upload: &DropUpload) -> Layout {
    Layout {
        size: upload.size as u64,
        part_size: upload.part_size as u64,
    }
}

/// What a chunk did.
pub(super) enum Received {
    /// It is staged; more are to come (the answer says how far the upload is).
    More(Value),
    /// It was the last one: the upload is whole.
    Last(DropUpload),
    /// The last chunk of an upload stored already, sent again: the answer it got.
    Stored(Value),
}

/// A refused chunk, and whether its upload is discarded with it (a size or count that
/// cannot be true, which retrying cannot mend).
pub(super) struct Refused {
    /// The answer.
    pub error: ApiError,
    /// Discard the upload.
    pub discard: bool,
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
pub(super) async fn receive(
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
