//! Event collection: one job per account per round (enqueued by the scheduler from the
//! due times in PostgreSQL) finds what changed in the account and stores it as events.
//!
//! - The first collection records what exists, without events (`seeded`).
//! - Services with a change feed are read from the saved position (`native`); an expired
//!   position is a resync by listing, never silence.
//! - The others are listed and compared with what was seen (`listing`).
//!
//! A collection holds a lease on its account's row, so a job run twice (Redis re-queueing
//! an orphan, two rounds overlapping) never collects one account twice at once.
//!
//! # Layout
//! - `classify`: what happened to an item (pure).
//! - `step`: one transaction of results.
//! - `listing`, `native`: the two ways of finding changes.

use std::time::Instant;

use cloudbridge_connectors::Storage;
use cloudbridge_shared::{db, telemetry::names, ApiError};
use sqlx::PgPool;

use crate::WorkerState;

mod classify;
mod listing;
mod native;
mod step;

/// What a collection works with.
pub struct Collector<'a> {
    db: &'a PgPool,
    account: i64,
    lease_secs: u64,
    max_pages: u32,
}

/// Collects one account's changes (nothing when another worker holds the account or it
/// no longer collects). Outcomes go to metrics and the account's row.
pub async fn collect(state: &WorkerState, account: i64) {
    let settings = &state.settings.events;
    let lease = match db::feeds::lease(&state.db, account, settings.lease_secs).await {
        Ok(Some(lease)) => lease,
        Ok(None) => return,
        Err(e) => {
            tracing::warn!(account, error = %e, "collection not started");
            return;
        }
    };
    let c = Collector {
        db: &state.db,
        account,
        lease_secs: settings.lease_secs,
        max_pages: settings.max_pages,
    };
    let started = Instant::now();
    let result = run(state, &c, lease).await;
    metrics::histogram!(names::EVENT_COLLECTION_LATENCY).record(started.elapsed().as_secs_f64());
    let outcome = match result {
        Ok((events, more)) => {
            metrics::counter!(names::EVENTS_COLLECTED).increment(events as u64);
            if let Err(e) = db::feeds::finish(&state.db, account, more).await {
                tracing::warn!(account, error = %e, "collection not recorded");
            }
            "ok"
        }
        Err(e) => {
            tracing::warn!(account, error = %e.message, code = %e.code, "collection failed");
            let _ = db::feeds::fail(&state.db, account, &e.message).await;
            "error"
        }
    };
    metrics::counter!(names::EVENT_COLLECTIONS, "outcome" => outcome).increment(1);
}

/// Runs a leased collection: events stored, and whether the feed has more to read now.
async fn run(
    state: &WorkerState,
    c: &Collector<'_>,
    lease: db::feeds::Lease,
) -> Result<(usize, bool), ApiError> {
    let account = db::accounts::find(&state.db, c.account)
        .await
        .map_err(listing::db_error)?
        .ok_or_else(|| ApiError::not_found("The account no longer exists."))?;
    let storage: Box<dyn Storage> =
        cloudbridge_connectors::open(&state.connectors, &account.job_ref())?;
    if !lease.seeded {
        let start = storage.feed_start().await?;
        listing::diff(c, storage.as_ref(), false).await?;
        native::save(c, start.as_deref()).await?;
        db::feeds::spread(c.db, c.account, state.settings.events.interval_secs)
            .await
            .map_err(listing::db_error)?;
        return Ok((0, false));
    }
    match lease.cursor {
        Some(cursor) => {
            let followed = native::follow(c, storage.as_ref(), cursor).await?;
            Ok((followed.events, followed.more))
        }
        None => Ok((listing::diff(c, storage.as_ref(), true).await?, false)),
    }
}
