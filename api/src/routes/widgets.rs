//! Pages the Kloudless browser widgets load from the API origin.
//!
//! `GET /static/iexd.html`: the Authenticator and the File Picker put this page in a hidden
//! iframe on every use. Modern browsers never message it; Internet Explorer, which cannot
//! post between a popup and its opener across origins, asks it to open the connect popup on
//! the user's click and to relay the popup's result (docs/widgets-protocol.md §1.5).

use std::collections::HashMap;

use axum::{
    extract::State,
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use cloudbridge_shared::{db::applications::Application, ApiError};
use serde_json::{json, Value};

use super::public::active_application;
use crate::{
    extract::{BaseUrl, Query},
    oauth::request::origin_of,
    AppState,
};

/// The relay: `prepareToOpen[Authenticator]` from the embedding page shows a button that
/// opens the popup; the popup's `authentication` message goes to the page that asked (at
/// its origin only); `close` closes the popup; a blocked popup answers `error`.
const IEXD: &str = r#"<!doctype html><html><head><meta charset="utf-8"><title>Connect</title>
<style>body{margin:0;font:16px sans-serif;display:flex;align-items:center;justify-content:center;height:100vh}
button{font-size:18px;padding:12px 24px}</style></head><body>
<button id="open" hidden>Connect an account</button>
<script>
(function () {
  var PREFIX = "kloudless:", button = document.getElementById("open");
  var popup = null, asked = null, asker = null;
  function read(data) {
    if (typeof data !== "string" || data.indexOf(PREFIX) !== 0) { return null; }
    try { return JSON.parse(data.slice(PREFIX.length)); } catch (e) { return null; }
  }
  function tell(message) {
    if (asker) { window.parent.postMessage(PREFIX + JSON.stringify(message), asker); }
  }
  window.addEventListener("message", function (event) {
    var message = read(event.data);
    if (!message) { return; }
    if (event.source === window.parent) {
      if (message.type === "prepareToOpenAuthenticator" || message.type === "prepareToOpen") {
        asked = message; asker = event.origin; button.hidden = false;
      } else if (message.type === "close" && popup) {
        popup.close(); popup = null; button.hidden = true;
      }
    } else if (popup && event.source === popup && message.type === "authentication" && asker) {
      window.parent.postMessage(event.data, asker);
    }
  });
  button.addEventListener("click", function () {
    if (!asked) { return; }
    popup = window.open(asked.url, "kPOPUP", asked.params || "");
    if (!popup) { tell({ type: "error" }); }
  });
})();
</script></body></html>"#;

/// `GET /static/iexd.html`: the widgets' cross-window relay page.
#[utoipa::path(
    get,
    path = "/static/iexd.html",
    tag = "widgets",
    summary = "The widgets' relay page",
    operation_id = "widgets_iexd",
    responses(
        (status = 200, description = "The page.", body = String, content_type = "text/html"),
        crate::contract::PublicErrors,
    ),
)]
pub async fn iexd() -> Response {
    let mut response = (StatusCode::OK, axum::response::Html(IEXD)).into_response();
    // The same page for everyone, framed by any application's page.
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    response
}

/// What the widgets learn of the application and the page embedding them: `trusted` when
/// the page's origin (from `origin`, an origin or a full URL) is one of the application's
/// trusted domains, so widgets may hand it bearer tokens; `logo_url` when it has a logo.
fn user_data(app: &Application, page: Option<&str>) -> Value {
    let trusted = page
        .and_then(origin_of)
        .is_some_and(|origin| app.trusted_domains.contains(&origin));
    let logo = (!app.logo_url.is_empty()).then_some(app.logo_url.as_str());
    json!({ "user_data": { "trusted": trusted, "logo_url": logo } })
}

/// `GET /file-picker/config?app_id&origin[&upload_location_uri]`: the File Picker's
/// configuration.
#[utoipa::path(
    get,
    path = "/file-picker/config",
    tag = "widgets",
    summary = "The File Picker's configuration",
    operation_id = "widgets_picker_config",
    params(
        ("app_id" = String, Query, min_length = 1, description = "The application id."),
        ("origin" = Option<String>, Query, description = "Origin of the page embedding the picker."),
        ("upload_location_uri" = Option<String>, Query, description = "An upload location of the application."),
    ),
    responses(
        (status = 200, description = "`user_data`: `trusted`, `logo_url`.", body = crate::contract::JsonObject),
        crate::contract::PublicErrors,
    ),
)]
pub async fn picker_config(
    State(state): State<AppState>,
    BaseUrl(base): BaseUrl,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let app = active_application(&state, &q).await?;
    let page = q
        .get("origin")
        .cloned()
        .or_else(|| hosted_picker_origin(&headers, &base));
    Ok(Json(user_data(&app, page.as_deref())))
}

/// The embedding page's origin as the picker this appliance hosts was given it (the
/// `origin` of its page's URL, sent as the `Referer` of its same-origin requests).
///
/// The picker asks for its configuration twice, first without `origin`, then with it
/// once the page has sent its options; the two answers may arrive in either order, and
/// the later wins. Answering both alike keeps a trusted page trusted. It is no weaker
/// than `origin` itself: both come from the picker, and what it hands a page goes by
/// `postMessage` to that origin alone.
fn hosted_picker_origin(headers: &HeaderMap, base: &str) -> Option<String> {
    let referer = headers.get(header::REFERER)?.to_str().ok()?;
    let url = url::Url::parse(referer).ok()?;
    if origin_of(referer)? != origin_of(base)? || !url.path().starts_with("/widgets/file-picker/") {
        return None;
    }
    url.query_pairs()
        .find(|(k, _)| k == "origin")
        .map(|(_, v)| v.into_owned())
}

/// `GET /file-explorer/config?app_id&origin`: the same for the Meeting Scheduler, whose
/// `origin` is the embedding page's whole URL.
#[utoipa::path(
    get,
    path = "/file-explorer/config",
    tag = "widgets",
    summary = "The Meeting Scheduler's configuration",
    operation_id = "widgets_explorer_config",
    params(
        ("app_id" = String, Query, min_length = 1, description = "The application id."),
        ("origin" = Option<String>, Query, description = "URL of the page embedding the widget."),
    ),
    responses(
        (status = 200, description = "`user_data`: `trusted`, `logo_url`.", body = crate::contract::JsonObject),
        crate::contract::PublicErrors,
    ),
)]
pub async fn explorer_config(
    State(state): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let app = active_application(&state, &q).await?;
    Ok(Json(user_data(&app, q.get("origin").map(String::as_str))))
}
