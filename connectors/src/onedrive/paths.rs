//! Paths to Graph item ids. Cloudbridge addresses items by path; Graph by id, or by one
//! name below a known folder (`items/{id}:/{name}:`). A path is resolved segment by
//! segment from the deepest folder whose id this process remembers.
//!
//! Remembered folder ids are kept per account for [`TTL`]: an entry is dropped when this
//! process changes that subtree, and a miss under a remembered id is checked again from
//! the root (the folder may have been deleted and made anew by another process). A folder
//! moved by another process can be seen at its old path for up to [`TTL`].

use std::{
    collections::HashMap,
    sync::{LazyLock, Mutex},
    time::{Duration, Instant},
};

use cloudbridge_shared::{storage::ItemKind, ApiError, ItemPath};
use serde_json::Value;

use super::graph::{self, Graph};

/// How long a folder id is trusted without asking Graph again.
pub const TTL: Duration = Duration::from_secs(30);
/// Most folder ids remembered by one process.
const MAX_ENTRIES: usize = 20_000;

/// Folder ids (and when they were learnt) by account and path.
type FolderIds = HashMap<(i64, String), (String, Instant)>;

static FOLDERS: LazyLock<Mutex<FolderIds>> = LazyLock::new(|| Mutex::new(HashMap::new()));

/// Resolves the paths of one account (account 0, being imported, remembers nothing).
#[derive(Clone)]
pub struct Paths {
    graph: Graph,
    account: i64,
}

impl Paths {
    /// Paths of `account` on `graph`.
    pub fn new(graph: Graph, account: i64) -> Self {
        Self { graph, account }
    }

    fn remembered(&self, path: &str) -> Option<String> {
        if self.account == 0 {
            return None;
        }
        let mut folders = FOLDERS.lock().expect("folder ids");
        let key = (self.account, path.to_string());
        match folders.get(&key) {
            Some((id, at)) if at.elapsed() < TTL => Some(id.clone()),
            Some(_) => {
                folders.remove(&key);
                None
            }
            None => None,
        }
    }

    /// Remembers that the folder at `path` has id `id`.
    pub fn remember(&self, path: &ItemPath, id: &str) {
        if self.account == 0 || path.is_root() {
            return;
        }
        let mut folders = FOLDERS.lock().expect("folder ids");
        if folders.len() >= MAX_ENTRIES {
            folders.retain(|_, (_, at)| at.elapsed() < TTL);
            if folders.len() >= MAX_ENTRIES {
                folders.clear();
            }
        }
        folders.insert(
            (self.account, path.as_str().to_string()),
            (id.to_string(), Instant::now()),
        );
    }

    /// Forgets `path` and everything below it.
    pub fn forget(&self, path: &ItemPath) {
        let prefix = format!("{}/", path.as_str());
        let mut folders = FOLDERS.lock().expect("folder ids");
        folders.retain(|(account, p), _| {
            *account != self.account
                || !(path.is_root() || p == path.as_str() || p.starts_with(&prefix))
        });
    }

    /// The id of the folder at `path` (`root` for the root); 404 when there is no folder
    /// there. Also says whether a remembered id was used.
    pub async fn folder(&self, path: &ItemPath) -> Result<(String, bool), ApiError> {
        let segments: Vec<&str> = path.segments().collect();
        let mut use_memory = true;
        'walk: loop {
            let start = (1..=segments.len())
                .rev()
                .filter(|_| use_memory)
                .find_map(|k| Some((k, self.remembered(&segments[..k].join("/"))?)));
            let remembered = start.is_some();
            let (mut k, mut id) = start.unwrap_or((0, "root".to_string()));
            let from = k;
            while k < segments.len() {
                let url = self.graph.child(&id, segments[k], "");
                match self.graph.find(&url).await? {
                    Some(item) if graph::kind_of(&item) == ItemKind::Folder => {
                        id = graph::id_of(&item)?;
                        k += 1;
                        self.remember(&ItemPath::parse(&segments[..k].join("/"))?, &id);
                    }
                    None if remembered => {
                        // A remembered folder may be gone: once more, from the root.
                        self.forget(&ItemPath::parse(&segments[..from].join("/"))?);
                        use_memory = false;
                        continue 'walk;
                    }
                    _ => return Err(ApiError::not_found("No such folder.")),
                }
            }
            return Ok((id, remembered));
        }
    }

    /// The id of the folder `parent` and its child `name`, if any; 404 when `parent` is
    /// not a folder.
    pub async fn child(
        &self,
        parent: &ItemPath,
        name: &str,
    ) -> Result<(String, Option<Value>), ApiError> {
        let (id, remembered) = self.folder(parent).await?;
        let found = self.graph.find(&self.graph.child(&id, name, "")).await?;
        if found.is_some() || !remembered {
            return Ok((id, found));
        }
        // A miss under a remembered id: make sure that folder is still the one at `parent`.
        self.forget(parent);
        let (fresh, _) = self.folder(parent).await?;
        if fresh == id {
            return Ok((id, None));
        }
        let found = self.graph.find(&self.graph.child(&fresh, name, "")).await?;
        Ok((fresh, found))
    }

    /// The `driveItem` at `path`; 404 when there is none.
    pub async fn item(&self, path: &ItemPath) -> Result<Value, ApiError> {
        let Some(parent) = path.parent() else {
            return self.graph.get(&self.graph.drive("/root")).await;
        };
        match self.child(&parent, path.name()).await? {
            (_, Some(item)) => Ok(item),
            (_, None) => Err(ApiError::not_found("No such file or folder.")),
        }
    }
}
