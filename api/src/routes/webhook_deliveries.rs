//! Management API: a webhook's delivery log and replays (DeveloperKey), under
//! `/v1/applications/{app}/webhooks/{wid}`. Not part of Kloudless v1.

use std::collections::HashMap;

use axum::extract::State;
use cloudbridge_shared::{
    db::{
        self,
        webhooks::{Attempt, Delivery, DeliveryState, LogFilter, Webhook},
    },
    ApiError,
};
use serde_json::{json, Value};

use super::{applications::owned, webhooks::owned_webhook};
use crate::{
    auth::Developer,
    extract::{BaseUrl, Json, Paging, Path, Query},
    wire, AppState,
};

/// Attempts shown per delivery (the latest ones).
const ATTEMPTS_SHOWN: i64 = 20;

/// Dead deliveries replayed per `POST …/replay`.
const REPLAY_MAX: i64 = 1_000;

/// Webhooks read at once when replaying every webhook's dead deliveries.
const WEBHOOKS_PER_READ: u32 = 100;

/// `GET …/webhooks/{wid}/deliveries?state=&page=&page_size=`: newest first.
#[utoipa::path(
    get,
    path = "/applications/{app}/webhooks/{wid}/deliveries",
    tag = "webhooks",
    summary = "List deliveries",
    operation_id = "webhook_deliveries_list",
    params(
        ("app" = String, Path, description = "Application id."),
        ("wid" = String, Path, description = "Webhook id."),
        ("page" = Option<u32>, Query, minimum = 1, description = "1-based page."),
        ("page_size" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "Items per page (at most 1000)."),
        ("state" = Option<String>, Query, description = "`pending`, `delivered` or `dead`."),
    ),
    responses(
        (status = 200, description = "Deliveries, newest first.", body = crate::contract::ObjectList),
        crate::contract::Errors,
    ),
    security(("developer_key" = [])),
)]
pub async fn list(
    State(state): State<AppState>,
    Developer(dev): Developer,
    BaseUrl(base): BaseUrl,
    Path((app, wid)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let paging = Paging::from_query(&q)?;
    let wanted = parse_state(q.get("state").map(String::as_str))?;
    let (logged, total) =
        list_deliveries(&state, dev, &app, Some(wid.as_str()), wanted, paging).await?;
    let objects = logged.iter().map(|l| l.wire(&app, &base)).collect();
    Ok(Json(wire::counted("meta", objects, paging, total)?))
}

/// `GET …/webhooks/{wid}/deliveries/{did}`
#[utoipa::path(
    get,
    path = "/applications/{app}/webhooks/{wid}/deliveries/{did}",
    tag = "webhooks",
    summary = "Get a delivery",
    operation_id = "webhook_deliveries_get",
    params(
        ("app" = String, Path, description = "Application id."),
        ("wid" = String, Path, description = "Webhook id."),
        ("did" = String, Path, description = "Delivery id."),
    ),
    responses(
        (status = 200, description = "The delivery and its latest attempts.", body = crate::contract::JsonObject),
        crate::contract::Errors,
    ),
    security(("developer_key" = [])),
)]
pub async fn get(
    State(state): State<AppState>,
    Developer(dev): Developer,
    BaseUrl(base): BaseUrl,
    Path((app, wid, did)): Path<(String, String, String)>,
) -> Result<Json<Value>, ApiError> {
    let hook = owned_webhook(&state, dev, &app, &wid).await?;
    let id = delivery_id(&did)?;
    let delivery = db::webhooks::log::delivery(&state.db, hook.id, id)
        .await?
        .ok_or_else(not_found)?;
    let logged = with_attempts(&state, vec![delivery]).await?;
    Ok(Json(logged[0].wire(&app, &base)))
}

/// `POST …/webhooks/{wid}/deliveries/{did}/replay`: back to pending, due now, attempts
/// reset. Answers the pending delivery (another one when the account already had one).
#[utoipa::path(
    post,
    path = "/applications/{app}/webhooks/{wid}/deliveries/{did}/replay",
    tag = "webhooks",
    summary = "Replay a delivery",
    operation_id = "webhook_deliveries_replay",
    params(
        ("app" = String, Path, description = "Application id."),
        ("wid" = String, Path, description = "Webhook id."),
        ("did" = String, Path, description = "Delivery id."),
    ),
    responses(
        (status = 200, description = "The delivery, pending again.", body = crate::contract::JsonObject),
        crate::contract::Errors,
    ),
    security(("developer_key" = [])),
)]
pub async fn replay(
    State(state): State<AppState>,
    Developer(dev): Developer,
    BaseUrl(base): BaseUrl,
    Path((app, wid, did)): Path<(String, String, String)>,
) -> Result<Json<Value>, ApiError> {
    let delivery = replay_delivery(&state, dev, &app, &wid, &did).await?;
    let logged = with_attempts(&state, vec![delivery]).await?;
    Ok(Json(logged[0].wire(&app, &base)))
}

/// `POST …/webhooks/{wid}/replay`: replays the dead deliveries (up to 1,000 per call;
/// `remaining` says how many are left).
#[utoipa::path(
    post,
    path = "/applications/{app}/webhooks/{wid}/replay",
    tag = "webhooks",
    summary = "Replay dead deliveries",
    operation_id = "webhook_deliveries_replay_dead",
    params(
        ("app" = String, Path, description = "Application id."),
        ("wid" = String, Path, description = "Webhook id."),
    ),
    responses(
        (status = 200, description = "How many dead deliveries are pending again.", body = crate::contract::JsonObject),
        crate::contract::Errors,
    ),
    security(("developer_key" = [])),
)]
pub async fn replay_dead(
    State(state): State<AppState>,
    Developer(dev): Developer,
    Path((app, wid)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let (hook, replayed, remaining) = replay_dead_deliveries(&state, dev, &app, &wid).await?;
    Ok(Json(json!({
        "id": hook.id,
        "replayed": replayed,
        "remaining": remaining,
        "api": "meta",
        "type": "webhook_replay",
    })))
}

/// The `state` filter of the delivery log (empty or absent: every state).
pub(crate) fn parse_state(raw: Option<&str>) -> Result<Option<DeliveryState>, ApiError> {
    match raw {
        None | Some("") => Ok(None),
        Some(name) => DeliveryState::parse(name).map(Some).ok_or_else(|| {
            ApiError::invalid_parameters("`state` must be pending, delivered or dead.")
        }),
    }
}

/// A delivery of the log with its latest attempts (oldest first).
pub(crate) struct Logged {
    /// The delivery.
    pub delivery: Delivery,
    /// Its latest attempts.
    pub attempts: Vec<Attempt>,
}

impl Logged {
    /// The wire shape.
    fn wire(&self, app: &str, base: &str) -> Value {
        let attempts: Vec<&Attempt> = self.attempts.iter().collect();
        wire::delivery(&self.delivery, &attempts, app, base)
    }
}

/// A page of the delivery log of developer `dev`'s application `app`, newest first, with
/// the latest attempts of each delivery, and the total: of webhook `wid`, or of every
/// webhook of the application (`None`); in state `wanted` only, if given. The one rule for
/// the management API and the portal.
pub(crate) async fn list_deliveries(
    state: &AppState,
    dev: i64,
    app: &str,
    wid: Option<&str>,
    wanted: Option<DeliveryState>,
    paging: Paging,
) -> Result<(Vec<Logged>, i64), ApiError> {
    let webhook = match wid {
        Some(wid) => Some(owned_webhook(state, dev, app, wid).await?.id),
        None => {
            owned(state, dev, app).await?;
            None
        }
    };
    let filter = LogFilter {
        application: app,
        webhook,
        state: wanted,
    };
    let (deliveries, total) =
        db::webhooks::log::deliveries(&state.db, filter, paging.page, paging.page_size).await?;
    Ok((with_attempts(state, deliveries).await?, total))
}

/// Replays delivery `did` of webhook `wid` of developer `dev`'s application `app`: back
/// to pending, due now, attempts reset. The pending delivery that carries it (another one
/// when the account already had one).
pub(crate) async fn replay_delivery(
    state: &AppState,
    dev: i64,
    app: &str,
    wid: &str,
    did: &str,
) -> Result<Delivery, ApiError> {
    let hook = owned_webhook(state, dev, app, wid).await?;
    let id = delivery_id(did)?;
    db::webhooks::log::replay(&state.db, hook.id, id)
        .await?
        .ok_or_else(not_found)
}

/// Replays the dead deliveries of webhook `wid` of developer `dev`'s application `app`
/// (up to [`REPLAY_MAX`] per call): the webhook, how many were replayed and how many dead
/// ones are left.
pub(crate) async fn replay_dead_deliveries(
    state: &AppState,
    dev: i64,
    app: &str,
    wid: &str,
) -> Result<(Webhook, u64, i64), ApiError> {
    let hook = owned_webhook(state, dev, app, wid).await?;
    let (replayed, remaining) =
        db::webhooks::log::replay_dead(&state.db, hook.id, REPLAY_MAX).await?;
    Ok((hook, replayed, remaining))
}

/// Replays the dead deliveries of every webhook of developer `dev`'s application `app`
/// (up to [`REPLAY_MAX`] per webhook): how many were replayed and how many dead ones are
/// left.
pub(crate) async fn replay_every_dead(
    state: &AppState,
    dev: i64,
    app: &str,
) -> Result<(u64, i64), ApiError> {
    owned(state, dev, app).await?;
    let (mut replayed, mut left) = (0, 0);
    for page in 1.. {
        let (hooks, total) = db::webhooks::list(&state.db, app, page, WEBHOOKS_PER_READ).await?;
        for hook in &hooks {
            let (n, rest) = db::webhooks::log::replay_dead(&state.db, hook.id, REPLAY_MAX).await?;
            replayed += n;
            left += rest;
        }
        if hooks.is_empty() || i64::from(page) * i64::from(WEBHOOKS_PER_READ) >= total {
            break;
        }
    }
    Ok((replayed, left))
}

fn not_found() -> ApiError {
    ApiError::not_found("No delivery has this id.")
}

fn delivery_id(raw: &str) -> Result<i64, ApiError> {
    raw.parse().map_err(|_| not_found())
}

/// `deliveries` with their latest attempts.
async fn with_attempts(
    state: &AppState,
    deliveries: Vec<Delivery>,
) -> Result<Vec<Logged>, ApiError> {
    let ids: Vec<i64> = deliveries.iter().map(|d| d.id).collect();
    let attempts = db::webhooks::log::attempts(&state.db, &ids, ATTEMPTS_SHOWN).await?;
    let mut by_delivery: HashMap<i64, Vec<Attempt>> = HashMap::new();
    for a in attempts {
        by_delivery.entry(a.delivery_id).or_default().push(a);
    }
    Ok(deliveries
        .into_iter()
        .map(|delivery| Logged {
            attempts: by_delivery.remove(&delivery.id).unwrap_or_default(),
            delivery,
        })
        .collect())
}
