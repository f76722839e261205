//! Change feeds: what changed in an account since a position the service handed out.
//!
//! Services with a native feed (Drive changes, Graph delta, Dropbox
//! `list_folder/continue`, Box events) implement [`Storage::feed_start`] and
//! [`Storage::changes`](crate::Storage::changes); the others are collected by diffing
//! listings against what the last collection saw. Either way a change is reported as the
//! item's state *now*; the collector compares it with what it saw before to tell an add
//! from an update, a rename or a move.
//!
//! [`Storage::feed_start`]: crate::Storage::feed_start

use cloudbridge_shared::{storage::EventType, Entry};

/// One changed item.
#[derive(Clone, Debug, PartialEq)]
pub struct Change {
    /// The service's own id of the item (stable across renames and moves); the same as
    /// [`Storage::change_key`](crate::Storage::change_key) gives for its entries.
    pub key: String,
    /// The item as it is now; `None` when it was deleted (or left the account's view).
    pub entry: Option<Entry>,
    /// What the service says happened, where it says more than "changed" (Box reports
    /// copies and restores).
    pub hint: Option<EventType>,
}

/// One page of a change feed.
#[derive(Clone, Debug, PartialEq)]
pub enum FeedPage {
    /// Changes in the order they happened, and where to read on.
    Changes {
        /// The changes.
        changes: Vec<Change>,
        /// The position after them.
        cursor: String,
        /// True when more changes can be read right away from `cursor`.
        more: bool,
    },
    /// The service no longer knows the position (expired or reset): the collector lists
    /// the account again and starts over from [`Storage::feed_start`](crate::Storage::feed_start).
    Expired,
}
