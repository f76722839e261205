//! Requests counted in their application's usage, by status class (see
//! `cloudbridge_shared::usage`): the layer gives each request a slot, the caller extractor
//! puts the application's counters in it once the credential is known, and the layer
//! counts the answer's status there. Nothing is written per request; the process's
//! flusher writes the counts in batches. Requests refused before their credential was
//! read (no or bad credentials, rate limits, load shedding) belong to no application.

use std::{cell::Cell, sync::Arc};

use axum::{
    extract::{Request, State},
    middleware::Next,
    response::Response,
};
use cloudbridge_shared::usage::Requests;

use crate::{auth::Caller, AppState};

tokio::task_local! {
    /// The request counters of the application the request being served acts for.
    static SLOT: Cell<Option<Arc<Requests>>>;
}

/// Counts each request whose caller acts for an application, by the answer's status.
pub async fn count(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if !state.usage.enabled() {
        return next.run(req).await;
    }
    SLOT.scope(Cell::new(None), async move {
        let response = next.run(req).await;
        if let Some(requests) = SLOT.with(Cell::take) {
            requests.count(response.status().as_u16());
        }
        response
    })
    .await
}

/// Attributes the request being served to `caller`'s application (once per request;
/// nothing for a developer, or outside [`count`]).
pub fn attribute(state: &AppState, caller: &Caller) {
    let Some(app) = caller.application() else {
        return;
    };
    let _ = SLOT.try_with(|slot| {
        let held = slot.take();
        slot.set(held.or_else(|| state.usage.requests_of(app)));
    });
}
