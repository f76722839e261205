//! Paths to Box ids. Box addresses items by id only, so a path is resolved by listing
//! folders from the root (`0`) down. Each process keeps, per account, a small cache of
//! path → id learnt from those listings; it only saves walks: an item reached through it
//! is fetched and its `path_collection` checked against the path, so an entry made stale
//! by another process (a rename, a move) costs one more walk, never a wrong answer. The
//! cache drops a subtree on 404 and on every change this process makes to it.

use std::{
    collections::HashMap,
    sync::LazyLock,
    time::{Duration, Instant},
};

use cloudbridge_shared::{storage::ItemKind, ApiError, ItemPath};
use dashmap::DashMap;

use super::{
    wire::{self, Item, FIELDS},
    BoxStore, ROOT,
};

/// How long a learnt id is used.
const TTL: Duration = Duration::from_secs(120);
/// Paths kept per account; past this the account's cache starts over.
const MAX_PATHS: usize = 10_000;
/// Items per listing page (Box's maximum).
const PAGE: u32 = 1000;

type Known = HashMap<String, (String, ItemKind, Instant)>;

/// Every account's learnt ids in this process.
static KNOWN: LazyLock<DashMap<i64, Known>> = LazyLock::new(DashMap::new);

/// The cache of one account (none for an account being imported, id 0).
#[derive(Clone, Copy, Debug)]
pub struct Ids {
    account: i64,
}

impl Ids {
    /// The cache of `account`.
    pub fn of(account: i64) -> Self {
        Self { account }
    }

    /// The id and kind learnt for `path`, if still fresh.
    pub fn get(&self, path: &ItemPath) -> Option<(String, ItemKind)> {
        let known = KNOWN.get(&self.account)?;
        let (id, kind, at) = known.get(path.as_str())?;
        (at.elapsed() < TTL).then(|| (id.clone(), *kind))
    }

    /// Learns that `path` is the item `id`.
    pub fn put(&self, path: &ItemPath, id: &str, kind: ItemKind) {
        if self.account == 0 || path.is_root() {
            return;
        }
        let mut known = KNOWN.entry(self.account).or_default();
        if known.len() >= MAX_PATHS {
            known.clear();
        }
        known.insert(
            path.as_str().to_string(),
            (id.to_string(), kind, Instant::now()),
        );
    }

    /// Forgets `path` and everything below it.
    pub fn forget(&self, path: &ItemPath) {
        if let Some(mut known) = KNOWN.get_mut(&self.account) {
            let below = format!("{}/", path.as_str());
            known.retain(|p, _| !(p == path.as_str() || p.starts_with(&below)));
        }
    }
}

impl BoxStore {
    /// The item at `path`, as Box describes it now (404 when nothing is there).
    pub(super) async fn lookup(&self, path: &ItemPath) -> Result<Item, ApiError> {
        if path.is_root() {
            return self.get_item(ItemKind::Folder, ROOT).await;
        }
        if let Some((id, kind)) = self.ids.get(path) {
            match self.get_item(kind, &id).await {
                Ok(item) if item.path().as_ref() == Some(path) => return Ok(item),
                Ok(_) => self.ids.forget(path),
                Err(e) if e.status == 404 => self.ids.forget(path),
                Err(e) => return Err(e),
            }
        }
        match self.walk_to(path, true).await {
            Err(e) if e.status == 404 => self.walk_to(path, false).await,
            found => found,
        }
    }

    /// The folder at `path` (400 `invalid_parent_folder` when there is none).
    pub(super) async fn folder(&self, path: &ItemPath) -> Result<Item, ApiError> {
        let invalid = |m: &str| ApiError::new(400, "invalid_parent_folder", m);
        match self.lookup(path).await {
            Ok(item) if item.kind() == Some(ItemKind::Folder) => Ok(item),
            Ok(_) => Err(invalid("The parent is not a folder.")),
            Err(e) if e.status == 404 => Err(invalid("The parent folder does not exist.")),
            Err(e) => Err(e),
        }
    }

    /// Finds `path` by listing its ancestors, from the deepest one known (when
    /// `use_known`) or from the root.
    async fn walk_to(&self, path: &ItemPath, use_known: bool) -> Result<Item, ApiError> {
        let segments: Vec<&str> = path.segments().collect();
        let (mut at, mut id, mut start) = (ItemPath::root(), ROOT.to_string(), 0);
        if use_known {
            for depth in (1..segments.len()).rev() {
                let ancestor = ItemPath::parse(&segments[..depth].join("/"))?;
                if let Some((known, ItemKind::Folder)) = self.ids.get(&ancestor) {
                    (at, id, start) = (ancestor, known, depth);
                    break;
                }
            }
        }
        let missing = || ApiError::not_found("No file or folder has this id.");
        for (depth, name) in segments.iter().enumerate().skip(start) {
            let children = match self.children(&id, &at).await {
                Err(e) if e.status == 404 => {
                    self.ids.forget(&at);
                    return Err(missing());
                }
                other => other?,
            };
            let found = children.into_iter().find(|(_, c)| c.name() == *name);
            let (child, item) = found.ok_or_else(missing)?;
            if depth + 1 == segments.len() {
                return Ok(item);
            }
            if item.kind() != Some(ItemKind::Folder) {
                return Err(missing());
            }
            (at, id) = (child, item.id().to_string());
        }
        Err(missing())
    }

    /// Every file and folder in the folder `id` at `at` (all pages), with their paths;
    /// learnt along the way.
    pub(super) async fn children(
        &self,
        id: &str,
        at: &ItemPath,
    ) -> Result<Vec<(ItemPath, Item)>, ApiError> {
        let url = self.api_url(&format!("folders/{id}/items"));
        let mut items = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let response = self
                .api
                .send(|c| {
                    let mut query = vec![
                        ("fields", FIELDS.to_string()),
                        ("usemarker", "true".into()),
                        ("limit", PAGE.to_string()),
                    ];
                    if let Some(m) = &marker {
                        query.push(("marker", m.clone()));
                    }
                    c.get(&url).query(&query)
                })
                .await?;
            let page = wire::json(response).await?;
            for entry in page["entries"].as_array().into_iter().flatten() {
                let item = Item(entry.clone());
                let Some(kind) = item.kind() else { continue };
                // Box's names that cannot be a path segment here are left out.
                let Ok(path) = at.join(item.name()) else {
                    continue;
                };
                self.ids.put(&path, item.id(), kind);
                items.push((path, item));
            }
            match page["next_marker"].as_str().filter(|m| !m.is_empty()) {
                Some(next) => marker = Some(next.to_string()),
                None => return Ok(items),
            }
        }
    }

    /// The file or folder `id`, with the connector's fields.
    pub(super) async fn get_item(&self, kind: ItemKind, id: &str) -> Result<Item, ApiError> {
        let url = self.api_url(&format!("{}/{id}", plural(kind)));
        let response = self
            .api
            .send(|c| c.get(&url).query(&[("fields", FIELDS)]))
            .await?;
        Ok(Item(wire::json(response).await?))
    }
}

/// The collection of a kind in Box's URLs.
pub(super) fn plural(kind: ItemKind) -> &'static str {
    match kind {
        ItemKind::File => "files",
        ItemKind::Folder => "folders",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learnt_ids_are_forgotten_by_subtree() {
        let ids = Ids::of(-42);
        let p = |s: &str| ItemPath::parse(s).unwrap();
        ids.put(&p("a"), "1", ItemKind::Folder);
        ids.put(&p("a/b"), "2", ItemKind::File);
        ids.put(&p("ab"), "3", ItemKind::File);
        assert_eq!(ids.get(&p("a/b")), Some(("2".into(), ItemKind::File)));
        ids.forget(&p("a"));
        assert_eq!(ids.get(&p("a")), None);
        assert_eq!(ids.get(&p("a/b")), None);
        assert_eq!(ids.get(&p("ab")), Some(("3".into(), ItemKind::File)));
        let probe = Ids::of(0);
        probe.put(&p("a"), "1", ItemKind::Folder);
        assert_eq!(
            probe.get(&p("a")),
            None,
            "accounts being imported keep nothing"
        );
    }
}
