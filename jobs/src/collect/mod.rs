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
use cloudbridge_shared::{
    db::{self, feeds::Next},
    telemetry::names,
    usage::Metric,
    ApiError,
};
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
    lease: db::feeds::Lease,
    lease_secs: u64,
    max_pages: u32,
}

impl Collector<'_> {
    /// Starts a step of this collection (fenced by its lease).
    async fn step(&self, emit: bool) -> Result<step::Step, ApiError> {
        step::Step::begin(self.db, &self.lease, self.lease_secs, emit)
            .await
            .map_err(listing::db_error)
    }
}

/// Collects one account's changes (nothing when another worker holds the account or it
/// no longer collects). Outcomes go to metrics and the account's row. True when this
/// call collected.
pub async fn collect(state: &WorkerState, account: i64) -> bool {
    let settings = &state.settings.events;
    let lease = match db::feeds::lease(&state.db, account, settings.lease_secs).await {
        Ok(Some(lease)) => lease,
        Ok(None) => return false,
        Err(e) => {
            tracing::warn!(account, error = %e, "collection not started");
            return false;
        }
    };
    let c = Collector {
        db: &state.db,
        account,
        lease,
        lease_secs: settings.lease_secs,
        max_pages: settings.max_pages,
    };
    let started = Instant::now();
    let result = run(state, &c).await;
    metrics::histogram!(names::EVENT_COLLECTION_LATENCY).record(started.elapsed().as_secs_f64());
    let outcome = match result {
        Ok((events, next)) => {
            metrics::counter!(names::EVENTS_COLLECTED).increment(events as u64);
            if let Err(e) = db::feeds::finish(&state.db, &c.lease, next).await {
                tracing::warn!(account, error = %e, "collection not recorded");
            }
            "ok"
        }
        Err(e) if e.code == listing::LEASE_LOST => {
            // It ran past its lease and another collection took over: that one goes on.
            tracing::warn!(account, "collection outlived its lease; stopped");
            "superseded"
        }
        Err(e) => {
            tracing::warn!(account, error = %e.message, code = %e.code, "collection failed");
            let _ = db::feeds::fail(&state.db, &c.lease, &e.message).await;
            "error"
        }
    };
    metrics::counter!(names::EVENT_COLLECTIONS, "outcome" => outcome).increment(1);
    true
}

/// Takes `account`'s first collection (what exists, recorded without events) now, and
/// returns once it is done, so that every change made after this returns is reported. It
/// returns at once for accounts already seeded or not collecting; when another worker is
/// taking it, this waits for that one.
pub async fn seed(state: &WorkerState, account: i64) -> Result<(), ApiError> {
    loop {
        match db::feeds::seeded(&state.db, account).await? {
            None | Some(true) => return Ok(()),
            Some(false) if collect(state, account).await => {
                // It ran: done, or failed (then the regular rounds take it up again).
                return match db::feeds::seeded(&state.db, account).await? {
                    Some(false) => Err(ApiError::new(
                        503,
                        "service_not_available",
                        "The account's first collection failed; it is retried.",
                    )),
                    _ => Ok(()),
                };
            }
            // Another worker is taking it.
            Some(false) => tokio::time::sleep(std::time::Duration::from_millis(100)).await,
        }
    }
}

/// Runs a leased collection: events stored, and when the account is collected next.
async fn run(state: &WorkerState, c: &Collector<'_>) -> Result<(usize, Next), ApiError> {
    let account = db::accounts::find(&state.db, c.account)
        .await?
        .ok_or_else(|| ApiError::not_found("The account no longer exists."))?;
    let answers_storage = cloudbridge_connectors::service::find(&account.service)
        .is_some_and(|s| s.answers(cloudbridge_connectors::service::Api::Storage));
    if !answers_storage {
        // No files, so no storage changes (calendar accounts: `caldav`); seeded at once,
        // so that nothing waits on it.
        if !c.lease.seeded {
            native::save(c, None).await?;
        }
        return Ok((0, Next::Scheduled));
    }
    let storage: Box<dyn Storage> =
        cloudbridge_connectors::open(&state.connectors, &account.job_ref())?;
    // Events stored count in the application's usage, by service.
    let counted = |events: usize| {
        let n = events as u64;
        state
            .usage
            .add(&account.application_id, Metric::Events, &account.service, n);
        events
    };
    if !c.lease.seeded {
        let start = storage.feed_start().await?;
        listing::diff(c, storage.as_ref(), false).await?;
        native::save(c, start.as_deref()).await?;
        return Ok((0, Next::Spread(state.settings.events.interval_secs)));
    }
    match c.lease.cursor.clone() {
        Some(cursor) => {
            let followed = native::follow(c, storage.as_ref(), cursor).await?;
            let next = if followed.more {
                Next::Now
            } else {
                Next::Scheduled
            };
            Ok((counted(followed.events), next))
        }
        None => Ok((
            counted(listing::diff(c, storage.as_ref(), true).await?),
            Next::Scheduled,
        )),
    }
}
