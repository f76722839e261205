//! The developer portal: a server-rendered web application on `portal.bind`, beside the
//! API. Developers sign up (when `portal.signup` is on) or are made by an admin, sign in,
//! and manage their applications and API keys. Pages are askama templates checked at
//! compile time; the one style sheet is embedded; no script is needed.
//!
//! Everything goes through the same rules as the management API (the functions of
//! `routes::applications` and `routes::api_keys`), so the two cannot disagree; another
//! developer's application is not found.
//!
//! # Layout
//! - [`session`]: the session cookie and the CSRF check of every form.
//! - [`auth`]: sign-up, sign-in, sign-out, password change.
//! - [`apps`]: applications and their API keys.
//! - [`accounts`]: an application's accounts and their events, upload locations, service keys.
//! - [`admin`]: the appliance admin's pages (developers, status), the one-time links they
//!   issue, and "forgot password" by mail.
//! - [`reference`]: the API reference, from the OpenAPI document.
//! - [`usage`]: an application's Usage tab (charts of the usage rollup).
//! - [`view`]: the pages.
//! - [`webhooks`]: an application's webhooks, their delivery log and replays.

mod accounts;
mod admin;
mod apps;
mod auth;
mod reference;
mod session;
mod usage;
mod view;
mod webhooks;

use std::{
    net::{IpAddr, SocketAddr},
    ops::Deref,
    sync::Arc,
    time::Duration,
};

use axum::{
    extract::Request,
    http::{header, HeaderMap, HeaderValue},
    middleware::{from_fn, Next},
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
    Router,
};
use tokio_util::sync::CancellationToken;

use crate::{limits::Limiter, AppState};

/// The portal's state: the API tier's, and its sign-in throttles.
#[derive(Clone)]
pub struct Portal(Arc<Inner>);

/// What [`Portal`] shares.
pub struct Inner {
    /// The API tier's state (database, settings, hashing slots).
    pub app: AppState,
    /// Sign-in attempts per e-mail.
    per_account: Limiter<String>,
    /// Sign-in and sign-up attempts per client address.
    per_address: Limiter<IpAddr>,
    /// A hash checked when the e-mail has no account (the same cost either way).
    decoy_hash: String,
    /// Whether cookies are `Secure` (the portal is reached over HTTPS).
    secure_cookies: bool,
    /// The portal's mail, when `smtp.host` is set.
    mailer: Option<admin::mail::Mailer>,
}

impl Deref for Portal {
    type Target = Inner;

    fn deref(&self) -> &Inner {
        &self.0
    }
}

/// How often refilled throttle buckets are forgotten.
const SWEEP_EVERY: Duration = Duration::from_secs(30);

impl Portal {
    /// The portal of `app`; its throttles are swept until `stop` fires. Unusable mail
    /// settings are an error.
    pub fn start(app: AppState, stop: CancellationToken) -> anyhow::Result<Self> {
        let settings = &app.settings.portal;
        let mailer = admin::mail::Mailer::from_settings(&app.settings.smtp)?;
        let portal = Self(Arc::new(Inner {
            mailer,
            per_account: Limiter::new("portal_login_account", settings.login_per_account),
            per_address: Limiter::new("portal_login_address", settings.login_per_address),
            decoy_hash: cloudbridge_shared::secret::hash_password(
                &cloudbridge_shared::secret::random_token(16),
            ),
            secure_cookies: app.settings.api.public_url.starts_with("https://")
                || app.settings.tls.cert_path.is_some(),
            app,
        }));
        let sweeping = portal.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(SWEEP_EVERY);
            loop {
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = tick.tick() => {
                        sweeping.per_account.sweep();
                        sweeping.per_address.sweep();
                    }
                }
            }
        });
        Ok(portal)
    }

    /// The mailer and the base URL of mailed links, when both are configured (a mailed
    /// link is never built from a request's `Host`).
    fn mail_links(&self) -> Option<(&admin::mail::Mailer, &str)> {
        let base = self.app.settings.portal.public_url.trim_end_matches('/');
        self.mailer
            .as_ref()
            .filter(|_| !base.is_empty())
            .map(|m| (m, base))
    }

    /// The client's address (behind the configured trusted proxies, the one they name).
    fn client(&self, headers: &HeaderMap, peer: SocketAddr) -> IpAddr {
        let mut extensions = axum::http::Extensions::new();
        extensions.insert(axum::extract::ConnectInfo(peer));
        crate::forwarded::client_address(
            headers,
            &extensions,
            &self.app.settings.api.trusted_proxies,
        )
    }

    /// Takes a sign-in attempt for `email` from `client`, or says how long to wait.
    fn throttle_login(&self, email: &str, client: IpAddr) -> Result<(), String> {
        self.per_address
            .check(&client)
            .and_then(|()| self.per_account.check(&email.to_string()))
            .map_err(wait_message)
    }

    /// Takes a sign-up attempt from `client`, or says how long to wait.
    fn throttle_signup(&self, client: IpAddr) -> Result<(), String> {
        self.per_address.check(&client).map_err(wait_message)
    }
}

fn wait_message(e: cloudbridge_shared::ApiError) -> String {
    let secs = e.retry_after.unwrap_or(60).max(1);
    format!("Too many attempts; try again in {secs} seconds.")
}

/// The portal's one style sheet.
const CSS: &str = include_str!("portal.css");
/// The portal's one script (progressive enhancement: copy buttons).
const JS: &str = include_str!("portal.js");

/// Headers of every answer: nothing from elsewhere, never framed.
async fn hardening(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; \
             form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    response
}

/// One of the embedded assets.
async fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
}

/// `GET /`: the applications, or sign in.
async fn home(signed: Option<session::Signed>) -> Redirect {
    Redirect::to(if signed.is_some() { "/apps" } else { "/login" })
}

impl axum::extract::OptionalFromRequestParts<Portal> for session::Signed {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        portal: &Portal,
    ) -> Result<Option<Self>, Response> {
        Ok(
            <Self as axum::extract::FromRequestParts<Portal>>::from_request_parts(parts, portal)
                .await
                .ok(),
        )
    }
}

/// The portal's routes.
pub fn router(portal: Portal) -> Router {
    Router::new()
        .route("/", get(home))
        .route("/login", get(auth::login_form).post(auth::login))
        .route("/signup", get(auth::signup_form).post(auth::signup))
        .route("/logout", post(auth::logout))
        .route("/account", get(auth::account))
        .route("/account/password", post(auth::change_password))
        .route("/account/keys", post(auth::new_developer_key))
        .route(
            "/account/keys/{id}/revoke",
            post(auth::revoke_developer_key),
        )
        .route("/apps", get(apps::list).post(apps::create))
        .route("/apps/{id}", get(apps::get).post(apps::update))
        .route("/apps/{id}/redirect_uris", post(apps::redirect_uris))
        .route("/apps/{id}/delete", post(apps::delete))
        .route("/apps/{id}/keys", post(apps::new_key))
        .route("/apps/{id}/keys/{key}/revoke", post(apps::revoke_key))
        .merge(accounts::routes())
        .merge(webhooks::routes())
        .merge(usage::routes())
        .route(
            "/assets/portal.css",
            get(|| asset("text/css; charset=utf-8", CSS)),
        )
        .route(
            "/assets/portal.js",
            get(|| asset("text/javascript; charset=utf-8", JS)),
        )
        .merge(admin::routes())
        .merge(reference::routes())
        .fallback(|| async { view::not_found(view::Frame::default()) })
        .layer(axum::extract::DefaultBodyLimit::max(64 * 1024))
        .layer(from_fn(hardening))
        .with_state(portal)
}
