//! `/apps/{id}/upload_locations`: the folders the File Picker's computer uploads land in,
//! added and removed through the management API's own rules (an active account of the
//! application, a folder that exists in it, at most a hundred).

use std::collections::HashMap;

use askama::Template;
use axum::{
    extract::{Path, Query, State},
    http::StatusCode,
    response::Response,
};
use cloudbridge_shared::db::{self, applications::Application};
use serde_json::Value;

use super::{app_of, back_or_again, back_or_refused, frame, Notice, OwnApp};
use crate::{
    portal::{
        session::{Posted, Signed},
        view::{self, Frame, Tab},
        Portal,
    },
    routes::upload_locations::{self, MAX_LOCATIONS},
    wire::service_name,
};

/// One upload location as the page shows it.
pub struct LocationRow {
    pub id: i64,
    pub account_id: i64,
    /// The account's name and service (empty if it could not be read).
    pub account: String,
    /// The Kloudless id of the folder.
    pub folder: String,
    pub created: String,
}

/// `upload_locations.html`.
#[derive(Template)]
#[template(path = "portal/upload_locations.html")]
pub struct UploadLocations {
    pub frame: Frame,
    pub app_id: String,
    pub rows: Vec<LocationRow>,
    /// The add form's fields, as posted (kept when refused).
    pub account_id: String,
    pub parent_id: String,
}

/// `GET /apps/{id}/upload_locations`
pub async fn page(
    State(portal): State<Portal>,
    OwnApp { signed, app }: OwnApp,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let notice = Notice::done(
        q.get("done"),
        &[
            ("added", "Upload location added."),
            ("removed", "Upload location removed."),
        ],
    );
    show(
        &portal,
        &signed,
        &app,
        StatusCode::OK,
        notice,
        Form::default(),
    )
    .await
}

/// The add form's fields.
#[derive(Default)]
struct Form {
    account_id: String,
    parent_id: String,
}

/// The page of `app`'s upload locations.
async fn show(
    portal: &Portal,
    signed: &Signed,
    app: &Application,
    status: StatusCode,
    notice: Notice,
    form: Form,
) -> Response {
    let db = &portal.app.db;
    let locations = match db::upload_locations::list(db, &app.id, 1, MAX_LOCATIONS as u32).await {
        Ok(locations) => locations,
        Err(e) => return view::unavailable(e),
    };
    let ids: Vec<i64> = locations.iter().map(|l| l.account_id).collect();
    let names = match db::accounts::names(db, &app.id, &ids).await {
        Ok(names) => names,
        Err(e) => return view::unavailable(e),
    };
    let rows = locations
        .into_iter()
        .map(|l| LocationRow {
            id: l.id,
            account_id: l.account_id,
            account: names
                .iter()
                .find(|(id, _, _)| *id == l.account_id)
                .map(|(_, service, name)| format!("{name} ({})", service_name(service)))
                .unwrap_or_default(),
            folder: l.parent_id,
            created: view::when(l.created_at),
        })
        .collect();
    view::render(
        status,
        &UploadLocations {
            frame: frame(signed, app, Tab::Uploads, notice),
            app_id: app.id.clone(),
            rows,
            account_id: form.account_id,
            parent_id: form.parent_id,
        },
    )
}

/// `POST /apps/{id}/upload_locations` `account_id`, `parent_id`: as
/// `POST /v1/applications/{id}/upload_locations`.
pub async fn add(
    State(portal): State<Portal>,
    Path(id): Path<String>,
    Posted { signed, form }: Posted,
) -> Response {
    let app = match app_of(&portal, &signed, &id).await {
        Ok(app) => app,
        Err(page) => return page,
    };
    let field = |k: &str| {
        form.get(k)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let account = field("account_id").map(Value::String);
    let parent = field("parent_id");
    let dev = signed.session.developer_id;
    let added = upload_locations::add(
        &portal.app,
        dev,
        &app.id,
        account.as_ref(),
        parent.as_deref(),
    )
    .await;
    let to = format!("/apps/{}/upload_locations?done=added", app.id);
    back_or_again(&signed, added, &to, |status, notice| {
        let form = Form {
            account_id: field("account_id").unwrap_or_default(),
            parent_id: parent.clone().unwrap_or_default(),
        };
        show(&portal, &signed, &app, status, notice, form)
    })
    .await
}

/// `POST /apps/{id}/upload_locations/{location}/remove`: as
/// `DELETE /v1/applications/{id}/upload_locations/{location}`.
pub async fn remove(
    State(portal): State<Portal>,
    Path((id, location)): Path<(String, String)>,
    Posted { signed, .. }: Posted,
) -> Response {
    let dev = signed.session.developer_id;
    let done = upload_locations::remove(&portal.app, dev, &id, &location).await;
    back_or_refused(
        &signed,
        done,
        &format!("/apps/{id}/upload_locations?done=removed"),
    )
}
