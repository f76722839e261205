//! Webhook delivery from the PostgreSQL outbox (see `cloudbridge_shared::db::webhooks`):
//! at least once, signed, with exponential backoff and a dead state after the retry
//! window.

use std::{collections::HashMap, time::Duration};

use chrono::{DateTime, Utc};
use cloudbridge_shared::{
    config::WebhookSettings,
    db::{
        self,
        webhooks::{outbox::AfterFailure, Claimed, DeliveryState},
    },
    telemetry::names,
    usage::Metric,
    webhook::{self, Answer},
};
use futures::StreamExt;

use crate::WorkerState;

/// What one round did.
#[derive(Debug, Default)]
struct Round {
    delivered: usize,
    again: usize,
    retry: usize,
    dead: usize,
}

/// What came of one notification.
enum Sent {
    /// Received, and no new events joined it meanwhile.
    Delivered,
    /// Received, but new events joined it: pending again, due now.
    Again,
    /// Not received: pending until its next attempt.
    Retry,
    /// Not received within the retry window.
    Dead,
    /// Nothing recorded (lease ran out, database error): claimed again later.
    Lost,
}

/// Sends the notifications that are due: claims up to `webhooks.batch` of them under a
/// lease and sends up to `webhooks.concurrency` at once. Called once per scheduler tick
/// by the events worker; several workers may run it at once (claims skip each other's
/// rows), and a worker that dies mid-round leaves its claims to expire and be taken again.
#[tracing::instrument(skip_all, fields(tick = tick))]
pub async fn deliver(state: &WorkerState, tick: i64) {
    let settings = &state.settings.webhooks;
    let Some(cipher) = state.connectors.cipher.as_deref() else {
        // Notifications wait in the outbox for a worker that can open signing keys.
        static WARNED: std::sync::Once = std::sync::Once::new();
        WARNED.call_once(|| {
            tracing::warn!("webhooks are not delivered: secrets.keys is not configured");
        });
        return;
    };
    let claimed =
        match db::webhooks::outbox::claim(&state.db, settings.batch, lease(settings)).await {
            Ok(claimed) if claimed.is_empty() => return,
            Ok(claimed) => claimed,
            Err(e) => {
                tracing::warn!(error = %e, "due webhook notifications not claimed");
                return;
            }
        };
    let mut applications: Vec<String> = claimed.iter().map(|c| c.application_id.clone()).collect();
    applications.sort_unstable();
    applications.dedup();
    let keys: HashMap<String, Vec<u8>> =
        match db::api_keys::signing_keys(&state.db, cipher, &applications).await {
            Ok(keys) => keys
                .into_iter()
                .filter_map(|(app, key)| match key {
                    Ok(key) => Some((app, key)),
                    Err(e) => {
                        tracing::warn!(application = %app, error = %e.message, "signing key not opened");
                        None
                    }
                })
                .collect(),
            Err(e) => {
                // The claims run out and the notifications are taken again.
                tracing::warn!(error = %e, "signing keys not read");
                return;
            }
        };
    let claimed_count = claimed.len();
    let mut sends = futures::stream::iter(claimed)
        .map(|c| send(state, keys.get(&c.application_id).map(Vec::as_slice), c))
        .buffer_unordered(settings.concurrency.max(1));
    let mut round = Round::default();
    while let Some(sent) = sends.next().await {
        match sent {
            Sent::Delivered => round.delivered += 1,
            Sent::Again => round.again += 1,
            Sent::Retry => round.retry += 1,
            Sent::Dead => round.dead += 1,
            Sent::Lost => {}
        }
    }
    tracing::info!(
        claimed = claimed_count,
        delivered = round.delivered,
        again = round.again,
        retry = round.retry,
        dead = round.dead,
        "webhook round done"
    );
}

/// How long a claim holds: long enough for every claimed notification to wait for a
/// sending slot and time out, plus one timeout of margin.
fn lease(settings: &WebhookSettings) -> Duration {
    let batch = settings.batch.max(1) as u64;
    let rounds = batch.div_ceil(settings.concurrency.max(1) as u64);
    Duration::from_millis(settings.timeout_ms.max(1) * (rounds + 1))
}

/// Sends one notification and records what came of it.
async fn send(state: &WorkerState, key: Option<&[u8]>, claimed: Claimed) -> Sent {
    let answer = match key {
        Some(key) => {
            let body = webhook::ping_body(claimed.account_id);
            state
                .webhooks
                .send(&claimed.url, key, &claimed.application_id, &body)
                .await
        }
        None => Answer {
            status: None,
            latency: Duration::ZERO,
            error: Some(
                "The application has no API key to sign with: create a new API key.".into(),
            ),
            retry_after: None,
        },
    };
    metrics::histogram!(names::WEBHOOK_LATENCY).record(answer.latency.as_secs_f64());
    let sent = if answer.received() {
        match db::webhooks::outbox::record_received(&state.db, &claimed, &answer).await {
            Ok(Some(DeliveryState::Delivered)) => Sent::Delivered,
            Ok(Some(_)) => Sent::Again,
            Ok(None) => Sent::Lost,
            Err(e) => {
                tracing::warn!(delivery = claimed.id, error = %e, "delivery not recorded");
                Sent::Lost
            }
        }
    } else {
        let next = after_failure(
            &state.settings.webhooks,
            &claimed,
            &answer,
            Utc::now(),
            rand::random(),
        );
        match db::webhooks::outbox::record_failed(&state.db, &claimed, &answer, next).await {
            Ok(true) if next == AfterFailure::Dead => Sent::Dead,
            Ok(true) => Sent::Retry,
            Ok(false) => Sent::Lost,
            Err(e) => {
                tracing::warn!(delivery = claimed.id, error = %e, "failed attempt not recorded");
                Sent::Lost
            }
        }
    };
    let outcome = match sent {
        Sent::Delivered | Sent::Again => "ok",
        Sent::Dead => "dead",
        Sent::Retry | Sent::Lost => "retry",
    };
    metrics::counter!(names::WEBHOOK_DELIVERIES, "outcome" => outcome).increment(1);
    state
        .usage
        .add(&claimed.application_id, Metric::Deliveries, outcome, 1);
    if let Some(error) = &answer.error {
        tracing::debug!(delivery = claimed.id, status = ?answer.status, error, "webhook attempt failed");
    }
    sent
}

/// When to try again after a failed attempt: `base · 2^attempts` capped at
/// `backoff_max`, with jitter (between half and all of it), but not before the
/// receiver's `Retry-After` (itself capped at `backoff_max`); the last try is at the end
/// of the retry window, and a failure past it is final. `jitter` is in `[0, 1)`.
fn after_failure(
    settings: &WebhookSettings,
    claimed: &Claimed,
    answer: &Answer,
    now: DateTime<Utc>,
    jitter: f64,
) -> AfterFailure {
    let window = chrono::Duration::seconds(settings.retry_window_secs.min(i64::MAX as u64) as i64);
    let window_end = claimed.window_start + window;
    if now >= window_end {
        return AfterFailure::Dead;
    }
    let max = settings.backoff_max_ms;
    let doubling = 1u64 << claimed.attempts.clamp(0, 40);
    let backoff = settings.backoff_base_ms.saturating_mul(doubling).min(max);
    let jittered = backoff / 2 + (backoff as f64 / 2.0 * jitter.clamp(0.0, 1.0)) as u64;
    let asked = answer
        .retry_after
        .map_or(0, |d| (d.as_millis() as u64).min(max));
    let delay = chrono::Duration::milliseconds(jittered.max(asked) as i64);
    AfterFailure::RetryAt((now + delay).min(window_end))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> WebhookSettings {
        WebhookSettings {
            backoff_base_ms: 1_000,
            backoff_max_ms: 60_000,
            retry_window_secs: 3_600,
            ..cloudbridge_shared::Settings::default().webhooks
        }
    }

    fn claimed(attempts: i32, window_start: DateTime<Utc>) -> Claimed {
        Claimed {
            id: 1,
            webhook_id: 1,
            account_id: 1,
            generation: 0,
            attempts,
            window_start,
            lease_until: window_start,
            url: "https://example.com/hook".into(),
            application_id: "app".into(),
        }
    }

    fn failed(retry_after: Option<Duration>) -> Answer {
        Answer {
            status: Some(500),
            latency: Duration::ZERO,
            error: Some("no".into()),
            retry_after,
        }
    }

    fn delay(next: AfterFailure, now: DateTime<Utc>) -> i64 {
        match next {
            AfterFailure::RetryAt(at) => (at - now).num_milliseconds(),
            AfterFailure::Dead => panic!("dead"),
        }
    }

    #[test]
    fn backoff_doubles_with_jitter_up_to_the_cap() {
        let now = Utc::now();
        let s = settings();
        let at = |attempts, jitter| {
            delay(
                after_failure(&s, &claimed(attempts, now), &failed(None), now, jitter),
                now,
            )
        };
        assert_eq!((at(0, 0.0), at(0, 0.999_999)), (500, 999));
        assert_eq!((at(3, 0.0), at(3, 0.999_999)), (4_000, 7_999));
        assert_eq!((at(30, 0.0), at(30, 0.999_999)), (30_000, 59_999));
        assert_eq!(at(i32::MAX, 0.5), 45_000, "no overflow");
    }

    #[test]
    fn retry_after_is_honoured_up_to_the_cap() {
        let now = Utc::now();
        let s = settings();
        let at = |secs| {
            let answer = failed(Some(Duration::from_secs(secs)));
            delay(after_failure(&s, &claimed(0, now), &answer, now, 0.0), now)
        };
        assert_eq!(at(30), 30_000);
        assert_eq!(at(0), 500, "never sooner than the backoff");
        assert_eq!(at(86_400), 60_000, "capped");
    }

    #[test]
    fn the_window_ends_in_one_last_try_then_death() {
        let now = Utc::now();
        let s = settings();
        let started = now - chrono::Duration::seconds(3_590);
        let last = after_failure(&s, &claimed(5, started), &failed(None), now, 0.5);
        assert_eq!(
            last,
            AfterFailure::RetryAt(started + chrono::Duration::seconds(3_600))
        );
        let over = now - chrono::Duration::seconds(3_600);
        assert_eq!(
            after_failure(&s, &claimed(5, over), &failed(None), now, 0.5),
            AfterFailure::Dead
        );
    }

    #[test]
    fn a_lease_covers_a_whole_round() {
        let s = WebhookSettings {
            batch: 500,
            concurrency: 64,
            timeout_ms: 10_000,
            ..settings()
        };
        assert_eq!(lease(&s), Duration::from_secs(90));
    }
}
