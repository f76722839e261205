//! Storage domain types shared by connectors, workers and the API tier.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::ApiError;

/// Longest accepted name of one file or folder, in bytes.
pub const MAX_NAME_BYTES: usize = 255;
/// Longest accepted path, in bytes.
pub const MAX_PATH_BYTES: usize = 4096;

/// A validated path inside one account: no `.`/`..` segments, no empty segments,
/// no NUL, relative. The empty path is the account's root folder.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ItemPath(String);

impl ItemPath {
    /// The root folder.
    pub fn root() -> Self {
        Self(String::new())
    }

    /// Parses a `/`-separated relative path, refusing anything that could leave the account.
    pub fn parse(raw: &str) -> Result<Self, ApiError> {
        if raw.is_empty() {
            return Ok(Self::root());
        }
        if raw.len() > MAX_PATH_BYTES {
            return Err(ApiError::invalid_parameters("The path is too long."));
        }
        for segment in raw.split('/') {
            validate_name(segment)?;
        }
        Ok(Self(raw.to_string()))
    }

    /// Parses a Kloudless file/folder id: `root` or the base64url of the path.
    pub fn from_id(id: &str) -> Result<Self, ApiError> {
        if id == "root" {
            return Ok(Self::root());
        }
        let bad = || ApiError::not_found("No file or folder has this id.");
        let bytes = URL_SAFE_NO_PAD.decode(id).map_err(|_| bad())?;
        let text = String::from_utf8(bytes).map_err(|_| bad())?;
        if text.is_empty() {
            return Err(bad());
        }
        Self::parse(&text).map_err(|_| bad())
    }

    /// The Kloudless id of this path.
    pub fn id(&self) -> String {
        if self.is_root() {
            "root".to_string()
        } else {
            URL_SAFE_NO_PAD.encode(self.0.as_bytes())
        }
    }

    /// True for the account's root folder.
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// The path as text (`""` for the root).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The last segment (`""` for the root).
    pub fn name(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or("")
    }

    /// The parent folder; `None` for the root.
    pub fn parent(&self) -> Option<ItemPath> {
        if self.is_root() {
            return None;
        }
        Some(match self.0.rsplit_once('/') {
            Some((parent, _)) => Self(parent.to_string()),
            None => Self::root(),
        })
    }

    /// This path joined with a validated child name.
    pub fn join(&self, name: &str) -> Result<ItemPath, ApiError> {
        validate_name(name)?;
        let joined = if self.is_root() {
            name.to_string()
        } else {
            format!("{}/{}", self.0, name)
        };
        if joined.len() > MAX_PATH_BYTES {
            return Err(ApiError::invalid_parameters("The path is too long."));
        }
        Ok(Self(joined))
    }

    /// Segments from the root down.
    pub fn segments(&self) -> impl Iterator<Item = &str> {
        self.0.split('/').filter(|s| !s.is_empty())
    }
}

impl TryFrom<String> for ItemPath {
    type Error = ApiError;
    fn try_from(s: String) -> Result<Self, ApiError> {
        ItemPath::parse(&s)
    }
}

impl From<ItemPath> for String {
    fn from(p: ItemPath) -> String {
        p.0
    }
}

/// Longest accepted id of an item at its service, in bytes.
pub const MAX_NATIVE_ID_BYTES: usize = 1024;

/// Prefix of the Kloudless id of a file the service names by its own id.
const FILE_PREFIX: &str = "file_";
/// Prefix of the Kloudless id of a folder the service names by its own id.
const FOLDER_PREFIX: &str = "folder_";

/// An item as a caller names it: by path (`root`, and the base64url of a path: the ids of
/// services that know items only by path, and every id issued before native ids), or by
/// the service's own id (Drive, OneDrive, Dropbox, Box), which renames and moves made
/// anywhere keep.
///
/// A native id is `file_` or `folder_` and the base64url of the service's id. No path id
/// starts so: the fifth character `_` (and, for `folder_`, the seventh) would make its
/// decoded path invalid UTF-8, which paths never are; so the two kinds of ids never meet.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemRef {
    /// By path.
    Path(ItemPath),
    /// By the service's own id.
    Native {
        /// The service's id.
        id: String,
        /// What the id says the item is.
        kind: ItemKind,
    },
}

impl ItemRef {
    /// Parses a Kloudless file or folder id (404 for anything that is not one).
    pub fn from_id(id: &str) -> Result<Self, ApiError> {
        let native = |rest: &str, kind| {
            let bad = || ApiError::not_found("No file or folder has this id.");
            let bytes = URL_SAFE_NO_PAD.decode(rest).map_err(|_| bad())?;
            let id = String::from_utf8(bytes).map_err(|_| bad())?;
            if id.is_empty() || id.len() > MAX_NATIVE_ID_BYTES || id.contains(char::is_control) {
                return Err(bad());
            }
            Ok(ItemRef::Native { id, kind })
        };
        if let Some(rest) = id.strip_prefix(FILE_PREFIX) {
            return native(rest, ItemKind::File);
        }
        if let Some(rest) = id.strip_prefix(FOLDER_PREFIX) {
            return native(rest, ItemKind::Folder);
        }
        ItemPath::from_id(id).map(ItemRef::Path)
    }

    /// The Kloudless id.
    pub fn id(&self) -> String {
        match self {
            ItemRef::Path(path) => path.id(),
            ItemRef::Native { id, kind } => native_id(id, *kind),
        }
    }

    /// The root folder.
    pub fn root() -> Self {
        ItemRef::Path(ItemPath::root())
    }

    /// True for the root folder.
    pub fn is_root(&self) -> bool {
        matches!(self, ItemRef::Path(p) if p.is_root())
    }

    /// The path, when the item is named by one.
    pub fn path(&self) -> Option<&ItemPath> {
        match self {
            ItemRef::Path(path) => Some(path),
            ItemRef::Native { .. } => None,
        }
    }
}

impl From<ItemPath> for ItemRef {
    fn from(path: ItemPath) -> Self {
        ItemRef::Path(path)
    }
}

/// The Kloudless id of the item `id` (of `kind`) at its service.
pub fn native_id(id: &str, kind: ItemKind) -> String {
    let prefix = match kind {
        ItemKind::File => FILE_PREFIX,
        ItemKind::Folder => FOLDER_PREFIX,
    };
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(id.as_bytes()))
}

/// Checks one file or folder name.
pub fn validate_name(name: &str) -> Result<(), ApiError> {
    let bad = |why: &str| {
        Err(ApiError::invalid_parameters(format!(
            "Invalid name: {why}."
        )))
    };
    if name.is_empty() {
        return bad("it is empty");
    }
    if name == "." || name == ".." {
        return bad("`.` and `..` are not names");
    }
    if name.len() > MAX_NAME_BYTES {
        return bad("it is longer than 255 bytes");
    }
    if name.contains(['/', '\\', '\0']) {
        return bad("it contains a path separator or NUL");
    }
    if name.chars().any(char::is_control) {
        return bad("it contains control characters");
    }
    Ok(())
}

/// File or folder.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ItemKind {
    /// A file.
    File,
    /// A folder.
    Folder,
}

/// Metadata of one file or folder as a connector reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Where it is.
    pub path: ItemPath,
    /// File or folder.
    pub kind: ItemKind,
    /// Size in bytes (files).
    pub size: Option<u64>,
    /// Creation time, where the service knows it.
    pub created: Option<DateTime<Utc>>,
    /// Last modification time.
    pub modified: Option<DateTime<Utc>>,
    /// MIME type (files).
    pub mime_type: Option<String>,
    /// The service's own description of the item (`X-Kloudless-Raw-Data`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw: Option<serde_json::Value>,
    /// The service's own id of the item, on services that name items by id (its
    /// Kloudless id is then made of it, so renames and moves keep it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The service's own id of the folder holding it, where the service tells it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<String>,
}

impl Entry {
    /// The Kloudless id: made of the service's id where there is one, else of the path.
    pub fn wire_id(&self) -> String {
        self.item_ref().id()
    }

    /// How the item is named to the service: by its id where it has one.
    pub fn item_ref(&self) -> ItemRef {
        match &self.id {
            Some(id) if !self.path.is_root() => ItemRef::Native {
                id: id.clone(),
                kind: self.kind,
            },
            _ => ItemRef::Path(self.path.clone()),
        }
    }

    /// How the folder holding it is named to the service (`None` for the root).
    pub fn parent_ref(&self) -> Option<ItemRef> {
        let parent = self.path.parent()?;
        Some(match &self.parent_id {
            Some(id) if !parent.is_root() => ItemRef::Native {
                id: id.clone(),
                kind: ItemKind::Folder,
            },
            _ => ItemRef::Path(parent),
        })
    }
}

/// One page of a folder listing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page {
    /// The entries of this page.
    pub entries: Vec<Entry>,
    /// 1-based page number.
    pub page: u32,
    /// The next page number, if any.
    pub next_page: Option<u32>,
    /// How many entries match in all (search and recent lists).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
    /// True when a crawl (search and recent lists on services without an index of
    /// their own) stopped at its limit: what it found is not everything there is.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
    /// Where the next page starts in the service's own paging, for folders listed that
    /// way (the API hands it out sealed as `next_page`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_from: Option<Position>,
}

/// A place in a service's own paging of a folder: the service's cursor of the batch of
/// entries to read (the first batch when `None`) and how many of that batch were shown
/// already. Reading from it costs one call to the service, whatever page it stands for.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    /// The service's cursor (page token, marker, continuation key…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// Entries of that batch already shown.
    #[serde(default)]
    pub skip: u32,
}

/// One batch of a folder's entries in the service's own paging, and the cursor of the
/// batch after it (`None` at the end).
#[derive(Clone, Debug, Default)]
pub struct Batch {
    /// The entries, in the service's order.
    pub entries: Vec<Entry>,
    /// The next batch's cursor.
    pub next: Option<String>,
}

impl Page {
    /// Page `page` of a whole folder listing, in name order (stable across pages).
    pub fn of_listing(mut entries: Vec<Entry>, page: u32, size: u32) -> Result<Page, ApiError> {
        entries.sort_by(|a, b| a.path.name().cmp(b.path.name()));
        let (entries, next_page) = Page::slice(entries, page, size)?;
        Ok(Page {
            entries,
            page,
            next_page,
            total: None,
            truncated: false,
            next_from: None,
        })
    }

    /// Page `page` (1-based) of `size` entries out of all of `items`; a page past the end
    /// (other than the first) is "not found", as the SDKs expect when paging.
    pub fn slice<T>(
        items: Vec<T>,
        page: u32,
        size: u32,
    ) -> Result<(Vec<T>, Option<u32>), ApiError> {
        let size = size as usize;
        let start = (page as usize - 1) * size;
        if start > 0 && start >= items.len() {
            return Err(ApiError::not_found("This page does not exist."));
        }
        let next = (start + size < items.len()).then_some(page + 1);
        Ok((items.into_iter().skip(start).take(size).collect(), next))
    }
}

/// What happened to an item, as the Events API reports it (`type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventType {
    /// It appeared.
    Add,
    /// Its contents changed.
    Update,
    /// It is gone.
    Delete,
    /// Its name changed, in the same folder.
    Rename,
    /// It went to another folder.
    Move,
    /// It appeared as a copy of another item.
    Copy,
    /// It came back from the trash.
    Restore,
}

impl EventType {
    /// The wire name (`add`, `update`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Add => "add",
            EventType::Update => "update",
            EventType::Delete => "delete",
            EventType::Rename => "rename",
            EventType::Move => "move",
            EventType::Copy => "copy",
            EventType::Restore => "restore",
        }
    }
}

/// What a service can do, reported in `properties.capabilities`.
pub type Capabilities = Vec<(&'static str, bool)>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip() {
        let p = ItemPath::parse("a b/ü #?%.txt").unwrap();
        assert_eq!(ItemPath::from_id(&p.id()).unwrap(), p);
        assert_eq!(ItemPath::from_id("root").unwrap(), ItemPath::root());
        assert_eq!(p.name(), "ü #?%.txt");
        assert_eq!(p.parent().unwrap().as_str(), "a b");
    }

    #[test]
    fn native_ids_round_trip_and_never_meet_path_ids() {
        for (raw, kind) in [
            ("1BxiMVs0XRA5nFMdKvBdBZjgmUUqptlbs", ItemKind::File),
            ("D4648F06C91D9D3D!54927", ItemKind::Folder),
            ("id:a4ayc_80_OEAAAAAAAAAXw", ItemKind::File),
            ("12345", ItemKind::Folder),
        ] {
            let id = native_id(raw, kind);
            assert_eq!(
                ItemRef::from_id(&id).unwrap(),
                ItemRef::Native {
                    id: raw.into(),
                    kind
                }
            );
            assert!(ItemPath::from_id(&id).is_err(), "{id} is also a path id");
        }
        // Paths whose ids start like native ones decode as paths.
        for path in ["file", "folder", "file_x", "~)^", "folder_a"] {
            let p = ItemPath::parse(path).unwrap();
            assert_eq!(ItemRef::from_id(&p.id()).unwrap(), ItemRef::Path(p));
        }
        assert_eq!(ItemRef::from_id("root").unwrap(), ItemRef::root());
        assert_eq!(ItemRef::from_id("file_").unwrap_err().status, 404);
        assert_eq!(
            ItemRef::from_id(&format!("file_{}", URL_SAFE_NO_PAD.encode([0xff])))
                .unwrap_err()
                .status,
            404
        );
    }

    #[test]
    fn escaping_paths_are_refused() {
        for bad in [
            "..", "a/../b", "/abs", "a//b", "a/./b", "a\\..\\b", "a\0b", "x/",
        ] {
            assert!(ItemPath::parse(bad).is_err(), "{bad:?} accepted");
            let id = URL_SAFE_NO_PAD.encode(bad);
            assert!(ItemPath::from_id(&id).is_err(), "{bad:?} accepted as id");
        }
        assert!(ItemPath::from_id("not base64 !").is_err());
        assert!(ItemPath::root().join("..").is_err());
        assert!(ItemPath::root().join("a/b").is_err());
        assert!(ItemPath::root().join(&"x".repeat(256)).is_err());
    }
}
