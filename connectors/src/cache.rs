//! Per-process caches of what is costly to build for an account (OpenDAL operators, SSH
//! sessions), keyed so that changed settings or credentials never reuse a stale entry.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use cloudbridge_shared::protocol::AccountRef;
use sha2::{Digest, Sha256};

/// The key of an account's cached objects: its id, settings and sealed credentials.
pub fn account_key(account: &AccountRef) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(account.id.to_be_bytes());
    h.update(account.config.to_string().as_bytes());
    h.update([0]);
    h.update(account.sealed.as_deref().unwrap_or("").as_bytes());
    h.finalize().into()
}

/// [`account_key`] for what was built under an address policy: a process (or a test)
/// with another policy never gets it.
pub fn guarded_key(
    account: &AccountRef,
    policy: &cloudbridge_shared::netguard::Policy,
) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(account_key(account));
    h.update(format!("{policy:?}").as_bytes());
    h.finalize().into()
}

/// At most `max` values, each dropped after `idle` without use (least recently used
/// first when full).
pub struct IdleCache<V> {
    entries: Mutex<HashMap<[u8; 32], (V, Instant)>>,
    idle: Duration,
    max: usize,
}

impl<V: Clone> IdleCache<V> {
    /// An empty cache.
    pub fn new(idle: Duration, max: usize) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            idle,
            max,
        }
    }

    /// The value under `key`, if it was used recently.
    pub fn get(&self, key: &[u8; 32]) -> Option<V> {
        let mut entries = self.entries.lock().expect("cache lock");
        let now = Instant::now();
        match entries.get_mut(key) {
            Some((value, used)) if now.duration_since(*used) < self.idle => {
                *used = now;
                Some(value.clone())
            }
            Some(_) => {
                entries.remove(key);
                None
            }
            None => None,
        }
    }

    /// Keeps `value` under `key`, making room if needed.
    pub fn insert(&self, key: [u8; 32], value: V) {
        let mut entries = self.entries.lock().expect("cache lock");
        let now = Instant::now();
        entries.retain(|_, (_, used)| now.duration_since(*used) < self.idle);
        if entries.len() >= self.max {
            if let Some(oldest) = entries.iter().min_by_key(|(_, (_, u))| *u).map(|(k, _)| *k) {
                entries.remove(&oldest);
            }
        }
        entries.insert(key, (value, now));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(id: i64, sealed: &str) -> AccountRef {
        AccountRef {
            id,
            application: String::new(),
            service: "s3".into(),
            config: serde_json::json!({"bucket": "b"}),
            sealed: Some(sealed.into()),
            ..Default::default()
        }
    }

    #[test]
    fn changed_credentials_miss_and_the_oldest_goes_first() {
        assert_ne!(account_key(&account(1, "a")), account_key(&account(1, "b")));
        assert_ne!(account_key(&account(1, "a")), account_key(&account(2, "a")));
        let cache = IdleCache::new(Duration::from_secs(60), 2);
        cache.insert([1; 32], "one");
        cache.insert([2; 32], "two");
        assert_eq!(cache.get(&[1; 32]), Some("one"));
        cache.insert([3; 32], "three");
        assert_eq!(cache.get(&[2; 32]), None, "least recently used went");
        assert_eq!(cache.get(&[1; 32]), Some("one"));
        let idle = IdleCache::new(Duration::ZERO, 2);
        idle.insert([1; 32], "gone");
        assert_eq!(idle.get(&[1; 32]), None);
    }
}
