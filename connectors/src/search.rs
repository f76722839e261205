//! Search by name in a service's own index ([`Storage::search_batch`](crate::Storage::search_batch)): what is asked
//! ([`Query`]), where hits that a service tells only by their folder's id are
//! ([`Places`]), and one service search per folder for services whose search takes one
//! folder at a time ([`per_scope`]).
//!
//! Google Drive (`files.list` with `q`), Microsoft Graph (`search(q=)`), Dropbox
//! (`files/search_v2`) and Box (`/search`) answer from their indexes, in their own paging;
//! the other services have no index, and their searches crawl ([`Storage::walk`](crate::Storage::walk)).

use std::{collections::HashMap, future::Future};

use cloudbridge_shared::{storage::Batch, ApiError, ItemPath, ItemRef};

use crate::ids::{self, Ids, Place, Tree};

/// A search by name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Query {
    /// What names contain, as the caller wrote it (each service's index matches it its
    /// own way: Drive by the words' prefixes, the others by words or parts of names).
    pub text: String,
    /// The folders searched, at any depth below them, none inside another; empty for
    /// the whole account.
    pub within: Vec<Scope>,
}

/// A folder a search looks in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scope {
    /// The folder as the caller named it.
    pub item: ItemRef,
    /// Where it is.
    pub path: ItemPath,
}

/// Where a folder is: its path and the ids of it and of every folder above it, up to
/// (not including) the root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lineage {
    /// The folder's path.
    pub path: ItemPath,
    /// Its id first, then its folder's, up to the root's child.
    pub ids: Vec<String>,
}

/// The places of the folders holding a batch of hits on a service that tells an item's
/// folder by id only (Drive, Graph): each folder climbed to the root once per batch,
/// the climbs sharing what they found, the paths remembered as listings remember them.
pub struct Places<'a, T: Tree> {
    tree: &'a T,
    ids: &'a Ids,
    root: String,
    /// By folder id; `None` for a folder not below the account's root by names
    /// Cloudbridge can address (shared with the user, trashed, odd names).
    known: HashMap<String, Option<Lineage>>,
}

impl<'a, T: Tree> Places<'a, T> {
    /// Places on `tree`, remembering folder ids in `ids`.
    pub async fn new(tree: &'a T, ids: &'a Ids) -> Result<Self, ApiError> {
        let root = ids::root_id(tree, ids).await?;
        Ok(Self {
            tree,
            ids,
            root,
            known: HashMap::new(),
        })
    }

    fn is_root(&self, id: &str) -> bool {
        id == T::ROOT || id == self.root
    }

    /// Where the folder `id` is (`None`: nowhere Cloudbridge can address).
    pub async fn folder(&mut self, id: &str) -> Result<Option<Lineage>, ApiError> {
        // Climb until the root or a folder already placed.
        let mut climbed: Vec<(String, String)> = Vec::new();
        let mut at = Some(id.to_string());
        let base = loop {
            let Some(folder) = at.take() else {
                break None;
            };
            if self.is_root(&folder) {
                break Some(Lineage {
                    path: ItemPath::root(),
                    ids: Vec::new(),
                });
            }
            if let Some(known) = self.known.get(&folder) {
                break known.clone();
            }
            if climbed.len() > ids::MAX_DEPTH {
                break None;
            }
            let Some(item) = self
                .tree
                .get(&folder, cloudbridge_shared::storage::ItemKind::Folder)
                .await?
            else {
                break None;
            };
            at = match T::place(&item) {
                Place::Parent(parent) => parent.map(str::to_string),
                Place::Path(_) => None,
            };
            climbed.push((folder, T::name(&item).to_string()));
        };
        // Down again, placing every folder passed.
        let mut lineage = base;
        for (folder, name) in climbed.into_iter().rev() {
            lineage = lineage.and_then(|above| {
                let path = above.path.join(&name).ok()?;
                self.ids.put(
                    &path,
                    &folder,
                    cloudbridge_shared::storage::ItemKind::Folder,
                );
                let mut ids = vec![folder.clone()];
                ids.extend(above.ids);
                Some(Lineage { path, ids })
            });
            self.known.insert(folder, lineage.clone());
        }
        if self.is_root(id) {
            return Ok(lineage);
        }
        Ok(self.known.get(id).cloned().flatten())
    }
}

/// True when a hit in the folder of `lineage` lies in one of `query`'s folders (any
/// depth), whose ids are `scopes`.
pub fn within(scopes: &[String], lineage: &Lineage) -> bool {
    scopes.is_empty() || lineage.ids.iter().any(|id| scopes.contains(id))
}

/// The cursor of a search made one folder at a time: which folder (its index in
/// [`Query::within`]) and the service's cursor in it (`None`: its first batch).
fn split(cursor: Option<&str>) -> Result<(usize, Option<String>), ApiError> {
    let Some(cursor) = cursor else {
        return Ok((0, None));
    };
    let bad = || ApiError::invalid_parameters("This `next_page` value is not one of this search.");
    let (index, rest) = cursor.split_once(':').ok_or_else(bad)?;
    let index = index.parse().map_err(|_| bad())?;
    Ok((index, (!rest.is_empty()).then(|| rest.to_string())))
}

fn join(index: usize, cursor: Option<&str>) -> String {
    format!("{index}:{}", cursor.unwrap_or_default())
}

/// One batch of a search made one folder at a time (the whole account when `query`
/// names none): `search` answers a batch for a folder (`None`: the whole account) from
/// the service's cursor in it; the batches of one folder follow each other, then the
/// next folder's.
pub async fn per_scope<'q, F, R>(
    query: &'q Query,
    cursor: Option<&str>,
    mut search: F,
) -> Result<Batch, ApiError>
where
    F: FnMut(Option<&'q Scope>, Option<String>) -> R,
    R: Future<Output = Result<Batch, ApiError>>,
{
    let (index, inner) = split(cursor)?;
    let scope = match query.within.len() {
        0 if index == 0 => None,
        n if index < n => Some(&query.within[index]),
        _ => {
            return Err(ApiError::invalid_parameters(
                "This `next_page` value is not one of this search.",
            ))
        }
    };
    let batch = search(scope, inner).await?;
    let next = match batch.next {
        Some(next) => Some(join(index, Some(&next))),
        None if index + 1 < query.within.len() => Some(join(index + 1, None)),
        None => None,
    };
    Ok(Batch {
        entries: batch.entries,
        next,
    })
}

/// `text` as a quoted string of a query language that escapes `\` and `'` with `\`
/// (Drive's `q`).
pub fn backslash_quoted(text: &str) -> String {
    text.replace('\\', "\\\\").replace('\'', "\\'")
}

#[cfg(test)]
mod tests {
    use cloudbridge_shared::Entry;

    use super::*;

    fn scope(path: &str) -> Scope {
        let path = ItemPath::parse(path).unwrap();
        Scope {
            item: ItemRef::Path(path.clone()),
            path,
        }
    }

    fn entry(path: &str) -> Entry {
        Entry {
            id: None,
            parent_id: None,
            path: ItemPath::parse(path).unwrap(),
            kind: cloudbridge_shared::storage::ItemKind::File,
            size: Some(0),
            mime_type: None,
            created: None,
            modified: None,
            raw: None,
        }
    }

    /// Two folders of three hits each, two hits a batch: every hit once, folder by folder.
    #[tokio::test]
    async fn searches_one_folder_after_another() {
        let query = Query {
            text: "x".into(),
            within: vec![scope("a"), scope("b")],
        };
        let read = |scope: Option<&Scope>, cursor: Option<String>| {
            let folder = scope.unwrap().path.as_str().to_string();
            async move {
                let at: usize = cursor.map_or(0, |c| c.parse().unwrap());
                let end = (at + 2).min(3);
                Ok(Batch {
                    entries: (at..end).map(|i| entry(&format!("{folder}/{i}"))).collect(),
                    next: (end < 3).then(|| end.to_string()),
                })
            }
        };
        let (mut seen, mut cursor) = (Vec::new(), None);
        loop {
            let batch = per_scope(&query, cursor.as_deref(), read).await.unwrap();
            seen.extend(
                batch
                    .entries
                    .into_iter()
                    .map(|e| e.path.as_str().to_string()),
            );
            match batch.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        assert_eq!(seen, ["a/0", "a/1", "a/2", "b/0", "b/1", "b/2"]);
        let bad = per_scope(&query, Some("7:"), read).await.unwrap_err();
        assert_eq!(bad.status, 400);
        assert!(per_scope(&query, Some("nonsense"), read).await.is_err());
    }

    #[test]
    fn quotes_are_escaped() {
        assert_eq!(backslash_quoted(r"it's a\b"), r"it\'s a\\b");
    }

    /// Folders `(id, name, parent)` told by parent, counting lookups by id.
    struct Folders(
        Vec<(&'static str, &'static str, &'static str)>,
        std::sync::Mutex<u32>,
    );

    #[async_trait::async_trait]
    impl Tree for Folders {
        type Item = (String, String, String);
        const ROOT: &'static str = "root";

        async fn root(&self) -> Result<Self::Item, ApiError> {
            Ok(("root".into(), String::new(), String::new()))
        }
        async fn root_id(&self) -> Result<String, ApiError> {
            Ok("R".into())
        }
        async fn get(
            &self,
            id: &str,
            _: cloudbridge_shared::storage::ItemKind,
        ) -> Result<Option<Self::Item>, ApiError> {
            *self.1.lock().unwrap() += 1;
            Ok(self
                .0
                .iter()
                .find(|f| f.0 == id)
                .map(|f| (f.0.into(), f.1.into(), f.2.into())))
        }
        async fn child(
            &self,
            _: &str,
            _: &ItemPath,
            _: &str,
        ) -> Result<Option<Self::Item>, ApiError> {
            unreachable!("places climb by id")
        }
        fn id(item: &Self::Item) -> &str {
            &item.0
        }
        fn kind(_: &Self::Item) -> Option<cloudbridge_shared::storage::ItemKind> {
            Some(cloudbridge_shared::storage::ItemKind::Folder)
        }
        fn name(item: &Self::Item) -> &str {
            &item.1
        }
        fn place(item: &Self::Item) -> Place<'_> {
            Place::Parent(Some(&item.2))
        }
    }

    #[tokio::test]
    async fn folders_are_climbed_once_a_batch() {
        let tree = Folders(
            vec![
                ("A", "a", "R"),
                ("B", "b", "A"),
                ("C", "c", "B"),
                ("S", "shared", "elsewhere"),
            ],
            Default::default(),
        );
        let ids = Ids::of(-77);
        let mut places = Places::new(&tree, &ids).await.unwrap();
        let c = places.folder("C").await.unwrap().unwrap();
        assert_eq!(
            (c.path.as_str(), c.ids.clone()),
            ("a/b/c", vec!["C".into(), "B".into(), "A".into()])
        );
        assert_eq!(*tree.1.lock().unwrap(), 3);
        let b = places.folder("B").await.unwrap().unwrap();
        assert_eq!(b.path.as_str(), "a/b");
        assert_eq!(
            places.folder("R").await.unwrap().unwrap().path,
            ItemPath::root()
        );
        assert_eq!(*tree.1.lock().unwrap(), 3, "what was climbed is known");
        assert_eq!(
            places.folder("S").await.unwrap(),
            None,
            "not below the root"
        );
        assert_eq!(ids.get(&ItemPath::parse("a/b").unwrap()).unwrap().id, "B");
    }

    #[test]
    fn lineage_decides_what_is_within() {
        let lineage = Lineage {
            path: ItemPath::parse("a/b").unwrap(),
            ids: vec!["B".into(), "A".into()],
        };
        assert!(within(&[], &lineage));
        assert!(within(&["A".into()], &lineage));
        assert!(!within(&["C".into()], &lineage));
    }
}
