//! A developer's applications and their API keys, through the same rules as the
//! management API (`routes::applications`, `routes::api_keys`): another developer's
//! application is not found.

use std::collections::HashMap;

use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
    Form,
};
use cloudbridge_shared::{
    db::{self, applications::ApplicationFields},
    ApiError,
};

use super::{
    session::Signed,
    view::{self, Frame},
    Portal,
};
use crate::routes::{api_keys, applications};

type Fields = HashMap<String, String>;

/// The page for an error of the shared rules.
fn refused(signed: &Signed, e: ApiError) -> Response {
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
    let frame = Frame::signed(&signed.session);
    view::render(
        status,
        &view::Apps {
            signed_in: frame.signed_in,
            csrf: frame.csrf,
            flash: None,
            error,
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
pub async fn create(
    State(portal): State<Portal>,
    signed: Signed,
    Form(form): Form<Fields>,
) -> Response {
    if !signed.csrf_ok(form.get("csrf").map(String::as_str)) {
        return view::forbidden();
    }
    let fields = ApplicationFields {
        name: form.get("name").cloned(),
        description: form.get("description").cloned().filter(|d| !d.is_empty()),
        ..ApplicationFields::default()
    };
    match applications::create_application(&portal.app, signed.session.developer_id, fields).await {
        Ok((app, key)) => show(&portal, &signed, &app.id, Some(key)).await,
        Err(e) if e.status == 400 => {
            list_page(&portal, &signed, StatusCode::BAD_REQUEST, Some(e.message)).await
        }
        Err(e) => refused(&signed, e),
    }
}

/// An application's page, with `new_key` shown once.
async fn show(portal: &Portal, signed: &Signed, id: &str, new_key: Option<String>) -> Response {
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
    let frame = Frame::signed(&signed.session);
    view::render(
        StatusCode::OK,
        &view::App {
            signed_in: frame.signed_in,
            csrf: frame.csrf,
            flash: None,
            error: None,
            id: app.id,
            name: app.name,
            description: app.description,
            active: app.active,
            created: view::when(app.created_at),
            keys: keys
                .into_iter()
                .map(|k| view::KeyRow {
                    id: k.id,
                    created: view::when(k.created_at),
                })
                .collect(),
            new_key,
        },
    )
}

/// `GET /apps/{id}`.
pub async fn get(State(portal): State<Portal>, signed: Signed, Path(id): Path<String>) -> Response {
    show(&portal, &signed, &id, None).await
}

/// `POST /apps/{id}/keys`: a new API key, shown once.
pub async fn new_key(
    State(portal): State<Portal>,
    signed: Signed,
    Path(id): Path<String>,
    Form(form): Form<Fields>,
) -> Response {
    if !signed.csrf_ok(form.get("csrf").map(String::as_str)) {
        return view::forbidden();
    }
    match api_keys::create_key(&portal.app, signed.session.developer_id, &id).await {
        Ok((_, key)) => show(&portal, &signed, &id, Some(key)).await,
        Err(e) => refused(&signed, e),
    }
}

/// `POST /apps/{id}/keys/{key}/revoke`.
pub async fn revoke_key(
    State(portal): State<Portal>,
    signed: Signed,
    Path((id, key)): Path<(String, String)>,
    Form(form): Form<Fields>,
) -> Response {
    if !signed.csrf_ok(form.get("csrf").map(String::as_str)) {
        return view::forbidden();
    }
    match api_keys::revoke_key(&portal.app, signed.session.developer_id, &id, &key).await {
        Ok(()) => Redirect::to(&format!("/apps/{id}")).into_response(),
        Err(e) => refused(&signed, e),
    }
}
