//! `/apps/{id}/accounts`: the application's connected accounts, newest first, searched by
//! name, service or id, a page at a time (keyset: as fast on the last page of tens of
//! thousands as on the first); disconnecting one goes through the API's own
//! `DELETE /v1/accounts/{id}` rule.

use std::collections::HashMap;

use askama::Template;
use axum::{
    extract::{Path, Query, State},
    http::StatusCode,
    response::Response,
};
use cloudbridge_connectors::service as services;
use cloudbridge_shared::db::{
    self,
    accounts::{Listed, Search, Window},
    applications::Application,
};

use super::{app_of, back_or_refused, frame, ApiBase, Notice, OwnApp};
use crate::{
    portal::{
        session::{Posted, Signed},
        view::{self, Frame, Tab},
        Portal,
    },
    routes::accounts::disconnect as disconnect_account,
    wire::service_name,
};

/// Accounts per page.
const PAGE: i64 = 50;
/// Accounts are counted up to this many.
const COUNT_CAP: i64 = 100_000;
/// Longest search kept.
const MAX_SEARCH: usize = 200;

/// One account as the list shows it.
pub struct AccountRow {
    pub id: i64,
    /// The service's friendly name.
    pub service: String,
    pub name: String,
    /// `active`, `needs reauth`, `disabled` or `inactive`.
    pub state: &'static str,
    /// Why it needs reconnecting.
    pub reason: Option<String>,
    /// When its events were last collected (empty: never).
    pub collected: String,
    /// Why its last collection failed.
    pub collect_error: Option<String>,
    pub created: String,
}

impl AccountRow {
    /// The style of its state.
    pub fn state_class(&self) -> &'static str {
        match self.state {
            "active" => "state-ok",
            "needs reauth" => "state-warn",
            _ => "state-off",
        }
    }
}

impl From<Listed> for AccountRow {
    fn from(a: Listed) -> Self {
        let state = if a.needs_reauth {
            "needs reauth"
        } else if !a.enabled {
            "disabled"
        } else if !a.active {
            "inactive"
        } else {
            "active"
        };
        Self {
            id: a.id,
            service: service_name(&a.service).to_string(),
            name: a.account,
            state,
            reason: a.reauth_reason.filter(|_| a.needs_reauth),
            collected: a.last_collected_at.map(view::when).unwrap_or_default(),
            collect_error: a.collect_error,
            created: view::when(a.created_at),
        }
    }
}

/// `accounts.html`.
#[derive(Template)]
#[template(path = "portal/accounts.html")]
pub struct Accounts {
    pub frame: Frame,
    pub app_id: String,
    /// The search shown in the box.
    pub q: String,
    /// How many accounts match (all of them without a search), as shown: `100000+`
    /// beyond what is counted.
    pub total: String,
    /// Whether exactly one does.
    pub one: bool,
    pub rows: Vec<AccountRow>,
    /// The query of the page of newer accounts, if any.
    pub newer: Option<String>,
    /// The query of the page of older accounts, if any.
    pub older: Option<String>,
    /// The connect page for a test account, when the application can send one there.
    pub connect: Option<String>,
}

/// What a search box's text matches: names containing it, services it names (by id,
/// alias or friendly name, or their start from three letters on), the account it
/// numbers.
fn search(q: &str) -> Option<Search> {
    let text: String = q.trim().chars().take(MAX_SEARCH).collect();
    if text.is_empty() {
        return None;
    }
    let lower = text.to_lowercase();
    let matches = |n: &str| n == lower || (lower.len() >= 3 && n.starts_with(&lower));
    let services = services::ALL
        .iter()
        .filter(|s| {
            s.aliases.iter().chain([&s.name]).any(|n| matches(n))
                || matches(&s.display_name.to_lowercase())
        })
        .map(|s| s.name.to_string())
        .collect();
    let id = text.trim_start_matches('#').parse::<i64>().ok();
    Some(Search { text, services, id })
}

/// The query string of the page `window` of search `q`.
fn query(q: &str, key: &str, id: i64) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    if !q.is_empty() {
        query.append_pair("q", q);
    }
    query.append_pair(key, &id.to_string());
    query.finish()
}

/// Where the connect flow starts for a test account: the API's `/v1/oauth` with the
/// application's first redirect URI (the account is stored before the browser goes
/// back there with a code). `None` when the application is inactive or has no
/// redirect URI.
async fn connect_link(portal: &Portal, app: &Application, api: &str) -> Option<String> {
    if !app.active {
        return None;
    }
    let uris = db::providers::redirect_uris(&portal.app.db, &app.id)
        .await
        .ok()?;
    let uri = uris.first()?;
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", &app.id)
        .append_pair("response_type", "code")
        .append_pair("redirect_uri", uri)
        .append_pair("scope", "any")
        .append_pair("state", "portal")
        .finish();
    Some(format!("{api}/v1/oauth?{query}"))
}

/// `GET /apps/{id}/accounts?q=&before=&after=`
pub async fn page(
    State(portal): State<Portal>,
    OwnApp { signed, app }: OwnApp,
    ApiBase(api): ApiBase,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let cursor = |k: &str| q.get(k).and_then(|v| v.trim().parse::<i64>().ok());
    let window = match (cursor("before"), cursor("after")) {
        (Some(before), _) => Window::Before(before),
        (None, Some(after)) => Window::After(after),
        (None, None) => Window::Newest,
    };
    let notice = Notice::done(
        q.get("done"),
        &[("disconnected", "The account was disconnected.")],
    );
    show(
        &portal,
        &signed,
        &app,
        &api,
        q.get("q").map(String::as_str).unwrap_or_default(),
        window,
        notice,
    )
    .await
}

/// The accounts of `app` matching `q` in `window`.
async fn show(
    portal: &Portal,
    signed: &Signed,
    app: &Application,
    api: &str,
    q: &str,
    window: Window,
    notice: Notice,
) -> Response {
    let search = search(q);
    let found = db::accounts::browse(&portal.app.db, &app.id, search.as_ref(), window, PAGE).await;
    let (rows, more) = match found {
        Ok(found) => found,
        Err(e) => return view::unavailable(e),
    };
    let counted = db::accounts::count_matching(&portal.app.db, &app.id, search.as_ref(), COUNT_CAP);
    let total = match counted.await {
        Ok(total) => total,
        Err(e) => return view::unavailable(e),
    };
    let q = search.as_ref().map(|s| s.text.clone()).unwrap_or_default();
    // Newer pages exist when this one was reached going back, or going forward found more.
    let (newer, older) = match window {
        Window::Newest => (false, more),
        Window::Before(_) => (true, more),
        Window::After(_) => (more, true),
    };
    let newer = newer
        .then(|| rows.first().map(|r| query(&q, "after", r.id)))
        .flatten();
    let older = older
        .then(|| rows.last().map(|r| query(&q, "before", r.id)))
        .flatten();
    view::render(
        StatusCode::OK,
        &Accounts {
            frame: frame(signed, app, Tab::Accounts, notice),
            app_id: app.id.clone(),
            q,
            total: if total >= COUNT_CAP {
                format!("{COUNT_CAP}+")
            } else {
                total.to_string()
            },
            one: total == 1,
            rows: rows.into_iter().map(AccountRow::from).collect(),
            newer,
            older,
            connect: connect_link(portal, app, api).await,
        },
    )
}

/// `POST /apps/{id}/accounts/{account}/disconnect`: as `DELETE /v1/accounts/{account}`.
pub async fn disconnect(
    State(portal): State<Portal>,
    Path((id, account)): Path<(String, String)>,
    Posted { signed, .. }: Posted,
) -> Response {
    let app = match app_of(&portal, &signed, &id).await {
        Ok(app) => app,
        Err(page) => return page,
    };
    let Ok(account) = account.parse::<i64>() else {
        return view::not_found(Frame::signed(&signed.session));
    };
    // Not found (another application's account, or gone already), or unavailable.
    let done = disconnect_account(&portal.app, &app.id, account).await;
    back_or_refused(
        &signed,
        done,
        &format!("/apps/{}/accounts?done=disconnected", app.id),
    )
}
