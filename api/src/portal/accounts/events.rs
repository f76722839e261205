//! `/apps/{id}/accounts/{account}/events`: one account's collected events, newest first,
//! a page at a time (the cursor is the last event shown: each page is one index range).

use std::collections::HashMap;

use askama::Template;
use axum::{
    extract::{Path, Query, State},
    http::StatusCode,
    response::Response,
};
use cloudbridge_shared::{
    db::{self, events::Event},
    storage::ItemKind,
};

use super::{frame, Notice, OwnApp};
use crate::{
    portal::{
        view::{self, Frame, Tab},
        Portal,
    },
    wire::service_name,
};

/// Events per page.
const PAGE: i64 = 50;

/// One event as the page shows it.
pub struct EventRow {
    pub id: i64,
    /// `add`, `update`, `delete`, …
    pub kind: String,
    /// `file` or `folder`.
    pub item: &'static str,
    /// The item's path in the account (`/` first).
    pub path: String,
    /// The item's Kloudless id.
    pub item_id: String,
    /// When it was collected.
    pub time: String,
}

impl From<Event> for EventRow {
    fn from(e: Event) -> Self {
        let entry = &e.metadata.0;
        Self {
            id: e.id,
            kind: e.kind,
            item: match entry.kind {
                ItemKind::File => "file",
                ItemKind::Folder => "folder",
            },
            path: format!("/{}", entry.path.as_str()),
            item_id: entry.wire_id(),
            time: view::when(e.created_at),
        }
    }
}

/// `account_events.html`.
#[derive(Template)]
#[template(path = "portal/account_events.html")]
pub struct Events {
    pub frame: Frame,
    pub app_id: String,
    pub account_id: i64,
    pub account_name: String,
    /// The service's friendly name.
    pub service: String,
    /// Whether the application collects events at all.
    pub collecting: bool,
    pub rows: Vec<EventRow>,
    /// Whether this is a later page (a link back to the newest is shown).
    pub paged: bool,
    /// The cursor of the next, older page, if there is one.
    pub older: Option<i64>,
}

/// `GET /apps/{id}/accounts/{account}/events?before=`
pub async fn page(
    State(portal): State<Portal>,
    OwnApp { signed, app }: OwnApp,
    Path((_, account)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let not_found = || view::not_found(Frame::signed(&signed.session));
    let Ok(account) = account.parse::<i64>() else {
        return not_found();
    };
    let account = match db::accounts::get(&portal.app.db, &app.id, account).await {
        Ok(Some(account)) => account,
        Ok(None) => return not_found(),
        Err(e) => return view::unavailable(e),
    };
    let before = q.get("before").and_then(|b| b.trim().parse::<i64>().ok());
    let mut events = match db::events::newest(&portal.app.db, account.id, before, PAGE + 1).await {
        Ok(events) => events,
        Err(e) => return view::unavailable(e),
    };
    let more = events.len() as i64 > PAGE;
    events.truncate(PAGE as usize);
    let older = more.then(|| events.last().map(|e| e.id)).flatten();
    view::render(
        StatusCode::OK,
        &Events {
            frame: frame(&signed, &app, Tab::Accounts, Notice::default()),
            app_id: app.id.clone(),
            account_id: account.id,
            account_name: account.account,
            service: service_name(&account.service).to_string(),
            collecting: app.events_grant_enabled,
            rows: events.into_iter().map(EventRow::from).collect(),
            paged: before.is_some(),
            older,
        },
    )
}
