//! The poll strategy of our workers.
//!
//! apalis only fetches when something wakes the worker. A pusher publishes on the
//! queue's wake channel after each push; one subscription per process turns those
//! messages into wake-ups, and a slow timer covers lost messages (Redis restarts,
//! retries that become due). Unlike the stock interval strategy, `poll_drive` drains
//! every ready source until each has registered the waker again, so no wake-up is lost.

use std::{
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use apalis::prelude::{PollSnapshot, PollStrategy};
use futures::StreamExt;
use tokio::{sync::Notify, time::MissedTickBehavior};
use tokio_util::sync::CancellationToken;

/// Wake-ups received for one queue in this process.
#[derive(Clone, Default)]
pub struct Wakeups {
    /// Bumped on every wake message.
    generation: Arc<std::sync::atomic::AtomicU64>,
    notify: Arc<Notify>,
}

/// Subscribes to `channel` and turns its messages into wake-ups until `shutdown`.
pub fn listen(client: redis::Client, channel: String, shutdown: CancellationToken) -> Wakeups {
    let wakeups = Wakeups::default();
    let w = wakeups.clone();
    tokio::spawn(async move {
        loop {
            match client.get_async_pubsub().await {
                Ok(mut pubsub) => {
                    if pubsub.subscribe(&channel).await.is_ok() {
                        // Jobs may have been pushed while we were not listening.
                        w.wake();
                        let mut messages = pubsub.on_message();
                        loop {
                            tokio::select! {
                                m = messages.next() => match m {
                                    Some(_) => w.wake(),
                                    None => break,
                                },
                                _ = shutdown.cancelled() => return,
                            }
                        }
                    }
                    tracing::warn!(channel, "wake subscription lost; resubscribing");
                }
                Err(e) => tracing::warn!(channel, error = %e, "wake subscription failed"),
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                _ = shutdown.cancelled() => return,
            }
        }
    });
    wakeups
}

impl Wakeups {
    fn wake(&self) {
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::Release);
        self.notify.notify_waiters();
    }
}

/// A worker's poll strategy: wake messages plus a fallback interval.
pub struct Strategy {
    wakeups: Wakeups,
    seen: u64,
    notified: std::pin::Pin<Box<tokio::sync::futures::OwnedNotified>>,
    tick: tokio::time::Interval,
}

impl Strategy {
    /// A strategy fed by `wakeups`, polling at least every `fallback_ms`.
    pub fn new(wakeups: &Wakeups, fallback_ms: u64) -> Self {
        let mut tick = tokio::time::interval(Duration::from_millis(fallback_ms.max(1)));
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        Self {
            wakeups: wakeups.clone(),
            seen: wakeups
                .generation
                .load(std::sync::atomic::Ordering::Acquire),
            notified: Box::pin(wakeups.notify.clone().notified_owned()),
            tick,
        }
    }
}

impl PollStrategy for Strategy {
    fn poll_drive(&mut self, cx: &mut Context<'_>, _: &PollSnapshot) -> Poll<Option<()>> {
        let mut ready = false;
        while self.tick.poll_tick(cx).is_ready() {
            ready = true;
        }
        loop {
            // Register interest first, then compare generations: a wake between the two
            // is seen by the comparison, a later one by the registered future.
            self.notified.as_mut().enable();
            let now = self
                .wakeups
                .generation
                .load(std::sync::atomic::Ordering::Acquire);
            if now != self.seen {
                self.seen = now;
                ready = true;
                self.notified = Box::pin(self.wakeups.notify.clone().notified_owned());
                continue;
            }
            if std::future::Future::poll(self.notified.as_mut(), cx).is_ready() {
                self.notified = Box::pin(self.wakeups.notify.clone().notified_owned());
                continue;
            }
            break;
        }
        if ready {
            Poll::Ready(Some(()))
        } else {
            Poll::Pending
        }
    }
}
