//! Paths to Drive ids. Drive addresses items by id and allows several items of one name
//! in a folder; Cloudbridge addresses them by path. A path is resolved from the root one
//! name at a time (`'<parent>' in parents and name = '<name>' and trashed = false`);
//! among same-named items the oldest (then the smallest id) is the one a path means, in
//! lookups and listings alike.
//!
//! Folder ids are kept in a small per-process cache for [`TTL`], so that deep paths do not
//! cost one query per level on every call. It is dropped for a subtree whenever this
//! process changes it, and for the whole account when a lookup through it finds nothing
//! (the lookup is then made again from the root). Changes made elsewhere (the user, another
//! worker) may go unseen for up to [`TTL`].

use std::{
    collections::HashMap,
    sync::{LazyLock, Mutex},
    time::{Duration, Instant},
};

use cloudbridge_shared::{ApiError, ItemPath};

use super::client::{Drive, DriveFile};

/// How long a cached folder id is trusted.
pub const TTL: Duration = Duration::from_secs(30);
/// Entries kept at most (all accounts); the cache is emptied when full.
const MAX_ENTRIES: usize = 50_000;

type Key = (i64, String);

static FOLDERS: LazyLock<Mutex<HashMap<Key, (String, Instant)>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// The item a path means among the same-named `found`: the oldest, then the smallest id.
pub fn pick(found: Vec<DriveFile>) -> Option<DriveFile> {
    found
        .into_iter()
        .min_by(|a, b| (a.created, &a.id).cmp(&(b.created, &b.id)))
}

/// Where the folder ids of one account are remembered (account 0, an account being
/// imported, remembers nothing).
#[derive(Clone, Copy)]
pub struct Folders {
    account: i64,
}

impl Folders {
    /// The cache of `account`.
    pub fn of(account: i64) -> Self {
        Self { account }
    }

    fn get(&self, path: &str) -> Option<String> {
        let cache = FOLDERS.lock().expect("folder cache");
        let (id, at) = cache.get(&(self.account, path.to_string()))?;
        (at.elapsed() < TTL).then(|| id.clone())
    }

    /// Remembers that folder `path` is Drive's `id`.
    pub fn remember(&self, path: &ItemPath, id: &str) {
        if self.account == 0 || path.is_root() {
            return;
        }
        let mut cache = FOLDERS.lock().expect("folder cache");
        if cache.len() >= MAX_ENTRIES {
            cache.retain(|_, (_, at)| at.elapsed() < TTL);
            if cache.len() >= MAX_ENTRIES {
                cache.clear();
            }
        }
        cache.insert(
            (self.account, path.as_str().to_string()),
            (id.to_string(), Instant::now()),
        );
    }

    /// Forgets `path` and everything below it (it changed).
    pub fn forget(&self, path: &ItemPath) {
        let below = format!("{}/", path.as_str());
        let mut cache = FOLDERS.lock().expect("folder cache");
        cache.retain(|(account, p), _| {
            *account != self.account
                || !(path.is_root() || p == path.as_str() || p.starts_with(&below))
        });
    }

    /// The item at `path`; 404 when there is none.
    pub async fn resolve(&self, drive: &Drive, path: &ItemPath) -> Result<DriveFile, ApiError> {
        if path.is_root() {
            return Ok(DriveFile::root());
        }
        match self.walk(drive, path, true).await {
            Err(e) if e.status == 404 => {
                // Perhaps through a folder that changed: once more, from the root.
                self.forget(&ItemPath::root());
                self.walk(drive, path, false).await
            }
            found => found,
        }
    }

    async fn walk(
        &self,
        drive: &Drive,
        path: &ItemPath,
        cached: bool,
    ) -> Result<DriveFile, ApiError> {
        let segments: Vec<&str> = path.segments().collect();
        // The deepest ancestor folder whose id is known.
        let mut parent = ItemPath::root();
        let mut parent_id = "root".to_string();
        let mut start = 0;
        if cached {
            for depth in (1..segments.len()).rev() {
                let prefix = segments[..depth].join("/");
                if let Some(id) = self.get(&prefix) {
                    parent = ItemPath::parse(&prefix)?;
                    parent_id = id;
                    start = depth;
                    break;
                }
            }
        }
        for (i, name) in segments.iter().enumerate().skip(start) {
            let found = drive.children(&parent_id, Some(name)).await?;
            let item = pick(found).ok_or_else(|| ApiError::not_found("No such file or folder."))?;
            parent = parent.join(name)?;
            if i + 1 == segments.len() {
                return Ok(item);
            }
            if !item.is_folder() {
                return Err(ApiError::not_found("No such file or folder."));
            }
            self.remember(&parent, &item.id);
            parent_id = item.id;
        }
        unreachable!("a path that is not the root has segments")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(id: &str, created: &str) -> DriveFile {
        DriveFile::from_json(serde_json::json!({"id": id, "name": "n", "createdTime": created}))
            .unwrap()
    }

    #[test]
    fn the_oldest_of_same_named_items_is_picked() {
        let found = vec![
            file("b", "2024-01-02T00:00:00Z"),
            file("c", "2024-01-01T00:00:00Z"),
            file("a", "2024-01-01T00:00:00Z"),
        ];
        assert_eq!(pick(found).unwrap().id, "a");
        assert!(pick(Vec::new()).is_none());
    }

    #[test]
    fn forgetting_a_folder_forgets_its_subtree_only() {
        let folders = Folders::of(-42);
        let path = |p: &str| ItemPath::parse(p).unwrap();
        for (p, id) in [("a", "1"), ("a/b", "2"), ("ab", "3"), ("c", "4")] {
            folders.remember(&path(p), id);
        }
        folders.forget(&path("a"));
        assert_eq!(folders.get("a"), None);
        assert_eq!(folders.get("a/b"), None);
        assert_eq!(folders.get("ab").as_deref(), Some("3"));
        folders.forget(&ItemPath::root());
        assert_eq!(folders.get("c"), None);
        // An account being imported remembers nothing.
        Folders::of(0).remember(&path("x"), "5");
        assert_eq!(Folders::of(0).get("x"), None);
    }
}
