//! An application's webhooks and their delivery log (`/apps/{id}/webhooks`), through the
//! same rules as the management API (`routes::webhooks`, `routes::webhook_deliveries`):
//! adding one sends the verification ping and the page says what the receiver answered;
//! the log is filtered by state and webhook, paged, and dead deliveries are replayed one
//! by one or all at once.
//!
//! # Layout
//! - this module: the routes and what each form does.
//! - [`page`]: the page, made from the shared rules' answers.

mod page;

use axum::{
    extract::{Path, Query, State},
    http::StatusCode,
    response::Response,
    routing::{get, post},
    Router,
};
use cloudbridge_shared::ApiError;

use page::{page, Notice, Ping, View};

use super::{
    apps::refused,
    session::{Posted, Signed},
    Portal,
};
use crate::routes::{webhook_deliveries, webhooks};

/// The routes of the Webhooks tab.
pub fn routes() -> Router<Portal> {
    Router::new()
        .route("/apps/{id}/webhooks", get(show).post(add))
        .route("/apps/{id}/webhooks/replay", post(replay_all))
        .route("/apps/{id}/webhooks/{wid}/delete", post(remove))
        .route("/apps/{id}/webhooks/{wid}/replay", post(replay_dead))
        .route(
            "/apps/{id}/webhooks/{wid}/deliveries/{did}/replay",
            post(replay_one),
        )
}

/// The page after a change: what it did, or why it was refused.
async fn after(
    portal: &Portal,
    signed: &Signed,
    id: &str,
    done: Result<String, ApiError>,
    wanted: View,
) -> Response {
    match done {
        Ok(flash) => {
            page(
                portal,
                signed,
                id,
                StatusCode::OK,
                Notice::flash(flash),
                wanted,
            )
            .await
        }
        Err(e) if e.status == 400 => {
            let notice = Notice {
                error: Some(e.message),
                ..Notice::default()
            };
            page(portal, signed, id, StatusCode::BAD_REQUEST, notice, wanted).await
        }
        Err(e) => refused(signed, e),
    }
}

/// `GET /apps/{id}/webhooks?state=&webhook=&page=`.
async fn show(
    State(portal): State<Portal>,
    signed: Signed,
    Path(id): Path<String>,
    Query(wanted): Query<View>,
) -> Response {
    page(
        &portal,
        &signed,
        &id,
        StatusCode::OK,
        Notice::default(),
        wanted,
    )
    .await
}

/// `POST /apps/{id}/webhooks`: pings the URL and adds it if the receiver passes; the page
/// says what it answered either way.
async fn add(
    State(portal): State<Portal>,
    Path(id): Path<String>,
    Posted { signed, form }: Posted,
) -> Response {
    let dev = signed.session.developer_id;
    let url = form.get("url").map(|u| u.trim()).unwrap_or_default();
    let (status, notice) = match webhooks::create_webhook(&portal.app, dev, &id, Some(url)).await {
        Ok(verification) => {
            let ping = Some(Ping::from((url, &verification.answer)));
            if verification.webhook.is_some() {
                let flash = Some(format!("Webhook {url} added."));
                (
                    StatusCode::OK,
                    Notice {
                        flash,
                        ping,
                        ..Notice::default()
                    },
                )
            } else {
                let url = url.into();
                (
                    StatusCode::BAD_REQUEST,
                    Notice {
                        url,
                        ping,
                        ..Notice::default()
                    },
                )
            }
        }
        Err(e) if e.status == 400 => (
            StatusCode::BAD_REQUEST,
            Notice {
                error: Some(e.message),
                url: url.into(),
                ..Notice::default()
            },
        ),
        Err(e) => return refused(&signed, e),
    };
    page(&portal, &signed, &id, status, notice, View::default()).await
}

/// `POST /apps/{id}/webhooks/{wid}/delete`: with its pending deliveries and log.
async fn remove(
    State(portal): State<Portal>,
    Path((id, wid)): Path<(String, String)>,
    Posted { signed, form }: Posted,
) -> Response {
    let dev = signed.session.developer_id;
    let done = webhooks::delete_webhook(&portal.app, dev, &id, &wid)
        .await
        .map(|()| "Webhook removed, with its deliveries.".to_string());
    let mut wanted = View::of_form(&form);
    if wanted.webhook == wid {
        wanted.webhook.clear();
    }
    after(&portal, &signed, &id, done, wanted).await
}

/// `POST /apps/{id}/webhooks/{wid}/deliveries/{did}/replay`.
async fn replay_one(
    State(portal): State<Portal>,
    Path((id, wid, did)): Path<(String, String, String)>,
    Posted { signed, form }: Posted,
) -> Response {
    let dev = signed.session.developer_id;
    let done = webhook_deliveries::replay_delivery(&portal.app, dev, &id, &wid, &did)
        .await
        .map(|d| {
            format!(
                "Delivery {did} replayed: delivery {} is pending, due now.",
                d.id
            )
        });
    after(&portal, &signed, &id, done, View::of_form(&form)).await
}

/// `POST /apps/{id}/webhooks/{wid}/replay`: every dead delivery of one webhook.
async fn replay_dead(
    State(portal): State<Portal>,
    Path((id, wid)): Path<(String, String)>,
    Posted { signed, form }: Posted,
) -> Response {
    let dev = signed.session.developer_id;
    let done = webhook_deliveries::replay_dead_deliveries(&portal.app, dev, &id, &wid)
        .await
        .map(|(_, replayed, left)| replayed_text(replayed, left));
    after(&portal, &signed, &id, done, View::of_form(&form)).await
}

/// `POST /apps/{id}/webhooks/replay`: every dead delivery of every webhook.
async fn replay_all(
    State(portal): State<Portal>,
    Path(id): Path<String>,
    Posted { signed, form }: Posted,
) -> Response {
    let dev = signed.session.developer_id;
    let done = webhook_deliveries::replay_every_dead(&portal.app, dev, &id)
        .await
        .map(|(replayed, left)| replayed_text(replayed, left));
    after(&portal, &signed, &id, done, View::of_form(&form)).await
}

fn replayed_text(replayed: u64, left: i64) -> String {
    let plural = if replayed == 1 { "y" } else { "ies" };
    let mut text = format!("{replayed} dead deliver{plural} replayed: pending, due now.");
    if left > 0 {
        text.push_str(&format!(" {left} more are dead: replay again for them."));
    }
    text
}
