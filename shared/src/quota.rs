//! Storage quota: how much of an account's space is in use, as its service reports it.

use serde::{Deserialize, Serialize};

/// An account's storage use.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Quota {
    /// Bytes the account may hold; `None` where the service sets no limit or tells none.
    pub total: Option<u64>,
    /// Bytes in use.
    pub used: u64,
    /// The service's own answer (`X-Kloudless-Raw-Data`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw: Option<serde_json::Value>,
}

impl Quota {
    /// Bytes still free (`None` where the total is unknown).
    pub fn remaining(&self) -> Option<u64> {
        self.total.map(|total| total.saturating_sub(self.used))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remaining_space_is_never_negative() {
        let quota = |total, used| Quota {
            total,
            used,
            raw: None,
        };
        assert_eq!(quota(Some(10), 3).remaining(), Some(7));
        assert_eq!(quota(Some(10), 30).remaining(), Some(0));
        assert_eq!(quota(None, 3).remaining(), None);
    }
}
