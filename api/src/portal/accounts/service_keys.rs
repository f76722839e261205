//! `/apps/{id}/services`: the application's own OAuth client at each service (without
//! one, its users connect with the appliance's `providers.<service>` client). The client
//! secret is write-only: sealed as the management API seals it, and only ever shown as
//! set.

use std::collections::HashMap;

use askama::Template;
use axum::{
    extract::{Path, Query, State},
    http::StatusCode,
    response::Response,
};
use cloudbridge_connectors::service as services;
use cloudbridge_shared::db::{self, applications::Application};

use super::{app_of, back_or_again, back_or_refused, frame, ApiBase, Notice, OwnApp};
use crate::{
    portal::{
        session::{Posted, Signed},
        view::{self, Frame, Tab},
        Portal,
    },
    routes::app_oauth,
};

/// One service as the page shows it.
pub struct ServiceRow {
    /// Its id (`gdrive`).
    pub service: &'static str,
    /// Its friendly name.
    pub name: &'static str,
    /// The application's own client id there, if it set one (its secret is set too).
    pub client_id: Option<String>,
    /// Whether the appliance has a client of its own there (used without the
    /// application's).
    pub appliance_default: bool,
}

/// `service_keys.html`.
#[derive(Template)]
#[template(path = "portal/service_keys.html")]
pub struct ServiceKeys {
    pub frame: Frame,
    pub app_id: String,
    pub rows: Vec<ServiceRow>,
    /// The redirect URI to register with each service.
    pub callback: String,
    /// Whether secrets can be stored (`secrets.keys` is configured).
    pub can_seal: bool,
}

/// `GET /apps/{id}/services`
pub async fn page(
    State(portal): State<Portal>,
    OwnApp { signed, app }: OwnApp,
    ApiBase(api): ApiBase,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let notice = Notice::done(
        q.get("done"),
        &[
            ("saved", "Service key saved."),
            ("removed", "Service key removed."),
        ],
    );
    show(&portal, &signed, &app, &api, StatusCode::OK, notice).await
}

/// The page of `app`'s service keys.
async fn show(
    portal: &Portal,
    signed: &Signed,
    app: &Application,
    api: &str,
    status: StatusCode,
    notice: Notice,
) -> Response {
    let set = match db::providers::services(&portal.app.db, &app.id).await {
        Ok(set) => set,
        Err(e) => return view::unavailable(e),
    };
    let providers = &portal.app.settings.providers;
    let rows = services::oauth()
        // Those with keys of their own (OneDrive for Business uses OneDrive's client).
        .filter(|s| s.oauth().is_some_and(|o| o.provider == s.name))
        .map(|service| ServiceRow {
            service: service.name,
            name: service.display_name,
            client_id: set
                .iter()
                .find(|(s, _)| s == service.name)
                .map(|(_, client_id)| client_id.clone()),
            appliance_default: service
                .provider(providers)
                .is_some_and(|p| !p.client_id.is_empty()),
        })
        .collect();
    view::render(
        status,
        &ServiceKeys {
            frame: frame(signed, app, Tab::Services, notice),
            app_id: app.id.clone(),
            rows,
            callback: format!("{api}/v1/oauth/callback"),
            can_seal: portal.app.cipher.is_some(),
        },
    )
}

/// `POST /apps/{id}/services/{service}` `client_id`, `client_secret`: as
/// `PUT /v1/applications/{id}/service_keys/{service}`.
pub async fn set(
    State(portal): State<Portal>,
    ApiBase(api): ApiBase,
    Path((id, service)): Path<(String, String)>,
    Posted { signed, form }: Posted,
) -> Response {
    let app = match app_of(&portal, &signed, &id).await {
        Ok(app) => app,
        Err(page) => return page,
    };
    let field = |k: &str| form.get(k).map(String::as_str).unwrap_or_default();
    let dev = signed.session.developer_id;
    let done = app_oauth::set_key(
        &portal.app,
        dev,
        &app.id,
        &service,
        field("client_id"),
        field("client_secret"),
    )
    .await;
    let to = format!("/apps/{}/services?done=saved", app.id);
    back_or_again(&signed, done, &to, |status, notice| {
        show(&portal, &signed, &app, &api, status, notice)
    })
    .await
}

/// `POST /apps/{id}/services/{service}/remove`: as
/// `DELETE /v1/applications/{id}/service_keys/{service}`.
pub async fn remove(
    State(portal): State<Portal>,
    Path((id, service)): Path<(String, String)>,
    Posted { signed, .. }: Posted,
) -> Response {
    let dev = signed.session.developer_id;
    let done = app_oauth::remove_key(&portal.app, dev, &id, &service).await;
    back_or_refused(&signed, done, &format!("/apps/{id}/services?done=removed"))
}
