//! The Webhooks tab's page: the application's webhooks with their deliveries per state,
//! the verification ping of the one just added, and one page of the delivery log.

use std::collections::HashMap;

use askama::Template;
use axum::{http::StatusCode, response::Response};
use cloudbridge_shared::{
    db::{
        self,
        webhooks::{DeliveryState, Webhook},
    },
    webhook::Answer,
    ApiError,
};

use crate::{
    extract::Paging,
    portal::{
        apps::refused,
        session::Signed,
        view::{self, Frame},
        Portal,
    },
    routes::{
        webhook_deliveries::{self, Logged},
        webhooks,
    },
};

/// Deliveries per page of the log.
const PAGE_SIZE: u32 = 50;

/// Webhooks listed (an application has a handful).
const HOOKS_SHOWN: u32 = 1000;

/// `webhooks.html`.
#[derive(Template)]
#[template(path = "portal/webhooks.html")]
pub struct Page {
    pub frame: Frame,
    /// The application's id.
    pub id: String,
    pub hooks: Vec<HookRow>,
    /// The add form's URL (kept when it was refused).
    pub url: String,
    /// The verification ping of the webhook just added (or not).
    pub ping: Option<Ping>,
    pub log: Log,
}

/// One webhook with its deliveries per state.
pub struct HookRow {
    pub id: i64,
    pub url: String,
    pub created: String,
    pub pending: i64,
    pub delivered: i64,
    pub dead: i64,
    /// Whether the log is filtered to it.
    pub selected: bool,
}

/// What the receiver answered to the verification ping.
pub struct Ping {
    /// The URL pinged.
    pub url: String,
    /// Whether it passed (the webhook is added).
    pub passed: bool,
    /// The HTTP status, when the receiver answered.
    pub status: Option<u16>,
    pub latency_ms: u128,
    /// Why it did not pass.
    pub error: Option<String>,
}

impl From<(&str, &Answer)> for Ping {
    fn from((url, answer): (&str, &Answer)) -> Self {
        Self {
            url: url.into(),
            passed: answer.received(),
            status: answer.status,
            latency_ms: answer.latency.as_millis(),
            error: answer.error.clone(),
        }
    }
}

/// The delivery log as shown: one page of it and its filter.
pub struct Log {
    pub rows: Vec<DeliveryRow>,
    pub total: i64,
    /// The state filter (`""`: all).
    pub state: String,
    /// The webhook filter (`""`: all).
    pub webhook: String,
    pub page: u32,
    /// Rank of the first and last rows shown (1-based).
    pub first: i64,
    pub last: i64,
    /// Links to the newer and older pages.
    pub newer: Option<String>,
    pub older: Option<String>,
    /// Dead deliveries under the webhook filter (what "Replay all dead" replays).
    pub dead: i64,
    /// The choices of the state filter.
    pub states: Vec<Choice>,
}

impl Log {
    /// Page `paging` of the log under `wanted`, `total` deliveries in all, of the webhooks
    /// `hooks`.
    fn new(
        app: &str,
        hooks: &[HookRow],
        logged: Vec<Logged>,
        total: i64,
        paging: Paging,
        wanted: View,
    ) -> Self {
        let rows: Vec<DeliveryRow> = logged
            .into_iter()
            .map(|l| {
                let mut row = DeliveryRow::from(l);
                if let Some(hook) = hooks.iter().find(|h| h.id == row.webhook) {
                    row.url = hook.url.clone();
                }
                row
            })
            .collect();
        let first = i64::from(paging.page - 1) * i64::from(PAGE_SIZE) + 1;
        Self {
            first,
            last: first + rows.len() as i64 - 1,
            newer: (paging.page > 1).then(|| wanted.href(app, paging.page - 1)),
            older: (i64::from(paging.page) * i64::from(PAGE_SIZE) < total)
                .then(|| wanted.href(app, paging.page + 1)),
            dead: hooks
                .iter()
                .filter(|h| wanted.webhook.is_empty() || h.selected)
                .map(|h| h.dead)
                .sum(),
            rows,
            total,
            states: [
                ("", "All states"),
                ("pending", "Pending"),
                ("delivered", "Delivered"),
                ("dead", "Dead"),
            ]
            .into_iter()
            .map(|(value, label)| Choice {
                value,
                label,
                selected: wanted.state == value,
            })
            .collect(),
            state: wanted.state,
            webhook: wanted.webhook,
            page: paging.page,
        }
    }

    /// Whether some filter is on.
    pub fn filtered(&self) -> bool {
        !self.state.is_empty() || !self.webhook.is_empty()
    }
}

/// One choice of a filter.
pub struct Choice {
    pub value: &'static str,
    pub label: &'static str,
    pub selected: bool,
}

/// One delivery of the log.
pub struct DeliveryRow {
    pub id: i64,
    pub webhook: i64,
    pub url: String,
    pub account: i64,
    pub state: String,
    pub attempts: i32,
    pub last_status: Option<i32>,
    pub latency_ms: Option<i32>,
    pub error: Option<String>,
    pub created: String,
    pub next_attempt: Option<String>,
    pub finished: Option<String>,
    pub replayed: Option<String>,
    pub attempt_log: Vec<AttemptRow>,
}

/// One attempt of a delivery.
pub struct AttemptRow {
    pub at: String,
    pub status: Option<i32>,
    pub latency_ms: i32,
    pub error: Option<String>,
}

impl From<Logged> for DeliveryRow {
    fn from(
        Logged {
            delivery: d,
            attempts,
        }: Logged,
    ) -> Self {
        Self {
            id: d.id,
            webhook: d.webhook_id,
            url: String::new(),
            account: d.account_id,
            next_attempt: (d.state == "pending").then(|| view::when(d.next_attempt_at)),
            state: d.state,
            attempts: d.attempts,
            last_status: d.last_status,
            latency_ms: d.last_latency_ms,
            error: d.last_error,
            created: view::when(d.created_at),
            finished: d.finished_at.map(view::when),
            replayed: d.replayed_at.map(view::when),
            attempt_log: attempts
                .into_iter()
                .map(|a| AttemptRow {
                    at: view::when(a.at),
                    status: a.status,
                    latency_ms: a.latency_ms,
                    error: a.error,
                })
                .collect(),
        }
    }
}

/// Which part of the log is shown: the query of the page, or the hidden fields of its
/// forms (so a replay shows the log as it was).
#[derive(Default, serde::Deserialize)]
pub struct View {
    #[serde(default)]
    pub(super) state: String,
    #[serde(default)]
    pub(super) webhook: String,
    #[serde(default)]
    pub(super) page: String,
}

impl View {
    /// The view a form's hidden fields name.
    pub(super) fn of_form(form: &HashMap<String, String>) -> Self {
        let field = |name: &str| form.get(name).cloned().unwrap_or_default();
        Self {
            state: field("state"),
            webhook: field("webhook"),
            page: field("page"),
        }
    }

    /// The state filter and the page, checked as the management API checks them.
    fn filter(&self) -> Result<(Option<DeliveryState>, Paging), ApiError> {
        let state = webhook_deliveries::parse_state(Some(self.state.as_str()))?;
        let paging = Paging::parse(Some(self.page.as_str()), None, PAGE_SIZE, PAGE_SIZE)?;
        Ok((state, paging))
    }

    /// The query string of page `page` of this view.
    fn href(&self, app: &str, page: u32) -> String {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        for (name, value) in [("state", &self.state), ("webhook", &self.webhook)] {
            if !value.is_empty() {
                query.append_pair(name, value);
            }
        }
        if page > 1 {
            query.append_pair("page", &page.to_string());
        }
        let query = query.finish();
        if query.is_empty() {
            format!("/apps/{app}/webhooks")
        } else {
            format!("/apps/{app}/webhooks?{query}")
        }
    }
}

/// What the page says besides the webhooks and the log.
#[derive(Default)]
pub(super) struct Notice {
    pub(super) flash: Option<String>,
    pub(super) error: Option<String>,
    /// The add form's URL.
    pub(super) url: String,
    pub(super) ping: Option<Ping>,
}

impl Notice {
    /// A notice saying `text` went well.
    pub(super) fn flash(text: String) -> Self {
        Self {
            flash: Some(text),
            ..Self::default()
        }
    }
}

/// The webhooks as rows, with their deliveries per state (`counts`: webhook, state, count).
fn hook_rows(hooks: Vec<Webhook>, counts: &[(i64, String, i64)], wanted: &View) -> Vec<HookRow> {
    let count = |hook: i64, state: &str| {
        counts
            .iter()
            .filter(|(h, s, _)| *h == hook && s == state)
            .map(|(_, _, n)| n)
            .sum::<i64>()
    };
    hooks
        .into_iter()
        .map(|h| HookRow {
            pending: count(h.id, "pending"),
            delivered: count(h.id, "delivered"),
            dead: count(h.id, "dead"),
            selected: wanted.webhook == h.id.to_string(),
            id: h.id,
            url: h.url,
            created: view::when(h.created_at),
        })
        .collect()
}

/// The Webhooks tab of application `id`, showing `wanted` of the log.
pub(super) async fn page(
    portal: &Portal,
    signed: &Signed,
    id: &str,
    mut status: StatusCode,
    mut notice: Notice,
    mut wanted: View,
) -> Response {
    let state = &portal.app;
    let dev = signed.session.developer_id;
    let app = match db::applications::get(&state.db, dev, id).await {
        Ok(Some(app)) => app,
        Ok(None) => return view::not_found(Frame::signed(&signed.session)),
        Err(e) => return view::unavailable(e),
    };
    let all = Paging {
        page: 1,
        page_size: HOOKS_SHOWN,
    };
    let hooks = match webhooks::list_webhooks(state, dev, id, all).await {
        Ok((hooks, _)) => hooks,
        Err(e) => return refused(signed, e),
    };
    let counts = match db::webhooks::log::counts(&state.db, id).await {
        Ok(counts) => counts,
        Err(e) => return view::unavailable(e),
    };
    let (only, paging) = match wanted.filter() {
        Ok(filter) => filter,
        Err(e) => {
            status = StatusCode::BAD_REQUEST;
            notice.error = Some(e.message);
            wanted = View {
                webhook: wanted.webhook,
                ..View::default()
            };
            wanted.filter().expect("the defaults")
        }
    };
    let webhook = Some(wanted.webhook.as_str()).filter(|w| !w.is_empty());
    let listed = webhook_deliveries::list_deliveries(state, dev, id, webhook, only, paging).await;
    let (logged, total) = match listed {
        Ok(listed) => listed,
        Err(e) => return refused(signed, e),
    };
    let hooks = hook_rows(hooks, &counts, &wanted);
    let log = Log::new(id, &hooks, logged, total, paging, wanted);
    view::render(
        status,
        &Page {
            frame: Frame {
                flash: notice.flash,
                error: notice.error,
                ..Frame::of_app(&signed.session, &app.id, &app.name, view::Tab::Webhooks)
            },
            id: app.id,
            hooks,
            url: notice.url,
            ping: notice.ping,
            log,
        },
    )
}
