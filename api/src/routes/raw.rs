//! `POST /v1/accounts/{acct}/raw`: pass-through requests to the account's service, with
//! its token injected. The target is checked by [`crate::passthrough`]; the upstream
//! answer (status, headers, body) is mirrored, streamed. Small request bodies are kept so
//! that a 401 can be retried once with a refreshed token; large ones stream through once.

use std::{sync::LazyLock, time::Duration};

use axum::{
    body::Body,
    extract::State,
    http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode},
    response::Response,
};
use bytes::Bytes;
use cloudbridge_shared::ApiError;
use futures::TryStreamExt;

use crate::{auth::AppCaller, extract::Path, passthrough, AppState};

/// Request bodies up to this size are kept in memory so that a 401 can be retried.
const RETRYABLE_BODY: u64 = 1 << 20;
/// Same-origin redirects followed for a retryable request.
const MAX_REDIRECTS: usize = 5;

/// Headers that belong to one connection, or to Cloudbridge, never forwarded either way.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
    "authorization",
    "cookie",
    "set-cookie",
];

/// Client of pass-through requests: redirects are checked here, never followed blindly.
fn client() -> reqwest::Client {
    static CLIENT: LazyLock<reqwest::Client> = LazyLock::new(|| {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            .build()
            .expect("pass-through client")
    });
    CLIENT.clone()
}

/// `POST /v1/accounts/{acct}/raw`
#[utoipa::path(
    post,
    path = "/accounts/{acct}/raw",
    tag = "accounts",
    summary = "Pass a request through to the service",
    operation_id = "raw_pass",
    params(
        ("acct" = String, Path, description = "Account id, or `me` with a bearer token."),
    ),
    request_body(content = Option<crate::contract::Bytes>, content_type = "application/octet-stream"),
    responses(
        (status = 200, description = "The service's answer, mirrored (its status, headers and body).", body = crate::contract::Bytes, content_type = "*/*"),
        crate::contract::ServiceErrors,
    ),
    security(("bearer" = []), ("api_key" = [])),
)]
pub async fn pass(
    State(state): State<AppState>,
    caller: AppCaller,
    Path(acct): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let account = caller.account(&state, &acct).await?;
    let provider = state
        .settings
        .providers
        .get(&account.service)
        .ok_or_else(|| {
            ApiError::not_implemented(format!(
                "Pass-through requests need a service with an HTTP API; `{}` has none.",
                account.service
            ))
        })?;
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let mut url = passthrough::target(provider, header("x-kloudless-raw-uri").unwrap_or(""))?;
    let method = method(header("x-kloudless-raw-method"))?;
    let forwarded = forwarded_headers(&headers, header("x-kloudless-raw-headers"))?;
    let mut api = state.connectors.api(&account.job_ref())?;
    api.http = client();

    let length = header("content-length").and_then(|l| l.parse::<u64>().ok());
    let response =
        if length.is_some_and(|l| l <= RETRYABLE_BODY) || length.is_none() && !has_body(&headers) {
            let bytes = axum::body::to_bytes(body, RETRYABLE_BODY as usize)
                .await
                .map_err(|_| ApiError::bad_request("The request body could not be read."))?;
            let mut redirects = 0;
            loop {
                let send = |c: &reqwest::Client| {
                    c.request(method.clone(), url.clone())
                        .headers(forwarded.clone())
                        .body(bytes.clone())
                };
                let response = api.authorized(send, true).await?;
                let Some(next) = redirect(&response, &url, provider)? else {
                    break response;
                };
                redirects += 1;
                if redirects > MAX_REDIRECTS || !matches!(method, Method::GET | Method::HEAD) {
                    break response;
                }
                url = next;
            }
        } else {
            // Streamed once: no retry is possible without keeping the body.
            let stream = body.into_data_stream().map_err(std::io::Error::other);
            let body = std::sync::Mutex::new(Some(reqwest::Body::wrap_stream(stream)));
            let send = |c: &reqwest::Client| {
                let mut req = c
                    .request(method.clone(), url.clone())
                    .headers(forwarded.clone());
                if let Some(body) = body.lock().expect("body slot").take() {
                    req = req.body(body);
                }
                if let Some(length) = length {
                    req = req.header(reqwest::header::CONTENT_LENGTH, length);
                }
                req
            };
            let response = api.authorized(send, false).await?;
            redirect(&response, &url, provider)?;
            response
        };
    Ok(mirror(response))
}

fn method(given: Option<&str>) -> Result<Method, ApiError> {
    let name = given.unwrap_or("GET").trim().to_ascii_uppercase();
    match name.as_str() {
        "GET" | "POST" | "PUT" | "PATCH" | "DELETE" | "HEAD" | "OPTIONS" => {
            Ok(Method::from_bytes(name.as_bytes()).expect("known method"))
        }
        _ => Err(ApiError::invalid_parameters(format!(
            "X-Kloudless-Raw-Method `{name}` is not supported."
        ))),
    }
}

fn has_body(headers: &HeaderMap) -> bool {
    headers.contains_key("transfer-encoding")
}

/// The headers sent upstream: the client's `Content-Type` and `Accept`, then those of
/// `X-Kloudless-Raw-Headers` (a JSON object), never connection or credential headers.
fn forwarded_headers(incoming: &HeaderMap, raw: Option<&str>) -> Result<HeaderMap, ApiError> {
    let mut out = HeaderMap::new();
    for name in ["content-type", "accept"] {
        if let Some(v) = incoming.get(name) {
            out.insert(HeaderName::from_static(name), v.clone());
        }
    }
    let Some(raw) = raw.filter(|r| !r.trim().is_empty()) else {
        return Ok(out);
    };
    let bad = || {
        ApiError::invalid_parameters(
            "X-Kloudless-Raw-Headers must be a JSON object of header values.",
        )
    };
    let parsed: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(raw).map_err(|_| bad())?;
    for (name, value) in parsed {
        let value = match value {
            serde_json::Value::String(s) => s,
            serde_json::Value::Number(n) => n.to_string(),
            serde_json::Value::Bool(b) => b.to_string(),
            _ => return Err(bad()),
        };
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| bad())?;
        if HOP_BY_HOP.contains(&name.as_str()) {
            continue;
        }
        out.insert(name, HeaderValue::from_str(&value).map_err(|_| bad())?);
    }
    Ok(out)
}

/// Where a redirect answer points, if it is one; a redirect off the service's API is
/// refused.
fn redirect(
    response: &reqwest::Response,
    from: &url::Url,
    provider: &cloudbridge_shared::config::ProviderSettings,
) -> Result<Option<url::Url>, ApiError> {
    if !response.status().is_redirection() {
        return Ok(None);
    }
    let Some(location) = response
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|l| l.to_str().ok())
    else {
        return Ok(None);
    };
    let next = from
        .join(location)
        .map_err(|_| ApiError::bad_request("The service redirected to an invalid URL."))?;
    passthrough::target(provider, next.as_str()).map_err(|_| {
        ApiError::bad_request("The service redirected off its own API; the redirect is refused.")
    })?;
    Ok(Some(next))
}

/// The upstream answer, as the client's.
fn mirror(response: reqwest::Response) -> Response {
    let status =
        StatusCode::from_u16(response.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut headers = HeaderMap::new();
    for (name, value) in response.headers() {
        if !HOP_BY_HOP.contains(&name.as_str()) {
            headers.append(name.clone(), value.clone());
        }
    }
    if let Some(length) = response.content_length() {
        headers.insert(reqwest::header::CONTENT_LENGTH, length.into());
    }
    let body = Body::from_stream(response.bytes_stream().map_ok(Bytes::from));
    let mut out = Response::new(body);
    *out.status_mut() = status;
    *out.headers_mut() = headers;
    out.extensions_mut().insert(crate::middleware::Mirrored);
    out
}
