//! A small time-bounded cache for credential and account look-ups on the hot path.
//!
//! Entries live `ttl`; a change made through this process (a deleted key or account)
//! invalidates at once, other API processes see it within `ttl`.

use std::{
    hash::Hash,
    time::{Duration, Instant},
};

use dashmap::DashMap;

/// Entries beyond which the cache is emptied rather than grown (bounds memory).
const MAX_ENTRIES: usize = 100_000;

/// A concurrent map whose entries expire.
pub struct TtlCache<K, V> {
    ttl: Duration,
    entries: DashMap<K, (Instant, V)>,
}

impl<K: Eq + Hash, V: Clone> TtlCache<K, V> {
    /// A cache keeping entries for `ttl` (zero disables it).
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: DashMap::new(),
        }
    }

    /// The live value for `key`.
    pub fn get(&self, key: &K) -> Option<V> {
        let entry = self.entries.get(key)?;
        let (stored, value) = entry.value();
        (stored.elapsed() < self.ttl).then(|| value.clone())
    }

    /// True when `key` has a live value.
    pub fn contains(&self, key: &K) -> bool {
        self.entries
            .get(key)
            .is_some_and(|entry| entry.value().0.elapsed() < self.ttl)
    }

    /// Stores `value` for `key`.
    pub fn insert(&self, key: K, value: V) {
        if self.ttl.is_zero() {
            return;
        }
        if self.entries.len() >= MAX_ENTRIES {
            self.entries.clear();
        }
        self.entries.insert(key, (Instant::now(), value));
    }

    /// Drops every entry for which `stale` is true.
    pub fn invalidate(&self, stale: impl Fn(&K, &V) -> bool) {
        self.entries.retain(|k, (_, v)| !stale(k, v));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_and_invalidate() {
        let cache = TtlCache::new(Duration::from_millis(50));
        cache.insert(1, "a");
        assert_eq!(cache.get(&1), Some("a"));
        assert!(cache.contains(&1) && !cache.contains(&3));
        cache.invalidate(|k, _| *k == 1);
        assert_eq!(cache.get(&1), None);
        cache.insert(2, "b");
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(cache.get(&2), None);
        let off = TtlCache::new(Duration::ZERO);
        off.insert(1, "x");
        assert_eq!(off.get(&1), None);
    }
}
