//! One keyed rate limiter: a token bucket per key (a credential, an address, a link), in
//! this process's memory, refusing with 429 `rate_limit_exceeded` and `Retry-After`.
//!
//! Memory is bounded: [`Limiter::sweep`] (run every few seconds) drops every key whose
//! bucket is full again, which is indistinguishable from a key never seen. A key stays only
//! while it is being refilled (at most `(burst + 1) / per_sec` seconds after its last
//! request), so a flood of distinct keys leaves behind at most what arrived in that time
//! plus one sweep period.

use std::{hash::Hash, num::NonZeroU32, time::Duration};

use cloudbridge_shared::{config::Rate, telemetry::names, ApiError};
use governor::{
    clock::{Clock, DefaultClock},
    middleware::NoOpMiddleware,
    state::keyed::DefaultKeyedStateStore,
    Quota, RateLimiter,
};

type Buckets<K, C> =
    RateLimiter<K, DefaultKeyedStateStore<K>, C, NoOpMiddleware<<C as Clock>::Instant>>;

/// A named keyed limiter (the name is the `limiter` label of the metrics).
pub struct Limiter<K: Hash + Eq + Clone, C: Clock = DefaultClock> {
    name: &'static str,
    /// `None`: the limit is off (`per_sec = 0` or `burst = 0`).
    buckets: Option<Buckets<K, C>>,
}

/// The governor quota of a configured rate, `None` when it is off.
fn quota(rate: Rate) -> Option<Quota> {
    // NaN and infinities are not rates; zero and below switch the limit off.
    if !rate.per_sec.is_finite() || rate.per_sec <= 0.0 {
        return None;
    }
    let period = Duration::from_secs_f64(1.0 / rate.per_sec);
    Some(Quota::with_period(period)?.allow_burst(NonZeroU32::new(rate.burst)?))
}

impl<K: Hash + Eq + Clone> Limiter<K> {
    /// A limiter `name` allowing `rate` per key.
    pub fn new(name: &'static str, rate: Rate) -> Self {
        Self::with_clock(name, rate, DefaultClock::default())
    }
}

impl<K: Hash + Eq + Clone, C: Clock> Limiter<K, C> {
    /// A limiter reading time from `clock` (tests drive a fake one).
    pub fn with_clock(name: &'static str, rate: Rate, clock: C) -> Self {
        metrics::counter!(names::RATE_LIMITED, "limiter" => name).increment(0);
        metrics::gauge!(names::RATE_LIMITER_KEYS, "limiter" => name).set(0.0);
        Self {
            name,
            buckets: quota(rate)
                .map(|q| RateLimiter::new(q, DefaultKeyedStateStore::default(), clock)),
        }
    }

    /// Takes one request from `key`'s bucket, or refuses with 429 and the whole seconds
    /// until the next one is allowed.
    pub fn check(&self, key: &K) -> Result<(), ApiError> {
        let Some(buckets) = &self.buckets else {
            return Ok(());
        };
        buckets.check_key(key).map_err(|not_until| {
            metrics::counter!(names::RATE_LIMITED, "limiter" => self.name).increment(1);
            let wait = not_until.wait_time_from(buckets.clock().now());
            ApiError::rate_limited(wait.as_secs_f64().ceil() as u64)
        })
    }

    /// Forgets the keys whose bucket is full again and publishes how many remain.
    pub fn sweep(&self) {
        if let Some(buckets) = &self.buckets {
            buckets.retain_recent();
            buckets.shrink_to_fit();
        }
        metrics::gauge!(names::RATE_LIMITER_KEYS, "limiter" => self.name).set(self.len() as f64);
    }

    /// Keys held now.
    pub fn len(&self) -> usize {
        self.buckets.as_ref().map_or(0, Buckets::len)
    }
}

#[cfg(test)]
mod tests {
    use governor::clock::FakeRelativeClock;

    use super::*;

    fn limiter(per_sec: f64, burst: u32) -> (Limiter<u32, FakeRelativeClock>, FakeRelativeClock) {
        let clock = FakeRelativeClock::default();
        let l = Limiter::with_clock("test", Rate { per_sec, burst }, clock.clone());
        (l, clock)
    }

    #[test]
    fn a_key_gets_its_burst_then_429_with_retry_after() {
        let (l, clock) = limiter(0.5, 3);
        for _ in 0..3 {
            l.check(&1).unwrap();
        }
        let refused = l.check(&1).unwrap_err();
        assert_eq!(refused.status, 429);
        assert_eq!(refused.code, "rate_limit_exceeded");
        assert_eq!(refused.retry_after, Some(2), "one request every 2 s");
        // Another key is not affected.
        l.check(&2).unwrap();
        clock.advance(Duration::from_secs(2));
        l.check(&1).unwrap();
        assert!(l.check(&1).is_err());
    }

    #[test]
    fn a_rate_of_zero_is_off() {
        let (l, _) = limiter(0.0, 3);
        for _ in 0..100 {
            l.check(&1).unwrap();
        }
        assert_eq!(l.len(), 0);
    }

    #[test]
    fn a_flood_of_distinct_keys_is_forgotten_once_their_buckets_refill() {
        let (l, clock) = limiter(10.0, 5);
        for key in 0..50_000 {
            l.check(&key).unwrap();
        }
        // A key still refilling is kept: forgetting it would hand it a fresh burst.
        l.check(&7).unwrap();
        l.check(&7).unwrap();
        l.sweep();
        assert_eq!(l.len(), 50_000, "nothing refilled yet");
        // governor keeps a key one refill interval (100 ms) longer than needed.
        clock.advance(Duration::from_millis(250));
        l.sweep();
        assert_eq!(
            l.len(),
            1,
            "only the key used three times is still refilling"
        );
        clock.advance(Duration::from_millis(200));
        l.sweep();
        assert_eq!(l.len(), 0);
    }
}
