//! Paths to the ids of the services that address items by id (Google Drive, OneDrive,
//! Box), one mechanism for all three.
//!
//! Each process remembers, per account, the ids it learnt for paths ([`Ids`]). A
//! remembered id is only a guess: [`resolve`] uses one only after asking the service
//! about that id and finding that it still names that path — Box tells an item's whole
//! path in one answer, Drive and OneDrive its name and parent, which are climbed to the
//! root comparing names ([`Tree::place`]). An id that no longer names its path (renamed,
//! moved, deleted elsewhere) is forgotten with everything below it and the path is found
//! afresh from the nearest ancestor that still holds, or from the root, one name at a
//! time. So a change made elsewhere costs one more lookup, never a write into a folder
//! that moved away; what remains is the race of a change made between the check and the
//! call that uses the id.
//!
//! What the memory saves differs by service: on Box, a remembered id is checked with one
//! call where finding a name means listing its folder; on Drive and OneDrive the climb
//! costs about what a walk does, but reads items by id, which (unlike Drive's queries)
//! sees a folder made a moment ago.

use std::{
    collections::BTreeMap,
    sync::{LazyLock, Mutex},
    time::{Duration, Instant},
};

use async_trait::async_trait;
use cloudbridge_shared::{storage::ItemKind, ApiError, ItemPath, ItemRef};

/// How long an id is remembered without being used.
const IDLE: Duration = Duration::from_secs(600);
/// Ids remembered by one process (all accounts); the stale go first, then everything.
const MAX_ENTRIES: usize = 50_000;

/// How long a path found from an item's id ([`locate`]) is taken as confirmed: the job
/// that located it acts on it without climbing to the root once more.
const FRESH: Duration = Duration::from_secs(2);
/// Deepest folder nesting [`locate`] climbs.
pub(crate) const MAX_DEPTH: usize = 512;

/// An id learnt for a path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Known {
    /// The service's id.
    pub id: String,
    /// What it was.
    pub kind: ItemKind,
    /// Confirmed a moment ago by [`locate`]: its place needs no climb.
    pub fresh: bool,
}

/// Remembered ids, when they were last used and when [`locate`] confirmed them, by
/// `(account, path)`.
type Memory = BTreeMap<(i64, String), (Known, Instant, Option<Instant>)>;

/// Every account's remembered ids, by `(account, path)` (the root is `""`), in path
/// order so that a subtree is one range.
static MEMORY: LazyLock<Mutex<Memory>> = LazyLock::new(|| Mutex::new(BTreeMap::new()));

/// The remembered ids of one account (none for an account being imported, id 0).
#[derive(Clone, Copy, Debug)]
pub struct Ids {
    account: i64,
}

impl Ids {
    /// The memory of `account`.
    pub fn of(account: i64) -> Self {
        Self { account }
    }

    /// The account.
    pub fn account(&self) -> i64 {
        self.account
    }

    /// The id remembered for `path`, if any (unchecked: see [`resolve`]).
    pub fn get(&self, path: &ItemPath) -> Option<Known> {
        let mut memory = MEMORY.lock().expect("id memory");
        let key = (self.account, path.as_str().to_string());
        match memory.get_mut(&key) {
            Some((known, used, confirmed)) if used.elapsed() < IDLE => {
                *used = Instant::now();
                let fresh = confirmed.is_some_and(|at| at.elapsed() < FRESH);
                Some(Known {
                    fresh,
                    ..known.clone()
                })
            }
            Some(_) => {
                memory.remove(&key);
                None
            }
            None => None,
        }
    }

    /// Remembers that `path` is the item `id` of `kind`.
    pub fn put(&self, path: &ItemPath, id: &str, kind: ItemKind) {
        self.remember(path, id, kind, None);
    }

    /// Remembers that `path` is the item `id` of `kind`, as the service confirmed just now.
    fn put_confirmed(&self, path: &ItemPath, id: &str, kind: ItemKind) {
        self.remember(path, id, kind, Some(Instant::now()));
    }

    fn remember(&self, path: &ItemPath, id: &str, kind: ItemKind, confirmed: Option<Instant>) {
        if self.account == 0 {
            return;
        }
        let mut memory = MEMORY.lock().expect("id memory");
        if memory.len() >= MAX_ENTRIES {
            memory.retain(|_, (_, used, _)| used.elapsed() < IDLE);
            if memory.len() >= MAX_ENTRIES {
                memory.clear();
            }
        }
        let known = Known {
            id: id.to_string(),
            kind,
            fresh: false,
        };
        memory.insert(
            (self.account, path.as_str().to_string()),
            (known, Instant::now(), confirmed),
        );
    }

    /// Forgets `path` and everything below it (the root itself, whose id never changes,
    /// is kept).
    pub fn forget(&self, path: &ItemPath) {
        let mut memory = MEMORY.lock().expect("id memory");
        let (from, below, end) = if path.is_root() {
            // Every path of the account sorts after "" and before the next account.
            (String::new(), String::from("\0"), None)
        } else {
            let p = path.as_str();
            // `p/…` sorts from `p/` up to `p0` ('0' follows '/').
            (p.to_string(), format!("{p}/"), Some(format!("{p}0")))
        };
        if !path.is_root() {
            memory.remove(&(self.account, from));
        }
        let doomed: Vec<_> = match end {
            Some(end) => memory
                .range((self.account, below)..(self.account, end))
                .map(|(k, _)| k.clone())
                .collect(),
            None => memory
                .range((self.account, below)..)
                .take_while(|((account, _), _)| *account == self.account)
                .map(|(k, _)| k.clone())
                .collect(),
        };
        for key in doomed {
            memory.remove(&key);
        }
    }
}

/// Where a service says an item is.
pub enum Place<'a> {
    /// Its whole path (`None`: not one Cloudbridge can address).
    Path(Option<ItemPath>),
    /// The id of its folder (`None` for an item in no folder).
    Parent(Option<&'a str>),
}

/// A service's items as [`resolve`] reads them.
#[async_trait]
pub trait Tree: Send + Sync {
    /// The service's description of an item.
    type Item: Send + Sync;

    /// The alias the service takes for the root folder's id in its calls.
    const ROOT: &'static str;

    /// The root folder.
    async fn root(&self) -> Result<Self::Item, ApiError>;

    /// The root folder's own id, as items in it name their parent.
    async fn root_id(&self) -> Result<String, ApiError>;

    /// The item `id` (of `kind`) as the service describes it now; `None` when it is
    /// gone (deleted, trashed).
    async fn get(&self, id: &str, kind: ItemKind) -> Result<Option<Self::Item>, ApiError>;

    /// The item named `name` in the folder `folder` (the one at `at`), if any.
    async fn child(
        &self,
        folder: &str,
        at: &ItemPath,
        name: &str,
    ) -> Result<Option<Self::Item>, ApiError>;

    /// The service's id of `item`.
    fn id(item: &Self::Item) -> &str;
    /// File or folder (`None` for anything else).
    fn kind(item: &Self::Item) -> Option<ItemKind>;
    /// Its name.
    fn name(item: &Self::Item) -> &str;
    /// Where it is.
    fn place(item: &Self::Item) -> Place<'_>;
}

/// A lookup's answer with "not found" as `None` (for [`Tree::get`]).
pub fn found<T>(answer: Result<T, ApiError>) -> Result<Option<T>, ApiError> {
    match answer {
        Ok(item) => Ok(Some(item)),
        Err(e) if e.status == 404 => Ok(None),
        Err(e) => Err(e),
    }
}

fn missing() -> ApiError {
    ApiError::not_found("No such file or folder.")
}

/// The id of the folder at `path`, for calls that need no more of it (listings): the
/// root's without asking the service, else as [`resolve`] finds it (404 when it is not a
/// folder).
pub async fn folder_id<T: Tree>(tree: &T, ids: &Ids, path: &ItemPath) -> Result<String, ApiError> {
    if path.is_root() {
        return Ok(T::ROOT.to_string());
    }
    let item = resolve(tree, ids, path).await?;
    match T::kind(&item) {
        Some(ItemKind::Folder) => Ok(T::id(&item).to_string()),
        _ => Err(ApiError::not_found("No folder has this id.")),
    }
}

/// The item at `path` (404 when nothing is there), found through remembered ids that the
/// service confirms still name their paths; the folders passed on the way are remembered.
pub async fn resolve<T: Tree>(tree: &T, ids: &Ids, path: &ItemPath) -> Result<T::Item, ApiError> {
    if path.is_root() {
        return tree.root().await;
    }
    let segments: Vec<&str> = path.segments().collect();
    let prefix = |depth: usize| ItemPath::parse(&segments[..depth].join("/"));
    // The deepest remembered path (the item itself, else an ancestor) that still holds.
    let mut depth = 0;
    let mut at = ItemPath::root();
    let mut id = T::ROOT.to_string();
    for d in (1..=segments.len()).rev() {
        let candidate = prefix(d)?;
        let Some(known) = ids.get(&candidate) else {
            continue;
        };
        match confirmed(tree, ids, &known, &candidate).await? {
            Some(item) if d == segments.len() => return Ok(item),
            Some(item) if T::kind(&item) == Some(ItemKind::Folder) => {
                (depth, at, id) = (d, candidate, T::id(&item).to_string());
                break;
            }
            // A file where a folder was: nothing is below it.
            Some(_) => return Err(missing()),
            None => ids.forget(&candidate),
        }
    }
    loop {
        let item = tree
            .child(&id, &at, segments[depth])
            .await?
            .ok_or_else(missing)?;
        depth += 1;
        at = prefix(depth)?;
        let kind = T::kind(&item);
        if depth == segments.len() {
            return Ok(item);
        }
        if kind != Some(ItemKind::Folder) {
            return Err(missing());
        }
        id = T::id(&item).to_string();
        ids.put(&at, &id, ItemKind::Folder);
    }
}

/// The item the service calls `id` and where it is now: 404 when it is gone, is not of
/// `kind`, or is not below the account's root folder by names Cloudbridge can address.
/// The path and the folders above it are remembered as confirmed (see [`Known::fresh`]),
/// so the job that asked acts on this very item, not on a same-named one.
pub async fn locate<T: Tree>(
    tree: &T,
    ids: &Ids,
    id: &str,
    kind: ItemKind,
) -> Result<(T::Item, ItemPath), ApiError> {
    let gone = || ApiError::not_found("No file or folder has this id.");
    if id == T::ROOT {
        return match kind {
            ItemKind::Folder => Ok((tree.root().await?, ItemPath::root())),
            ItemKind::File => Err(gone()),
        };
    }
    let item = tree.get(id, kind).await?.ok_or_else(gone)?;
    if T::kind(&item) != Some(kind) {
        return Err(gone());
    }
    let mut folders = Vec::new();
    let path = match T::place(&item) {
        Place::Path(path) => path.ok_or_else(gone)?,
        Place::Parent(None) if kind == ItemKind::Folder && id == root_id(tree, ids).await? => {
            return Ok((tree.root().await?, ItemPath::root()));
        }
        Place::Parent(parent) => {
            let root = root_id(tree, ids).await?;
            let mut names = vec![T::name(&item).to_string()];
            let mut parent = parent.map(str::to_string);
            loop {
                let folder_id = parent.ok_or_else(gone)?;
                if folder_id == T::ROOT || folder_id == root {
                    break;
                }
                if names.len() > MAX_DEPTH {
                    return Err(gone());
                }
                let folder = tree
                    .get(&folder_id, ItemKind::Folder)
                    .await?
                    .ok_or_else(gone)?;
                names.push(T::name(&folder).to_string());
                parent = match T::place(&folder) {
                    Place::Parent(p) => p.map(str::to_string),
                    Place::Path(_) => return Err(gone()),
                };
                folders.push(folder_id);
            }
            names.reverse();
            ItemPath::parse(&names.join("/")).map_err(|_| gone())?
        }
    };
    ids.put_confirmed(&path, id, kind);
    let mut above = path.parent();
    for folder in folders {
        let Some(at) = above else { break };
        ids.put_confirmed(&at, &folder, ItemKind::Folder);
        above = at.parent();
    }
    Ok((item, path))
}

/// Where the item `item` names is: a path as it is, an id by [`locate`].
pub async fn place_of<T: Tree>(tree: &T, ids: &Ids, item: &ItemRef) -> Result<ItemPath, ApiError> {
    match item {
        ItemRef::Path(path) => Ok(path.clone()),
        ItemRef::Native { id, kind } => Ok(locate(tree, ids, id, *kind).await?.1),
    }
}

/// The item `known` if it is still the one at `path`.
async fn confirmed<T: Tree>(
    tree: &T,
    ids: &Ids,
    known: &Known,
    path: &ItemPath,
) -> Result<Option<T::Item>, ApiError> {
    let Some(item) = tree.get(&known.id, known.kind).await? else {
        return Ok(None);
    };
    if T::name(&item) != path.name() || T::kind(&item) != Some(known.kind) {
        return Ok(None);
    }
    if known.fresh {
        return Ok(Some(item));
    }
    let holds = match T::place(&item) {
        Place::Path(at) => at.as_ref() == Some(path),
        Place::Parent(parent) => {
            let parent = parent.map(str::to_string);
            climb(tree, ids, parent, path.parent().expect("not the root")).await?
        }
    };
    Ok(holds.then_some(item))
}

/// True when the folder `parent` is the one at `at`: its name and each of its ancestors'
/// match, up to the root.
async fn climb<T: Tree>(
    tree: &T,
    ids: &Ids,
    mut parent: Option<String>,
    mut at: ItemPath,
) -> Result<bool, ApiError> {
    loop {
        let Some(id) = parent else {
            return Ok(false);
        };
        if at.is_root() {
            return Ok(id == T::ROOT || id == root_id(tree, ids).await?);
        }
        let Some(folder) = tree.get(&id, ItemKind::Folder).await? else {
            return Ok(false);
        };
        if T::name(&folder) != at.name() {
            return Ok(false);
        }
        parent = match T::place(&folder) {
            Place::Parent(p) => p.map(str::to_string),
            Place::Path(p) => return Ok(p.as_ref() == Some(&at)),
        };
        at = at.parent().expect("not the root");
    }
}

/// The root folder's id, remembered (it never changes).
pub(crate) async fn root_id<T: Tree>(tree: &T, ids: &Ids) -> Result<String, ApiError> {
    if let Some(known) = ids.get(&ItemPath::root()) {
        return Ok(known.id);
    }
    let id = tree.root_id().await?;
    ids.put(&ItemPath::root(), &id, ItemKind::Folder);
    Ok(id)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn p(s: &str) -> ItemPath {
        ItemPath::parse(s).unwrap()
    }

    #[test]
    fn ids_are_forgotten_by_subtree_and_kept_per_account() {
        let ids = Ids::of(-42);
        let other = Ids::of(-43);
        for (path, id) in [
            ("a", "1"),
            ("a/b", "2"),
            ("a/b/c", "3"),
            ("ab", "4"),
            ("a0", "5"),
        ] {
            ids.put(&p(path), id, ItemKind::Folder);
        }
        other.put(&p("a"), "9", ItemKind::Folder);
        ids.put(&ItemPath::root(), "r", ItemKind::Folder);
        ids.forget(&p("a"));
        for gone in ["a", "a/b", "a/b/c"] {
            assert_eq!(ids.get(&p(gone)), None, "{gone}");
        }
        assert_eq!(ids.get(&p("ab")).unwrap().id, "4");
        assert_eq!(ids.get(&p("a0")).unwrap().id, "5");
        assert_eq!(other.get(&p("a")).unwrap().id, "9");
        ids.forget(&ItemPath::root());
        assert_eq!(ids.get(&p("ab")), None);
        assert_eq!(
            ids.get(&ItemPath::root()).unwrap().id,
            "r",
            "the root stays"
        );
        assert_eq!(other.get(&p("a")).unwrap().id, "9");
        Ids::of(0).put(&p("x"), "5", ItemKind::File);
        assert_eq!(Ids::of(0).get(&p("x")), None, "imports remember nothing");
    }

    /// A tree of `(id, name, parent)` folders told by parent, counting lookups by name.
    struct Folders {
        items: Mutex<HashMap<String, (String, String)>>,
        walks: Mutex<u32>,
    }

    #[async_trait]
    impl Tree for Folders {
        type Item = (String, String, String);
        const ROOT: &'static str = "root";

        async fn root(&self) -> Result<Self::Item, ApiError> {
            Ok(("root".into(), String::new(), String::new()))
        }
        async fn root_id(&self) -> Result<String, ApiError> {
            Ok("root".into())
        }
        async fn get(&self, id: &str, _: ItemKind) -> Result<Option<Self::Item>, ApiError> {
            let items = self.items.lock().unwrap();
            Ok(items
                .get(id)
                .map(|(name, parent)| (id.to_string(), name.clone(), parent.clone())))
        }
        async fn child(
            &self,
            folder: &str,
            _: &ItemPath,
            name: &str,
        ) -> Result<Option<Self::Item>, ApiError> {
            *self.walks.lock().unwrap() += 1;
            let items = self.items.lock().unwrap();
            Ok(items
                .iter()
                .find(|(_, (n, parent))| n == name && parent == folder)
                .map(|(id, (n, parent))| (id.clone(), n.clone(), parent.clone())))
        }
        fn id(item: &Self::Item) -> &str {
            &item.0
        }
        fn kind(_: &Self::Item) -> Option<ItemKind> {
            Some(ItemKind::Folder)
        }
        fn name(item: &Self::Item) -> &str {
            &item.1
        }
        fn place(item: &Self::Item) -> Place<'_> {
            Place::Parent(Some(&item.2))
        }
    }

    #[tokio::test]
    async fn a_remembered_id_is_used_only_while_it_names_its_path() {
        let tree = Folders {
            items: Mutex::new(HashMap::from([
                ("A".to_string(), ("a".to_string(), "root".to_string())),
                ("B".to_string(), ("b".to_string(), "A".to_string())),
            ])),
            walks: Mutex::new(0),
        };
        let ids = Ids::of(-44);
        assert_eq!(resolve(&tree, &ids, &p("a/b")).await.unwrap().0, "B");
        assert_eq!(*tree.walks.lock().unwrap(), 2);
        // Remembered and still right: no walk.
        ids.put(&p("a/b"), "B", ItemKind::Folder);
        assert_eq!(resolve(&tree, &ids, &p("a/b")).await.unwrap().0, "B");
        assert_eq!(*tree.walks.lock().unwrap(), 2);
        // `a` renamed elsewhere and a new `a` made: `a/b` is no more, `a` is the new one.
        tree.items.lock().unwrap().get_mut("A").unwrap().0 = "moved".into();
        tree.items
            .lock()
            .unwrap()
            .insert("A2".into(), ("a".into(), "root".into()));
        assert_eq!(
            resolve(&tree, &ids, &p("a/b")).await.unwrap_err().status,
            404
        );
        assert_eq!(resolve(&tree, &ids, &p("a")).await.unwrap().0, "A2");
        assert_eq!(resolve(&tree, &ids, &p("moved/b")).await.unwrap().0, "B");
    }
}
