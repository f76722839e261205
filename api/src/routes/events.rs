//! Events API (Kloudless v1): `GET /v1/accounts/{acct}/events?cursor=&page_size=` and
//! `GET /v1/accounts/{acct}/events/latest`.
//!
//! Cursors are event ids as numeric strings: "the events after this one". A page answers
//! the events after the cursor, the cursor after them (the one given when there are none)
//! and how many more are waiting (`remaining`, counted up to a cap); the SDKs read on
//! while `remaining` is positive and stop at an empty page.

use std::collections::HashMap;

use axum::extract::State;
use cloudbridge_shared::{db, db::events::Event, ApiError};
use serde_json::{json, Value};

use crate::{
    auth::AppCaller,
    extract::{BaseUrl, Json, Paging, Path, Query},
    wire, AppState,
};

/// Events per page unless `page_size` says otherwise.
const DEFAULT_PAGE: u32 = 100;
/// Largest `page_size`.
const MAX_PAGE: u32 = 1000;
/// `remaining` counts up to this many.
const REMAINING_CAP: i64 = 10_000;

/// `GET /v1/accounts/{acct}/events?cursor=&page_size=`
#[utoipa::path(
    get,
    path = "/accounts/{acct}/events",
    tag = "events",
    summary = "List events",
    operation_id = "events_list",
    params(
        ("acct" = String, Path, description = "Account id, or `me` with a bearer token."),
        ("cursor" = Option<String>, Query, description = "The last event seen."),
        ("page_size" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "Events per page (at most 1000)."),
    ),
    responses(
        (status = 200, description = "Events after the cursor.", body = crate::contract::ObjectList),
        crate::contract::Errors,
    ),
    security(("bearer" = []), ("api_key" = [])),
)]
pub async fn list(
    State(state): State<AppState>,
    caller: AppCaller,
    BaseUrl(base): BaseUrl,
    Path(acct): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let account = caller.account(&state, &acct).await?;
    let page_size = i64::from(
        Paging::parse(
            None,
            q.get("page_size").map(|s| s.trim()),
            DEFAULT_PAGE,
            MAX_PAGE,
        )?
        .page_size,
    );
    let purged = db::events::purged_through(&state.db, account.id).await?;
    // Without a cursor: from the oldest event retention kept.
    let cursor = match q.get("cursor").map(|s| s.trim()) {
        None | Some("") => purged,
        Some(raw) => crate::parse::cursor(raw)?,
    };
    if cursor < purged {
        return Err(ApiError::new(
            400,
            "cursor_expired",
            "This cursor points at events older than the retention window; \
             get a new one from /events/latest.",
        ));
    }
    let (events, remaining) =
        db::events::after(&state.db, account.id, cursor, page_size, REMAINING_CAP).await?;
    let next = events.last().map_or(cursor, |e| e.id);
    let objects: Vec<Value> = events
        .iter()
        .map(|e| event(e, &account.service, &base))
        .collect();
    Ok(Json(json!({
        "type": "object_list",
        "api": "events",
        "objects": objects,
        "count": objects.len(),
        "cursor": next.to_string(),
        "remaining": remaining,
    })))
}

/// `GET /v1/accounts/{acct}/events/latest`: the cursor after the newest event.
#[utoipa::path(
    get,
    path = "/accounts/{acct}/events/latest",
    tag = "events",
    summary = "The latest cursor",
    operation_id = "events_latest",
    params(
        ("acct" = String, Path, description = "Account id, or `me` with a bearer token."),
    ),
    responses(
        (status = 200, description = "`{\"cursor\": ...}` after the newest event.", body = crate::contract::JsonObject),
        crate::contract::Errors,
    ),
    security(("bearer" = []), ("api_key" = [])),
)]
pub async fn latest(
    State(state): State<AppState>,
    caller: AppCaller,
    Path(acct): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let account = caller.account(&state, &acct).await?;
    let cursor = db::events::latest(&state.db, account.id).await?;
    Ok(Json(json!({ "cursor": cursor.to_string() })))
}

/// One event (Kloudless v1 shape) of an account of `service`.
fn event(e: &Event, service: &str, base: &str) -> Value {
    json!({
        "id": e.id.to_string(),
        "account": e.account_id,
        "action": "-",
        "type": e.kind,
        "modified": wire::time(e.created_at),
        "user_id": null,
        "ip": null,
        "metadata": wire::service_entry(&e.metadata, e.account_id, service, base),
    })
}
