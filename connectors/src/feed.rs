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

use cloudbridge_shared::{storage::EventType, ApiError, Entry, ItemPath};

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

impl FeedPage {
    /// A page without changes, reading on from `cursor`.
    pub fn quiet(cursor: String, more: bool) -> Self {
        Self::Changes {
            changes: Vec::new(),
            cursor,
            more,
        }
    }
}

/// Keeps the last change of each key, where it stands: a feed reports items as they are
/// now, so an earlier change of the same item in one page says nothing more.
pub fn last_per_key(changes: Vec<Change>) -> Vec<Change> {
    let mut last = std::collections::HashMap::new();
    for (i, change) in changes.iter().enumerate() {
        last.insert(change.key.clone(), i);
    }
    changes
        .into_iter()
        .enumerate()
        .filter(|(i, change)| last.get(&change.key) == Some(i))
        .map(|(_, change)| change)
        .collect()
}

/// What a service says about one folder when its path is worked out from parent ids.
#[derive(Clone, Debug)]
pub struct Folder {
    /// Its name.
    pub name: String,
    /// The id of the folder it is in; `None` when it has none (a root other than the
    /// account's, or an item shared from elsewhere).
    pub parent: Option<String>,
    /// Deleted or in the trash.
    pub gone: bool,
}

/// Deepest folder chain followed before giving up (a cycle or a broken service).
const MAX_DEPTH: usize = 512;

/// Paths of folders by id, learnt while reading one page of a feed (services that name
/// an item's parent by id only: Drive, Graph). `None` for a folder outside the account's
/// view (deleted, trashed, below something that is, or not under the root).
#[derive(Debug, Default)]
pub struct Lineage {
    known: std::collections::HashMap<String, Option<ItemPath>>,
}

impl Lineage {
    /// A lineage where the folders `roots` (the account's root under its ids and
    /// aliases) are the root.
    pub fn new<'a>(roots: impl IntoIterator<Item = &'a str>) -> Self {
        Self {
            known: roots
                .into_iter()
                .map(|id| (id.to_string(), Some(ItemPath::root())))
                .collect(),
        }
    }

    /// The path of folder `id`, asking `fetch` about folders not seen yet (`Ok(None)`
    /// from it: no such folder).
    pub async fn path_of<F, Fut>(
        &mut self,
        id: &str,
        fetch: F,
    ) -> Result<Option<ItemPath>, ApiError>
    where
        F: Fn(String) -> Fut,
        Fut: std::future::Future<Output = Result<Option<Folder>, ApiError>>,
    {
        // Up to the first folder whose path is known (or that ends the chain)…
        let mut chain: Vec<(String, Folder)> = Vec::new();
        let mut at = id.to_string();
        let mut end: Option<ItemPath> = loop {
            if let Some(known) = self.known.get(&at) {
                break known.clone();
            }
            if chain.len() == MAX_DEPTH || chain.iter().any(|(seen, _)| *seen == at) {
                break None;
            }
            match fetch(at.clone()).await? {
                Some(folder) if !folder.gone => {
                    let parent = folder.parent.clone();
                    chain.push((at.clone(), folder));
                    match parent {
                        Some(parent) => at = parent,
                        None => break None,
                    }
                }
                _ => {
                    self.known.insert(at.clone(), None);
                    break None;
                }
            }
        };
        // …then down again, naming each folder of the chain.
        for (folder_id, folder) in chain.into_iter().rev() {
            end = end.and_then(|parent| parent.join(&folder.name).ok());
            self.known.insert(folder_id, end.clone());
        }
        Ok(end)
    }
}

/// The key of an entry of a service with its own ids: the `id` of its raw description,
/// else its path.
pub fn raw_id_key(entry: &Entry) -> String {
    entry
        .raw
        .as_ref()
        .and_then(|raw| raw["id"].as_str())
        .map_or_else(|| entry.path.as_str().to_string(), str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(key: &str, path: Option<&str>) -> Change {
        Change {
            key: key.into(),
            entry: path.map(|p| Entry {
                id: None,
                parent_id: None,
                path: ItemPath::parse(p).unwrap(),
                kind: cloudbridge_shared::storage::ItemKind::File,
                size: None,
                created: None,
                modified: None,
                mime_type: None,
                raw: None,
            }),
            hint: None,
        }
    }

    #[test]
    fn the_last_change_of_a_key_stays_where_it_is() {
        let page = vec![
            change("a", Some("x")),
            change("b", Some("y")),
            change("a", Some("z")),
            change("c", None),
        ];
        let kept = last_per_key(page);
        let keys: Vec<&str> = kept.iter().map(|c| c.key.as_str()).collect();
        assert_eq!(keys, ["b", "a", "c"]);
        assert_eq!(kept[1].entry.as_ref().unwrap().path.as_str(), "z");
    }

    #[tokio::test]
    async fn folder_paths_come_from_parent_chains_and_are_remembered() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let folders: std::collections::HashMap<&str, (&str, Option<&str>, bool)> = [
            ("d1", ("Docs", Some("root-id"), false)),
            ("d2", ("Deep", Some("d1"), false)),
            ("t", ("Trashed", Some("root-id"), true)),
            ("t2", ("Under", Some("t"), false)),
            ("x", ("Shared", None, false)),
            ("loop1", ("A", Some("loop2"), false)),
            ("loop2", ("B", Some("loop1"), false)),
        ]
        .into();
        let asked = AtomicUsize::new(0);
        let fetch = |id: String| {
            asked.fetch_add(1, Ordering::SeqCst);
            let found = folders.get(id.as_str()).map(|(name, parent, gone)| Folder {
                name: name.to_string(),
                parent: parent.map(str::to_string),
                gone: *gone,
            });
            async move { Ok(found) }
        };
        let mut lineage = Lineage::new(["root", "root-id"]);
        let path = |p: Option<ItemPath>| p.map(|p| p.as_str().to_string());
        assert_eq!(
            path(lineage.path_of("d2", fetch).await.unwrap()).as_deref(),
            Some("Docs/Deep")
        );
        assert_eq!(asked.load(Ordering::SeqCst), 2);
        assert_eq!(
            path(lineage.path_of("d1", fetch).await.unwrap()).as_deref(),
            Some("Docs")
        );
        assert_eq!(asked.load(Ordering::SeqCst), 2, "remembered");
        assert!(lineage
            .path_of("root", fetch)
            .await
            .unwrap()
            .unwrap()
            .is_root());
        assert_eq!(lineage.path_of("t2", fetch).await.unwrap(), None);
        assert_eq!(lineage.path_of("x", fetch).await.unwrap(), None);
        assert_eq!(lineage.path_of("missing", fetch).await.unwrap(), None);
        assert_eq!(lineage.path_of("loop1", fetch).await.unwrap(), None);
    }
}
