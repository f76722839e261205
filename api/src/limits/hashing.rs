//! The bound on password hashing. One argon2id hash takes 19 MiB and a core for tens of
//! milliseconds; without a bound, every request in flight could hash at once (90 guesses
//! at a link password took the API from 55 MB to 1.7 GB). At most `slots` hashes run at
//! once; a request waits for a slot up to `wait`, then gets 503 + `Retry-After`.

use std::{
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::Duration,
};

use cloudbridge_shared::{secret, telemetry::names, ApiError};
use tokio::sync::Semaphore;

/// The `reason` label of `cloudbridge_http_shed_total` for a request that found no slot.
pub const SHED_REASON: &str = "password_hashing";

/// Runs password hashes, at most `slots` at once.
pub struct PasswordHashing {
    slots: Arc<Semaphore>,
    wait: Duration,
    /// Hashes running now and the most ever seen at once (the test hook of the bound).
    running: Arc<Counts>,
}

#[derive(Default)]
struct Counts {
    now: AtomicUsize,
    peak: AtomicUsize,
}

impl PasswordHashing {
    /// At most `slots` hashes at once (at least one); waiting up to `wait` for a slot.
    pub fn new(slots: usize, wait: Duration) -> Self {
        metrics::gauge!(names::PASSWORD_HASHES).set(0.0);
        metrics::counter!(names::HTTP_SHED, "reason" => SHED_REASON).increment(0);
        Self {
            slots: Arc::new(Semaphore::new(slots.max(1))),
            wait,
            running: Arc::default(),
        }
    }

    /// True when `password` matches `hash` (argon2id, checked in a slot).
    pub async fn verify(&self, password: String, hash: String) -> Result<bool, ApiError> {
        self.run(move || secret::verify_password(&password, &hash))
            .await
    }

    /// The argon2id hash of `password` (computed in a slot).
    pub async fn hash(&self, password: String) -> Result<String, ApiError> {
        self.run(move || secret::hash_password(&password)).await
    }

    /// The most hashes that ever ran at once.
    #[cfg(test)]
    pub fn peak(&self) -> usize {
        self.running.peak.load(Ordering::SeqCst)
    }

    /// Runs `work` on a blocking thread once a slot is free. The slot is held by the thread
    /// until `work` returns, even if the request is dropped meanwhile (the hash goes on).
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let permit = tokio::time::timeout(self.wait, self.slots.clone().acquire_owned())
            .await
            .map_err(|_| {
                metrics::counter!(names::HTTP_SHED, "reason" => SHED_REASON).increment(1);
                ApiError::overloaded("Too many password checks at once; retry shortly.", 1)
            })?
            .map_err(ApiError::internal)?;
        let running = self.running.clone();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let now = running.now.fetch_add(1, Ordering::SeqCst) + 1;
            running.peak.fetch_max(now, Ordering::SeqCst);
            metrics::gauge!(names::PASSWORD_HASHES).increment(1.0);
            let out = work();
            metrics::gauge!(names::PASSWORD_HASHES).decrement(1.0);
            running.now.fetch_sub(1, Ordering::SeqCst);
            out
        })
        .await
        .map_err(ApiError::internal)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use super::*;

    /// Starts a hash that holds a slot until the returned sender is sent to.
    async fn hold_the_slot(
        gate: &Arc<PasswordHashing>,
    ) -> (
        mpsc::Sender<()>,
        tokio::task::JoinHandle<Result<(), ApiError>>,
    ) {
        let (release, held) = mpsc::channel::<()>();
        let (started_tx, started) = tokio::sync::oneshot::channel();
        let gate = gate.clone();
        let task = tokio::spawn(async move {
            gate.run(move || {
                started_tx.send(()).unwrap();
                held.recv().unwrap();
            })
            .await
        });
        started.await.unwrap();
        (release, task)
    }

    #[tokio::test]
    async fn never_more_hashes_at_once_than_slots() {
        let gate = Arc::new(PasswordHashing::new(2, Duration::from_secs(60)));
        let hash = secret::hash_password("right");
        let tries: Vec<_> = (0..12)
            .map(|n| {
                let (gate, hash) = (gate.clone(), hash.clone());
                let guess = if n == 5 { "right" } else { "wrong" };
                tokio::spawn(async move { gate.verify(guess.into(), hash).await })
            })
            .collect();
        let mut matched = 0;
        for t in tries {
            matched += usize::from(t.await.unwrap().unwrap());
        }
        assert_eq!(matched, 1);
        assert!(gate.peak() >= 1);
        assert!(gate.peak() <= 2, "{} hashes at once", gate.peak());
    }

    #[tokio::test]
    async fn a_request_finding_no_slot_in_time_gets_503_with_retry_after() {
        let gate = Arc::new(PasswordHashing::new(1, Duration::from_millis(50)));
        let (release, holder) = hold_the_slot(&gate).await;
        let refused = gate.hash("x".into()).await.unwrap_err();
        assert_eq!(refused.status, 503);
        assert_eq!(refused.retry_after, Some(1));
        release.send(()).unwrap();
        holder.await.unwrap().unwrap();
        // The slot is free again.
        assert!(!gate.hash("x".into()).await.unwrap().is_empty());
        assert_eq!(gate.peak(), 1);
    }

    #[tokio::test]
    async fn a_dropped_request_keeps_its_slot_until_its_hash_is_done() {
        let gate = Arc::new(PasswordHashing::new(1, Duration::from_millis(50)));
        let (release, request) = hold_the_slot(&gate).await;
        request.abort();
        assert!(request.await.unwrap_err().is_cancelled());
        // The client went away, but its hash still runs: no second one may start.
        assert_eq!(gate.hash("x".into()).await.unwrap_err().status, 503);
        release.send(()).unwrap();
        // Its slot comes back once the thread returns (no signal marks that moment).
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while gate.verify("x".into(), "not a hash".into()).await.is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "the slot never came back"
            );
        }
        assert_eq!(gate.peak(), 1);
    }
}
