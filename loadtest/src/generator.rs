//! Closed-loop and open-loop drivers.

use std::{
    future::Future,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use tokio::sync::mpsc;

use crate::report::{Recorder, Sample};

/// How load is applied.
#[derive(Debug, Clone, Copy)]
pub enum Load {
    /// `concurrency` clients, each sending its next request when the last one is answered.
    Closed {
        /// Simultaneous clients.
        concurrency: usize,
    },
    /// Requests sent at a fixed `rate` per second whatever the answers; latency counts
    /// from the intended send time. At most `max_in_flight` at once (beyond: counted as
    /// `dropped`, never silently slowed down).
    Open {
        /// Requests per second.
        rate: f64,
        /// Cap on outstanding requests.
        max_in_flight: usize,
    },
}

/// The outcome of one request as the scenario sees it.
pub type Outcome = (Option<u16>, Option<String>);

/// Runs `request(i)` under `load` for `warmup + duration`; samples from the warm-up are
/// discarded. Returns the recorder, the measured duration and how many requests were
/// made in all (the warm-up's included).
pub async fn run<F, Fut>(
    load: Load,
    warmup: Duration,
    duration: Duration,
    request: F,
) -> (Recorder, Duration, u64)
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Outcome> + Send + 'static,
{
    let request = Arc::new(request);
    let start = Instant::now();
    let measure_from = start + warmup;
    let end = measure_from + duration;
    let (tx, mut rx) = mpsc::unbounded_channel::<Sample>();
    let collector = tokio::spawn(async move {
        let mut recorder = Recorder::default();
        while let Some(s) = rx.recv().await {
            recorder.record(&s);
        }
        recorder
    });
    let counter = Arc::new(AtomicU64::new(0));
    let send = {
        let tx = tx.clone();
        move |intended: Instant, outcome: Outcome| {
            if intended >= measure_from {
                let now = Instant::now();
                let _ = tx.send(Sample {
                    at: (now - measure_from).as_secs_f64(),
                    latency: now - intended,
                    status: outcome.0,
                    error_code: outcome.1,
                });
            }
        }
    };
    let made = match load {
        Load::Closed { concurrency } => {
            let mut clients = Vec::new();
            for _ in 0..concurrency.max(1) {
                let (request, counter, send) = (request.clone(), counter.clone(), send.clone());
                clients.push(tokio::spawn(async move {
                    while Instant::now() < end {
                        let i = counter.fetch_add(1, Ordering::Relaxed);
                        let intended = Instant::now();
                        let outcome = request(i).await;
                        send(intended, outcome);
                    }
                }));
            }
            for c in clients {
                let _ = c.await;
            }
            counter.load(Ordering::Relaxed)
        }
        Load::Open {
            rate,
            max_in_flight,
        } => {
            let in_flight = Arc::new(AtomicU64::new(0));
            let interval = Duration::from_secs_f64(1.0 / rate.max(0.001));
            let mut tasks = Vec::new();
            let mut i = 0u64;
            loop {
                let intended = start + interval.mul_f64(i as f64);
                if intended >= end {
                    break;
                }
                tokio::time::sleep_until(intended.into()).await;
                if in_flight.load(Ordering::Relaxed) >= max_in_flight as u64 {
                    send(intended, (None, Some("dropped".into())));
                } else {
                    in_flight.fetch_add(1, Ordering::Relaxed);
                    let (request, send, in_flight) =
                        (request.clone(), send.clone(), in_flight.clone());
                    tasks.push(tokio::spawn(async move {
                        let outcome = request(i).await;
                        in_flight.fetch_sub(1, Ordering::Relaxed);
                        send(intended, outcome);
                    }));
                }
                i += 1;
                if tasks.len() > 10_000 {
                    tasks.retain(|t| !t.is_finished());
                }
            }
            for t in tasks {
                let _ = t.await;
            }
            i
        }
    };
    drop(send);
    drop(tx);
    let recorder = collector.await.expect("collector");
    (recorder, duration, made)
}
