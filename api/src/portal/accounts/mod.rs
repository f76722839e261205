//! An application's connected accounts and what serves them: the accounts (search,
//! keyset paging, disconnect, a Connect link), one account's events newest first, the
//! File Picker's upload locations, and the application's own OAuth clients per service
//! (secrets write-only). Each goes through the rule the management API uses; another
//! developer's application or account is not found.
//!
//! # Layout
//! - [`list`]: `/apps/{id}/accounts`, and disconnecting one.
//! - [`events`]: `/apps/{id}/accounts/{account}/events`.
//! - [`uploads`]: `/apps/{id}/upload_locations`.
//! - [`service_keys`]: `/apps/{id}/services`.

mod events;
mod list;
mod service_keys;
mod uploads;

use axum::{
    extract::FromRequestParts,
    http::{request::Parts, StatusCode},
    response::Response,
    routing::{get, post},
    Router,
};
use cloudbridge_shared::{db, db::applications::Application, ApiError};

use super::{
    session::Signed,
    view::{self, Frame, Tab},
    Portal,
};

/// The routes of these tabs.
pub fn routes() -> Router<Portal> {
    Router::new()
        .route("/apps/{id}/accounts", get(list::page))
        .route(
            "/apps/{id}/accounts/{account}/disconnect",
            post(list::disconnect),
        )
        .route("/apps/{id}/accounts/{account}/events", get(events::page))
        .route(
            "/apps/{id}/upload_locations",
            get(uploads::page).post(uploads::add),
        )
        .route(
            "/apps/{id}/upload_locations/{location}/remove",
            post(uploads::remove),
        )
        .route("/apps/{id}/services", get(service_keys::page))
        .route("/apps/{id}/services/{service}", post(service_keys::set))
        .route(
            "/apps/{id}/services/{service}/remove",
            post(service_keys::remove),
        )
}

/// Application `id` of the signed-in developer, or the page to answer instead (not
/// found when it is another's).
async fn app_of(portal: &Portal, signed: &Signed, id: &str) -> Result<Application, Response> {
    match db::applications::get(&portal.app.db, signed.session.developer_id, id).await {
        Ok(Some(app)) => Ok(app),
        Ok(None) => Err(view::not_found(Frame::signed(&signed.session))),
        Err(e) => Err(view::unavailable(e)),
    }
}

/// The frame of `app`'s tab `tab`, saying `notice`.
fn frame(signed: &Signed, app: &Application, tab: Tab, notice: Notice) -> Frame {
    Frame {
        flash: notice.flash,
        error: notice.error,
        ..Frame::of_app(&signed.session, &app.id, &app.name, tab)
    }
}

/// What a page says besides its content, and its status.
#[derive(Default)]
struct Notice {
    flash: Option<String>,
    error: Option<String>,
}

impl Notice {
    /// A note on what a form just did: `done`, as the redirect after it named it, one of
    /// the page's `said` notes (nothing of the query is shown as such).
    fn done(done: Option<&String>, said: &[(&str, &str)]) -> Self {
        let flash = done.and_then(|d| {
            said.iter()
                .find(|(k, _)| k == d)
                .map(|(_, m)| m.to_string())
        });
        Self { flash, error: None }
    }

    /// What was wrong with a form.
    fn error(message: String) -> Self {
        Self {
            flash: None,
            error: Some(message),
        }
    }
}

/// The status of a refusal the form's own page should show (bad input, a conflict, the
/// service refusing); `None` for the others (not found, unavailable: pages of their own).
fn shown_on_page(e: &ApiError) -> Option<StatusCode> {
    ((400..500).contains(&e.status) && e.status != 404)
        .then(|| StatusCode::from_u16(e.status).ok())
        .flatten()
}

/// The API's base URL as browsers reach it (`api.public_url`, else the portal's own
/// scheme and host with the API's port): where the Connect link and the OAuth callback
/// are.
struct ApiBase(String);

impl FromRequestParts<Portal> for ApiBase {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        portal: &Portal,
    ) -> Result<Self, Self::Rejection> {
        let settings = &portal.app.settings;
        let api = &settings.api;
        if !api.public_url.is_empty() {
            return Ok(Self(api.public_url.trim_end_matches('/').to_string()));
        }
        let here =
            crate::forwarded::base_url(&parts.headers, &parts.extensions, "", &api.trusted_proxies);
        let https = here.starts_with("https://");
        let port = if https {
            api.tls_bind.port()
        } else {
            api.bind.port()
        };
        let base = url::Url::parse(&here)
            .ok()
            .and_then(|mut url| {
                url.set_port(Some(port)).ok()?;
                Some(url.as_str().trim_end_matches('/').to_string())
            })
            .unwrap_or(here);
        Ok(Self(base))
    }
}
