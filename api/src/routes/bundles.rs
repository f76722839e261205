//! `GET /widgets/{path}`: the widgets' bundles ([`crate::bundles`]).

use axum::{
    body::Body,
    extract::{Request, State},
    http::{header, request::Parts, HeaderValue, Method, StatusCode},
    response::{IntoResponse, Response},
};
use cloudbridge_shared::ApiError;
use tower::ServiceExt;
use tower_http::services::ServeDir;

use crate::{
    bundles::{embeddable, Asset, PICKER_DIR},
    extract::{BaseUrl, Path},
    AppState,
};

/// Request headers a static file's answer depends on (conditional and range requests).
const FILE_HEADERS: [header::HeaderName; 4] = [
    header::IF_NONE_MATCH,
    header::IF_MODIFIED_SINCE,
    header::RANGE,
    header::IF_RANGE,
];

/// `GET /widgets/{path}`: a widget's script, the picker's page and assets, its images.
#[utoipa::path(
    get,
    path = "/widgets/{*path}",
    tag = "widgets",
    summary = "The widgets' bundles",
    description = "The Authenticator (`authenticator/v1/authenticator.js`), the File Picker's loader (`file-picker/v2/loader.js`) and page (`file-picker/v2/picker/index.html`), pointing at this appliance.",
    operation_id = "widgets_bundle",
    params(("path" = String, Path, description = "The file, below `/widgets/`.")),
    responses(
        (status = 200, description = "The file.", body = String, content_type = "application/javascript"),
        crate::contract::PublicErrors,
    ),
)]
pub async fn serve(
    State(state): State<AppState>,
    BaseUrl(base): BaseUrl,
    path: Result<Path<String>, ApiError>,
    request: Request,
) -> Response {
    let Path(path) = match path {
        Ok(path) => path,
        Err(e) => return e.into_response(),
    };
    if !embeddable(&base) {
        return ApiError::invalid_parameters("The Host header is not a host name.").into_response();
    }
    let missing = || ApiError::not_found("No such widget file.").into_response();
    let mut response = match state.bundles.asset(&path, &base) {
        None => return missing(),
        Some(Asset::Rewritten(body, content_type)) => {
            ([(header::CONTENT_TYPE, content_type)], body).into_response()
        }
        Some(Asset::Image(svg)) => ([(header::CONTENT_TYPE, "image/svg+xml")], svg).into_response(),
        Some(Asset::PickerFile(_)) => {
            let Some(dir) = state.bundles.picker_dir() else {
                return missing();
            };
            let (parts, _) = request.into_parts();
            match picker_file(dir, &parts).await {
                Some(found) => found,
                None => return missing(),
            }
        }
    };
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    response
}

/// A file of the picker's tree, by the request's own (still percent-encoded) path; `None`
/// when there is no such file.
async fn picker_file(dir: &std::path::Path, request: &Parts) -> Option<Response> {
    let full = request.uri.path();
    let prefix = format!("/widgets/{PICKER_DIR}");
    let rest = full.strip_prefix(prefix.as_str())?;
    let mut inner = Request::builder()
        .method(Method::GET)
        .uri(format!("/{rest}"))
        .body(Body::empty())
        .ok()?;
    for name in FILE_HEADERS {
        if let Some(v) = request.headers.get(&name) {
            inner.headers_mut().insert(name, v.clone());
        }
    }
    let answer = ServeDir::new(dir)
        .append_index_html_on_directories(false)
        .oneshot(inner)
        .await
        .ok()?;
    match answer.status() {
        StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED => None,
        _ => Some(answer.map(Body::new)),
    }
}
