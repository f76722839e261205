//! An application's connected accounts and what serves them: the accounts (search,
//! keyset paging, disconnect, a Connect link), one account's events newest first, the
//! File Picker's upload locations, and the application's own OAuth clients per service
//! (secrets write-only). Each goes through the rule the management API uses; another
//! developer's application or account is not found.
//!
//! # Layout
//! - [`list`]: the accounts (`/apps/{id}/accounts`), and disconnecting one.
//! - [`events`]: one account's events (`/apps/{id}/accounts/{account}/events`).
//! - [`uploads`]: the upload locations (`/apps/{id}/upload_locations`).
//! - [`service_keys`]: the OAuth clients per service (`/apps/{id}/services`).

mod events;
mod list;
mod service_keys;
mod uploads;

use std::collections::HashMap;

use axum::{
    extract::{FromRequestParts, Path},
    http::{request::Parts, StatusCode},
    response::{IntoResponse, Redirect, Response},
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

/// A page of one of the signed-in developer's applications (`{id}` in its path): another
/// developer's is not found.
struct OwnApp {
    signed: Signed,
    app: Application,
}

impl FromRequestParts<Portal> for OwnApp {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, portal: &Portal) -> Result<Self, Response> {
        let signed = Signed::from_request_parts(parts, portal).await?;
        let not_found = || view::not_found(Frame::signed(&signed.session));
        let Ok(Path(params)) =
            Path::<HashMap<String, String>>::from_request_parts(parts, portal).await
        else {
            return Err(not_found());
        };
        let Some(id) = params.get("id") else {
            return Err(not_found());
        };
        let app = app_of(portal, &signed, id).await?;
        Ok(Self { signed, app })
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

/// What a form's POST answers: back to `to` (its tab, with `?done=`) when it worked, else
/// the error's page (not found, unavailable).
fn back_or_refused<T>(signed: &Signed, done: Result<T, ApiError>, to: &str) -> Response {
    match done {
        Ok(_) => Redirect::to(to).into_response(),
        Err(e) => super::apps::refused(signed, e),
    }
}

/// As [`back_or_refused`], but input the rules refused ([`shown_on_page`]) is said on the
/// form's page again, which `again` renders with the status and the reason.
async fn back_or_again<T, Fut>(
    signed: &Signed,
    done: Result<T, ApiError>,
    to: &str,
    again: impl FnOnce(StatusCode, Notice) -> Fut,
) -> Response
where
    Fut: std::future::Future<Output = Response>,
{
    match done {
        Err(e) => match shown_on_page(&e) {
            Some(status) => again(status, Notice::error(e.message)).await,
            None => back_or_refused::<T>(signed, Err(e), to),
        },
        ok => back_or_refused(signed, ok, to),
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
