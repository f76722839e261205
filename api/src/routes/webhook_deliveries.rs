//! Management API: a webhook's delivery log and replays (DeveloperKey), under
//! `/v1/applications/{app}/webhooks/{wid}`. Not part of Kloudless v1.

use std::collections::HashMap;

use axum::extract::{Path, State};
use cloudbridge_shared::{
    db::{
        self,
        webhooks::{Attempt, Delivery, DeliveryState},
    },
    ApiError,
};
use serde_json::{json, Value};

use super::webhooks::owned_webhook;
use crate::{
    auth::Developer,
    extract::{BaseUrl, Json, Paging, Query},
    wire, AppState,
};

/// Attempts shown per delivery (the latest ones).
const ATTEMPTS_SHOWN: i64 = 20;

/// Dead deliveries replayed per `POST …/replay`.
const REPLAY_MAX: i64 = 1_000;

/// `GET …/webhooks/{wid}/deliveries?state=&page=&page_size=`: newest first.
pub async fn list(
    State(state): State<AppState>,
    Developer(dev): Developer,
    BaseUrl(base): BaseUrl,
    Path((app, wid)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let hook = owned_webhook(&state, dev, &app, &wid).await?;
    let paging = Paging::from_query(&q)?;
    let wanted = match q.get("state").map(String::as_str) {
        None | Some("") => None,
        Some(name) => Some(DeliveryState::parse(name).ok_or_else(|| {
            ApiError::invalid_parameters("`state` must be pending, delivered or dead.")
        })?),
    };
    let (deliveries, total) =
        db::webhooks::log::deliveries(&state.db, hook.id, wanted, paging.page, paging.page_size)
            .await?;
    let objects = render(&state, &deliveries, &app, &base).await?;
    Ok(Json(wire::counted("meta", objects, paging, total)?))
}

/// `GET …/webhooks/{wid}/deliveries/{did}`
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
    let mut objects = render(&state, &[delivery], &app, &base).await?;
    Ok(Json(objects.remove(0)))
}

/// `POST …/webhooks/{wid}/deliveries/{did}/replay`: back to pending, due now, attempts
/// reset. Answers the pending delivery (another one when the account already had one).
pub async fn replay(
    State(state): State<AppState>,
    Developer(dev): Developer,
    BaseUrl(base): BaseUrl,
    Path((app, wid, did)): Path<(String, String, String)>,
) -> Result<Json<Value>, ApiError> {
    let hook = owned_webhook(&state, dev, &app, &wid).await?;
    let id = delivery_id(&did)?;
    let delivery = db::webhooks::log::replay(&state.db, hook.id, id)
        .await?
        .ok_or_else(not_found)?;
    let mut objects = render(&state, &[delivery], &app, &base).await?;
    Ok(Json(objects.remove(0)))
}

/// `POST …/webhooks/{wid}/replay`: replays the dead deliveries (up to 1,000 per call;
/// `remaining` says how many are left).
pub async fn replay_dead(
    State(state): State<AppState>,
    Developer(dev): Developer,
    Path((app, wid)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let hook = owned_webhook(&state, dev, &app, &wid).await?;
    let (replayed, remaining) =
        db::webhooks::log::replay_dead(&state.db, hook.id, REPLAY_MAX).await?;
    Ok(Json(json!({
        "id": hook.id,
        "replayed": replayed,
        "remaining": remaining,
        "api": "meta",
        "type": "webhook_replay",
    })))
}

fn not_found() -> ApiError {
    ApiError::not_found("No delivery has this id.")
}

fn delivery_id(raw: &str) -> Result<i64, ApiError> {
    raw.parse().map_err(|_| not_found())
}

/// The wire shape of deliveries with their latest attempts.
async fn render(
    state: &AppState,
    deliveries: &[Delivery],
    app: &str,
    base: &str,
) -> Result<Vec<Value>, ApiError> {
    let ids: Vec<i64> = deliveries.iter().map(|d| d.id).collect();
    let attempts = db::webhooks::log::attempts(&state.db, &ids, ATTEMPTS_SHOWN).await?;
    let mut by_delivery: HashMap<i64, Vec<&Attempt>> = HashMap::new();
    for a in &attempts {
        by_delivery.entry(a.delivery_id).or_default().push(a);
    }
    Ok(deliveries
        .iter()
        .map(|d| {
            let own = by_delivery.get(&d.id).map_or(&[][..], Vec::as_slice);
            wire::delivery(d, own, app, base)
        })
        .collect())
}
