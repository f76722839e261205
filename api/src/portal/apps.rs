//! A developer's applications and their API keys, through the same rules as the
//! management API (`routes::applications`, `routes::api_keys`): another developer's
//! application is not found.

use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
};
use cloudbridge_shared::{
    db::{self, applications::ApplicationFields},
    ApiError,
};

use super::{
    session::{Posted, Signed},
    view::{self, Frame},
    Portal,
};
use crate::routes::{api_keys, app_oauth, applications};

/// The page for an error of the shared rules.
pub(super) fn refused(signed: &Signed, e: ApiError) -> Response {
    match e.status {
        404 => view::not_found(Frame::signed(&signed.session)),
        503 | 500 => view::unavailable(e.body("portal")),
        _ => view::message(
            StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST),
            Frame::signed(&signed.session),
            "That did not work",
            &e.message,
        ),
    }
}

async fn list_page(
    portal: &Portal,
    signed: &Signed,
    status: StatusCode,
    error: Option<String>,
) -> Response {
    let dev = signed.session.developer_id;
    let (apps, _) = match db::applications::list(&portal.app.db, dev, None, 1, 1000).await {
        Ok(found) => found,
        Err(e) => return view::unavailable(e),
    };
    view::render(
        status,
        &view::Apps {
            frame: Frame {
                error,
                ..Frame::signed(&signed.session)
            },
            apps: apps
                .into_iter()
                .map(|a| view::AppRow {
                    id: a.id,
                    name: a.name,
                    active: a.active,
                    created: view::when(a.created_at),
                })
                .collect(),
        },
    )
}

/// `GET /apps`.
pub async fn list(State(portal): State<Portal>, signed: Signed) -> Response {
    list_page(&portal, &signed, StatusCode::OK, None).await
}

/// `POST /apps`: a new application; its page shows its first key once.
pub async fn create(State(portal): State<Portal>, Posted { signed, form }: Posted) -> Response {
    let fields = ApplicationFields {
        name: form.get("name").cloned(),
        description: form.get("description").cloned().filter(|d| !d.is_empty()),
        ..ApplicationFields::default()
    };
    match applications::create_application(&portal.app, signed.session.developer_id, fields).await {
        Ok((app, key)) => show(&portal, &signed, &app.id, StatusCode::OK, Notice::key(key)).await,
        Err(e) if e.status == 400 => {
            list_page(&portal, &signed, StatusCode::BAD_REQUEST, Some(e.message)).await
        }
        Err(e) => refused(&signed, e),
    }
}

/// What an application's page says besides the application.
#[derive(Default)]
struct Notice {
    /// A key just made, shown this once.
    new_key: Option<String>,
    flash: Option<String>,
    error: Option<String>,
}

impl Notice {
    fn key(key: String) -> Self {
        Self {
            new_key: Some(key),
            ..Self::default()
        }
    }
}

/// An application's page.
async fn show(
    portal: &Portal,
    signed: &Signed,
    id: &str,
    status: StatusCode,
    notice: Notice,
) -> Response {
    let dev = signed.session.developer_id;
    let app = match db::applications::get(&portal.app.db, dev, id).await {
        Ok(Some(app)) => app,
        Ok(None) => return view::not_found(Frame::signed(&signed.session)),
        Err(e) => return view::unavailable(e),
    };
    let keys = match db::api_keys::list(&portal.app.db, &app.id).await {
        Ok(keys) => keys,
        Err(e) => return view::unavailable(e),
    };
    let redirect_uris = match db::providers::redirect_uris(&portal.app.db, &app.id).await {
        Ok(uris) => uris,
        Err(e) => return view::unavailable(e),
    };
    view::render(
        status,
        &view::App {
            frame: Frame {
                flash: notice.flash,
                error: notice.error,
                ..Frame::of_app(&signed.session, &app.id, &app.name, view::Tab::Overview)
            },
            id: app.id,
            name: app.name,
            description: app.description,
            logo_url: app.logo_url,
            active: app.active,
            implicit_grant_enabled: app.implicit_grant_enabled,
            events_grant_enabled: app.events_grant_enabled,
            trusted_domains: app.trusted_domains.join("\n"),
            redirect_uris: redirect_uris.join("\n"),
            created: view::when(app.created_at),
            keys: keys
                .into_iter()
                .map(|k| view::KeyRow {
                    id: k.id,
                    created: view::when(k.created_at),
                })
                .collect(),
            new_key: notice.new_key,
        },
    )
}

/// `GET /apps/{id}`.
pub async fn get(State(portal): State<Portal>, signed: Signed, Path(id): Path<String>) -> Response {
    show(&portal, &signed, &id, StatusCode::OK, Notice::default()).await
}

/// `POST /apps/{id}/keys`: a new API key, shown once.
pub async fn new_key(
    State(portal): State<Portal>,
    Path(id): Path<String>,
    Posted { signed, .. }: Posted,
) -> Response {
    match api_keys::create_key(&portal.app, signed.session.developer_id, &id).await {
        Ok((_, key)) => show(&portal, &signed, &id, StatusCode::OK, Notice::key(key)).await,
        Err(e) => refused(&signed, e),
    }
}

/// `POST /apps/{id}/keys/{key}/revoke`.
pub async fn revoke_key(
    State(portal): State<Portal>,
    Path((id, key)): Path<(String, String)>,
    Posted { signed, .. }: Posted,
) -> Response {
    match api_keys::revoke_key(&portal.app, signed.session.developer_id, &id, &key).await {
        Ok(()) => Redirect::to(&format!("/apps/{id}")).into_response(),
        Err(e) => refused(&signed, e),
    }
}

/// The lines of a text area, trimmed, empty ones dropped.
fn lines(text: Option<&String>) -> Vec<String> {
    text.map(|t| {
        t.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect()
    })
    .unwrap_or_default()
}

/// An application's page after a change: saying it worked, or what was wrong with it.
async fn after(
    portal: &Portal,
    signed: &Signed,
    id: &str,
    done: Result<(), ApiError>,
    what: &str,
) -> Response {
    match done {
        Ok(()) => {
            let flash = Some(format!("{what} saved."));
            show(
                portal,
                signed,
                id,
                StatusCode::OK,
                Notice {
                    flash,
                    ..Notice::default()
                },
            )
            .await
        }
        Err(e) if e.status == 400 => {
            let error = Some(e.message);
            show(
                portal,
                signed,
                id,
                StatusCode::BAD_REQUEST,
                Notice {
                    error,
                    ..Notice::default()
                },
            )
            .await
        }
        Err(e) => refused(signed, e),
    }
}

/// `POST /apps/{id}`: its settings, checked as the management API checks them.
pub async fn update(
    State(portal): State<Portal>,
    Path(id): Path<String>,
    Posted { signed, form }: Posted,
) -> Response {
    let checked = |name: &str| form.get(name).is_some_and(|v| v == "true");
    let body = serde_json::json!({
        "name": form.get("name").map(|n| n.trim()).unwrap_or_default(),
        "description": form.get("description").cloned().unwrap_or_default(),
        "logo_url": form.get("logo_url").map(|u| u.trim()).unwrap_or_default(),
        "trusted_domains": lines(form.get("trusted_domains")),
        "implicit_grant_enabled": checked("implicit_grant_enabled"),
        "events_grant_enabled": checked("events_grant_enabled"),
        "active": checked("active"),
    });
    let done = match serde_json::from_value(body) {
        Ok(body) => {
            applications::update_application(&portal.app, signed.session.developer_id, &id, body)
                .await
                .map(|_| ())
        }
        Err(e) => Err(ApiError::invalid_parameters(e.to_string())),
    };
    after(&portal, &signed, &id, done, "Settings").await
}

/// `POST /apps/{id}/redirect_uris`: the whole list, one per line.
pub async fn redirect_uris(
    State(portal): State<Portal>,
    Path(id): Path<String>,
    Posted { signed, form }: Posted,
) -> Response {
    let uris = lines(form.get("redirect_uris"));
    let done = app_oauth::set_uris(&portal.app, signed.session.developer_id, &id, &uris).await;
    after(&portal, &signed, &id, done, "Redirect URIs").await
}

/// `POST /apps/{id}/delete`: only with the application's name typed to confirm.
pub async fn delete(
    State(portal): State<Portal>,
    Path(id): Path<String>,
    Posted { signed, form }: Posted,
) -> Response {
    let dev = signed.session.developer_id;
    let app = match db::applications::get(&portal.app.db, dev, &id).await {
        Ok(Some(app)) => app,
        Ok(None) => return view::not_found(Frame::signed(&signed.session)),
        Err(e) => return view::unavailable(e),
    };
    if form.get("confirm").map(|c| c.trim()) != Some(app.name.trim()) {
        let error = Some("Type the application's name exactly to delete it.".to_string());
        return show(
            &portal,
            &signed,
            &id,
            StatusCode::BAD_REQUEST,
            Notice {
                error,
                ..Notice::default()
            },
        )
        .await;
    }
    match applications::delete_application(&portal.app, dev, &id).await {
        Ok(()) => Redirect::to("/apps").into_response(),
        Err(e) => refused(&signed, e),
    }
}
