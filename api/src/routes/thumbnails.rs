//! Storage API: thumbnails of files. A worker plans each one (a `local` image is made
//! into the cache on disk; a cloud service's is found by the file's id) and the bytes are
//! streamed here, never through Redis.

use std::collections::HashMap;

use axum::{
    body::Body,
    extract::State,
    http::{header, HeaderValue},
    response::{IntoResponse, Response},
};
use cloudbridge_connectors::transfer::Transfer;
use cloudbridge_shared::{protocol::Op, thumbnail::ThumbnailSpec, ApiError, ItemRef, Outcome};

use crate::{
    auth::AppCaller,
    extract::{Path, Query},
    routes::files::account_ref,
    AppState,
};

/// `GET /v1/accounts/{acct}/storage/files/{id}/thumbnail?size=&image_format=`: an image
/// of the file, neither side above `size` pixels (1–2048, default 256) on `local` (which
/// makes them of PNG, JPEG, GIF, WebP and BMP images), the service's nearest size on Google
/// Drive, OneDrive, Dropbox and Box; `image_format` (`png`, the default, or `jpeg`) is
/// honoured where the service lets it be chosen, and `Content-Type` says what came.
#[utoipa::path(
    get,
    path = "/accounts/{acct}/storage/files/{id}/thumbnail",
    tag = "storage",
    summary = "Get a thumbnail",
    operation_id = "files_thumbnail",
    params(
        ("acct" = String, Path, description = "Account id, or `me` with a bearer token."),
        ("id" = String, Path, description = "Id of the file."),
        ("size" = Option<u32>, Query, description = "Largest width and height in pixels, 1 to 2048 (default 256).", minimum = 1, maximum = 2048),
        ("image_format" = Option<String>, Query, description = "`png` (default) or `jpeg`."),
    ),
    responses(
        (status = 200, description = "The thumbnail (`image/png`, `image/jpeg`…).", body = crate::contract::Bytes, content_type = "image/*"),
        crate::contract::ThumbnailErrors,
    ),
    security(("bearer" = []), ("api_key" = [])),
)]
pub async fn get(
    State(state): State<AppState>,
    caller: AppCaller,
    Path((acct, id)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let account = caller.account(&state, &acct).await?;
    let spec = ThumbnailSpec::parse(
        q.get("size").map(String::as_str),
        q.get("image_format").map(String::as_str),
    )?;
    let item = ItemRef::from_id(&id)?;
    let source = account_ref(&account);
    let outcome = state
        .pipeline
        .call(Some(source.clone()), Op::PlanThumbnail { item, spec })
        .await?;
    let Outcome::Thumbnail { thumbnail } = outcome else {
        return Err(ApiError::internal(format_args!(
            "unexpected outcome {outcome:?}"
        )));
    };
    let transfer = Transfer {
        ctx: &state.connectors,
        account: &source,
    };
    let image = transfer.open_thumbnail(&thumbnail).await?;
    let mut response = Body::from_stream(image.download.body).into_response();
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&image.content_type) {
        headers.insert(header::CONTENT_TYPE, v);
    }
    if let Some(length) = image.download.length {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    }
    // It is the account's data: no shared cache keeps it.
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=300"),
    );
    Ok(response)
}
