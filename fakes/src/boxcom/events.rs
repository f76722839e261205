//! The user event stream (`GET /2.0/events`), written from Box's API reference and its
//! events guides: every change the fake makes to an item is logged as an event whose
//! `source` is the item as it was right after (its standard representation, with
//! `path_collection`; a trashed item shows `item_status: trashed` under "Trash").
//!
//! Stream positions are opaque numbers (here a large base plus the number of events
//! before the position); `now` answers no events and the position at the end, `0` or no
//! position starts at the oldest event kept. [`Log::expire`] forgets every event so far,
//! as Box forgets old events: a position from before answers 400 (Box keeps events for a
//! limited time and documents no answer for a position it no longer has; 400 is what its
//! API gives for a stream position it does not take).

use std::collections::HashMap;

use axum::{
    extract::{Query, State},
    http::StatusCode,
    Json,
};
use chrono::Utc;
use serde_json::{json, Value};

use super::{errors::BoxError, store, AppState};

/// Where stream positions start (Box's look like `1152922976252290886`).
const BASE: u64 = 1_152_922_976_000_000_000;
/// Events per answer unless `limit` says otherwise, and the most it may ask for.
const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 500;

/// Every event of the account, oldest first.
#[derive(Debug, Default)]
pub struct Log {
    events: Vec<Value>,
    /// Events before this index are forgotten.
    kept_from: usize,
    /// Added to every position handed out since the last [`Log::expire`], so that no
    /// position from before it is taken again.
    epoch: u64,
    /// At most this many events per answer (tests page with small numbers).
    pub page_limit: Option<usize>,
}

impl Log {
    /// Logs an `event_type` event about `source` (rendered by the store), done by `by`.
    pub fn record(&mut self, event_type: &str, source: Value, by: Value) {
        let now = store::time(Utc::now());
        self.events.push(json!({
            "type": "event",
            "event_id": uuid::Uuid::new_v4().to_string(),
            "event_type": event_type,
            "created_by": by,
            "created_at": now,
            "recorded_at": now,
            "session_id": null,
            "source": source,
            "additional_details": null,
        }));
    }

    /// Forgets every event so far: older positions are no longer answered.
    pub fn expire(&mut self) {
        self.kept_from = self.events.len();
        self.epoch += 1_000_000_000;
    }

    /// The position before event `index`.
    fn position(&self, index: usize) -> String {
        (BASE + self.epoch + index as u64).to_string()
    }

    /// The event types logged so far (tests).
    pub fn types(&self) -> Vec<String> {
        self.events
            .iter()
            .map(|e| e["event_type"].as_str().unwrap_or_default().to_string())
            .collect()
    }
}

fn bad(message: &str) -> BoxError {
    BoxError::new(StatusCode::BAD_REQUEST, "bad_request", message)
}

/// `GET /2.0/events?stream_type=&stream_position=&limit=`
pub async fn list(
    State(s): AppState,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, BoxError> {
    match q.get("stream_type").map(String::as_str) {
        None | Some("all" | "changes" | "sync") => {}
        Some("admin_logs" | "admin_logs_streaming") => {
            return Err(BoxError::new(
                StatusCode::FORBIDDEN,
                "access_denied_insufficient_permissions",
                "Access denied - insufficient permission",
            ))
        }
        Some(_) => return Err(bad("Invalid value for stream_type")),
    }
    let world = s.world();
    let log = &world.store.log;
    let end = log.position(log.events.len());
    let start = match q.get("stream_position").map(String::as_str) {
        Some("now") => {
            return Ok(Json(
                json!({"chunk_size": 0, "next_stream_position": end, "entries": []}),
            ))
        }
        None | Some("0" | "") => log.kept_from,
        Some(position) => {
            let position: u64 = position
                .parse()
                .map_err(|_| bad("Invalid value for stream_position"))?;
            let index = position
                .checked_sub(BASE + log.epoch)
                .map(|i| i as usize)
                .filter(|i| *i >= log.kept_from)
                .ok_or_else(|| bad("The stream position is no longer available"))?;
            index.min(log.events.len())
        }
    };
    let limit = match q.get("limit") {
        None => DEFAULT_LIMIT,
        Some(limit) => limit
            .parse::<usize>()
            .ok()
            .filter(|l| (1..=MAX_LIMIT).contains(l))
            .ok_or_else(|| bad("Invalid value for limit"))?,
    };
    let limit = log.page_limit.map_or(limit, |cap| limit.min(cap));
    let entries: Vec<Value> = log.events[start..].iter().take(limit).cloned().collect();
    Ok(Json(json!({
        "chunk_size": entries.len(),
        "next_stream_position": log.position(start + entries.len()),
        "entries": entries,
    })))
}
