//! The Kloudless OAuth endpoints (spec §3.1): an application sends its user to
//! `GET /v1/oauth`; Cloudbridge shows a chooser and consent page, sends the browser to the
//! chosen service (or, for a service connected by credentials, asks for them on a form of
//! its own), takes the service's callback, stores the account and its tokens, and
//! returns to the application with a code (`response_type=code`, exchanged at
//! `POST /v1/oauth/token`) or, in the popup flow, posts a bearer token to the opener.
//!
//! # Layout
//! - [`request`]: the application's request, checked (client, redirect URI, scope).
//! - [`authorize`]: `GET /v1/oauth` and the chooser form's `POST`.
//! - [`credentials`]: the form of the services connected by credentials, and its `POST`.
//! - [`callback`]: the service's redirect back, the code exchange, the account.
//! - [`token`]: `POST /v1/oauth/token` and `GET /v1/oauth/token`.

pub mod authorize;
pub mod callback;
pub mod credentials;
pub mod request;
pub mod token;

use axum::{
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Redirect, Response},
};

use cloudbridge_shared::ApiError;

use crate::html;

/// The redirect URI of the popup flow: the result is posted to the opener window.
pub const OOB: &str = "urn:ietf:wg:oauth:2.0:oob";

/// Name of the cookie that binds a flow to the browser that started it.
const COOKIE: &str = "cloudbridge_oauth";

/// The flow cookie's value, if the browser sent one.
fn browser_secret(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_string())
}

/// A page telling the person what went wrong, when there is no verified place to send
/// them back to.
fn error_page(status: StatusCode, message: &str) -> Response {
    let message = html::escape(message);
    html::page(
        status,
        "Cannot connect",
        &format!("<h1>Cannot connect the account</h1><p>{message}</p>"),
    )
}

/// An extractor's refusal (a NUL in a field, an unreadable body) on an OAuth page: a
/// browser is looking at these routes, so it is shown as a page, not as JSON.
fn refused_page(e: ApiError) -> Response {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
    error_page(status, &e.message)
}

/// Sends the browser back to the application with an OAuth error.
fn error_redirect(
    redirect_uri: &str,
    state: Option<&str>,
    error: &str,
    description: &str,
) -> Response {
    if redirect_uri == OOB {
        // Before a popup flow exists there is no window to post to: say it here.
        return error_page(StatusCode::BAD_REQUEST, description);
    }
    let mut pairs = vec![("error", error), ("error_description", description)];
    if let Some(state) = state {
        pairs.push(("state", state));
    }
    back_to(redirect_uri, &pairs)
}

/// A 302 to `redirect_uri` with `pairs` added to its query.
fn back_to(redirect_uri: &str, pairs: &[(&str, &str)]) -> Response {
    let Ok(mut url) = url::Url::parse(redirect_uri) else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "The redirect URI is not a valid URL.",
        );
    };
    url.query_pairs_mut().extend_pairs(pairs);
    let mut response = Redirect::to(url.as_str()).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
