//! The fake's account: one tree of folders and files in memory (folder `0` is "All
//! Files", ids are numeric strings, names unique per folder without regard to case), and
//! the JSON Box renders for its items: full, mini, or only the `fields` asked for.

use std::collections::HashMap;

use axum::http::StatusCode;
use bytes::Bytes;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};
use sha1::{Digest, Sha1};

use super::{errors::BoxError, events::Log};

/// The id of the root folder.
pub const ROOT: &str = "0";

/// File or folder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A file.
    File,
    /// A folder.
    Folder,
}

impl Kind {
    /// Box's `type`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::File => "file",
            Kind::Folder => "folder",
        }
    }
}

/// One item.
#[derive(Clone, Debug)]
pub struct Node {
    /// Numeric id.
    pub id: String,
    /// File or folder.
    pub kind: Kind,
    /// Name in its folder.
    pub name: String,
    /// Containing folder (`None` for the root).
    pub parent: Option<String>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it (or its contents) last changed.
    pub modified_at: DateTime<Utc>,
    /// Changed on every modification (`etag`, `sequence_id`).
    pub etag: u64,
    /// File contents.
    pub content: Bytes,
    /// SHA-1 of the contents, lower-case hex.
    pub sha1: String,
    /// Id of the current file version.
    pub version: String,
}

/// The user whose account this is.
#[derive(Clone, Debug)]
pub struct User {
    /// Numeric id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Login (e-mail address).
    pub login: String,
}

/// Every item of the account.
pub struct Store {
    nodes: HashMap<String, Node>,
    /// Trashed items by the id of what was deleted: it and everything below it.
    trash: HashMap<String, Vec<Node>>,
    next_id: u64,
    /// The user's event stream.
    pub log: Log,
    /// The account's user.
    pub user: User,
}

/// Lower-case hex SHA-1 of `bytes`.
pub fn sha1_hex(bytes: &[u8]) -> String {
    format!("{:x}", Sha1::digest(bytes))
}

/// Box's time format (seconds, with an offset).
pub fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, false)
}

/// Checks a name as Box does: at most 255 characters, no `/` or `\`, no non-printable
/// characters, no leading or trailing spaces, not `.` or `..`.
pub fn check_name(name: &str) -> Result<(), BoxError> {
    let invalid = || {
        BoxError::new(
            StatusCode::BAD_REQUEST,
            "item_name_invalid",
            "Item name invalid",
        )
    };
    if name.chars().count() > 255 {
        return Err(BoxError::new(
            StatusCode::BAD_REQUEST,
            "item_name_too_long",
            "Item name too long",
        ));
    }
    if name.is_empty()
        || name == "."
        || name == ".."
        || name.contains(['/', '\\'])
        || name.chars().any(char::is_control)
        || name.trim() != name
    {
        return Err(invalid());
    }
    Ok(())
}

impl Store {
    /// An account holding only its root folder.
    pub fn new(user: User) -> Self {
        let now = Utc::now();
        let root = Node {
            id: ROOT.into(),
            kind: Kind::Folder,
            name: "All Files".into(),
            parent: None,
            created_at: now,
            modified_at: now,
            etag: 0,
            content: Bytes::new(),
            sha1: String::new(),
            version: String::new(),
        };
        Self {
            nodes: HashMap::from([(ROOT.to_string(), root)]),
            trash: HashMap::new(),
            next_id: 1_000_000,
            log: Log::default(),
            user,
        }
    }

    fn fresh_id(&mut self) -> String {
        self.next_id += 7;
        self.next_id.to_string()
    }

    /// The item `id`.
    pub fn get(&self, id: &str) -> Option<&Node> {
        self.nodes.get(id)
    }

    /// The item `id` if it is of `kind`, else 404.
    pub fn item(&self, id: &str, kind: Kind) -> Result<&Node, BoxError> {
        self.nodes
            .get(id)
            .filter(|n| n.kind == kind)
            .ok_or_else(BoxError::not_found)
    }

    /// Every item but the root, in the order they were made (ids grow).
    pub fn items(&self) -> Vec<&Node> {
        let mut items: Vec<&Node> = self.nodes.values().filter(|n| n.id != ROOT).collect();
        items.sort_by_key(|n| n.id.parse::<u64>().unwrap_or(u64::MAX));
        items
    }

    /// The items of folder `id` in Box's order: folders before files, then by name.
    pub fn children(&self, id: &str) -> Vec<&Node> {
        let mut children: Vec<&Node> = self
            .nodes
            .values()
            .filter(|n| n.parent.as_deref() == Some(id))
            .collect();
        children.sort_by(|a, b| {
            (a.kind == Kind::File, a.name.to_lowercase(), &a.name).cmp(&(
                b.kind == Kind::File,
                b.name.to_lowercase(),
                &b.name,
            ))
        });
        children
    }

    /// The item of folder `parent` that holds `name` (names compare without case),
    /// other than `except`.
    pub fn holder(&self, parent: &str, name: &str, except: Option<&str>) -> Option<&Node> {
        let name = name.to_lowercase();
        self.nodes.values().find(|n| {
            n.parent.as_deref() == Some(parent)
                && n.name.to_lowercase() == name
                && Some(n.id.as_str()) != except
        })
    }

    /// 409 if `name` is taken in `parent` by another item than `except`; `single` says
    /// whether `conflicts` is one object (file uploads) or an array.
    pub fn check_free(
        &self,
        parent: &str,
        name: &str,
        except: Option<&str>,
        single: bool,
    ) -> Result<(), BoxError> {
        match self.holder(parent, name, except) {
            None => Ok(()),
            Some(holder) if single => Err(BoxError::name_in_use(self.mini(holder))),
            Some(holder) => Err(BoxError::name_in_use(json!([self.mini(holder)]))),
        }
    }

    /// True when `id` is `ancestor` or below it.
    pub fn is_within(&self, id: &str, ancestor: &str) -> bool {
        let mut at = Some(id.to_string());
        while let Some(current) = at {
            if current == ancestor {
                return true;
            }
            at = self.nodes.get(&current).and_then(|n| n.parent.clone());
        }
        false
    }

    /// Logs an event about item `id` as it is now.
    fn record(&mut self, event_type: &str, id: &str) {
        if let Some(node) = self.nodes.get(id) {
            let source = self.full(node);
            let by = self.user_json();
            self.log.record(event_type, source, by);
        }
    }

    /// Creates a folder.
    pub fn create_folder(&mut self, parent: &str, name: &str) -> String {
        let id = self.insert(parent, name, Kind::Folder, Bytes::new());
        self.record("ITEM_CREATE", &id);
        id
    }

    /// Creates a file with `content`.
    pub fn create_file(&mut self, parent: &str, name: &str, content: Bytes) -> String {
        let id = self.insert(parent, name, Kind::File, content);
        self.record("ITEM_UPLOAD", &id);
        id
    }

    fn insert(&mut self, parent: &str, name: &str, kind: Kind, content: Bytes) -> String {
        let id = self.fresh_id();
        let version = self.fresh_id();
        let now = Utc::now();
        let node = Node {
            id: id.clone(),
            kind,
            name: name.to_string(),
            parent: Some(parent.to_string()),
            created_at: now,
            modified_at: now,
            etag: 0,
            sha1: if kind == Kind::File {
                sha1_hex(&content)
            } else {
                String::new()
            },
            content,
            version,
        };
        self.nodes.insert(id.clone(), node);
        self.touch(parent);
        id
    }

    /// Replaces a file's contents with a new version (and optionally its name).
    pub fn new_version(&mut self, id: &str, content: Bytes, name: Option<&str>) {
        let version = self.fresh_id();
        if let Some(node) = self.nodes.get_mut(id) {
            node.sha1 = sha1_hex(&content);
            node.content = content;
            node.version = version;
            if let Some(name) = name {
                node.name = name.to_string();
            }
            node.etag += 1;
            node.modified_at = Utc::now();
        }
        self.record("ITEM_UPLOAD", id);
    }

    /// Renames and/or moves an item.
    pub fn update(&mut self, id: &str, name: Option<&str>, parent: Option<&str>) {
        let old_parent = self.nodes.get(id).and_then(|n| n.parent.clone());
        let old_name = self.nodes.get(id).map(|n| n.name.clone());
        if let Some(node) = self.nodes.get_mut(id) {
            if let Some(name) = name {
                node.name = name.to_string();
            }
            if let Some(parent) = parent {
                node.parent = Some(parent.to_string());
            }
            node.etag += 1;
            node.modified_at = Utc::now();
        }
        for folder in old_parent.iter().map(String::as_str).chain(parent) {
            self.touch(folder);
        }
        if parent.is_some_and(|p| Some(p) != old_parent.as_deref()) {
            self.record("ITEM_MOVE", id);
        } else if name.is_some_and(|n| Some(n) != old_name.as_deref()) {
            self.record("ITEM_RENAME", id);
        }
    }

    /// Moves an item and everything below it to the trash (out of every listing and
    /// lookup; [`Store::restore`] brings it back).
    pub fn remove(&mut self, id: &str) {
        let Some(node) = self.nodes.get(id) else {
            return;
        };
        let parent = node.parent.clone();
        let mut source = self.full(node);
        source["item_status"] = "trashed".into();
        source["trashed_at"] = time(Utc::now()).into();
        source["path_collection"] = json!({"total_count": 1, "entries": [
            {"type": "folder", "id": "1", "sequence_id": null, "etag": null, "name": "Trash"},
        ]});
        let below: Vec<String> = self
            .nodes
            .keys()
            .filter(|n| self.is_within(n, id))
            .cloned()
            .collect();
        let removed = below
            .into_iter()
            .filter_map(|n| self.nodes.remove(&n))
            .collect();
        self.trash.insert(id.to_string(), removed);
        if let Some(parent) = &parent {
            self.touch(parent);
        }
        let by = self.user_json();
        self.log.record("ITEM_TRASH", source, by);
    }

    /// The trashed item `id` of `kind` (deleted itself, not with a folder), if any.
    pub fn trashed(&self, id: &str, kind: Kind) -> Option<&Node> {
        self.trash
            .get(id)?
            .iter()
            .find(|n| n.id == id && n.kind == kind)
    }

    /// Brings a trashed item back (with everything trashed with it) into `parent` as
    /// `name`; the caller checked both.
    pub fn restore(&mut self, id: &str, parent: &str, name: &str) {
        for mut node in self.trash.remove(id).unwrap_or_default() {
            if node.id == id {
                node.parent = Some(parent.to_string());
                node.name = name.to_string();
            }
            self.nodes.insert(node.id.clone(), node);
        }
        self.touch(parent);
        self.record("ITEM_UNDELETE_VIA_TRASH", id);
    }

    /// Copies an item (a folder with everything below it) into `parent` as `name`.
    pub fn copy(&mut self, id: &str, parent: &str, name: &str) -> String {
        let copy = self.copy_tree(id, parent, name);
        self.record("ITEM_COPY", &copy);
        copy
    }

    fn copy_tree(&mut self, id: &str, parent: &str, name: &str) -> String {
        let node = self.nodes[id].clone();
        let copy = self.insert(parent, name, node.kind, node.content.clone());
        if node.kind == Kind::Folder {
            let children: Vec<(String, String)> = self
                .children(id)
                .into_iter()
                .map(|c| (c.id.clone(), c.name.clone()))
                .collect();
            for (child, child_name) in children {
                self.copy_tree(&child, &copy, &child_name);
            }
        }
        copy
    }

    fn touch(&mut self, folder: &str) {
        if let Some(node) = self.nodes.get_mut(folder) {
            node.modified_at = Utc::now();
            node.etag += 1;
        }
    }

    fn size(&self, node: &Node) -> u64 {
        match node.kind {
            Kind::File => node.content.len() as u64,
            Kind::Folder => self.children(&node.id).iter().map(|c| self.size(c)).sum(),
        }
    }

    fn user_json(&self) -> Value {
        json!({"type": "user", "id": self.user.id, "name": self.user.name, "login": self.user.login})
    }

    /// The user as `GET /users/me` shows them.
    pub fn me(&self) -> Value {
        let mut me = self.user_json();
        let now = time(self.nodes[ROOT].created_at);
        for (key, value) in [
            ("created_at", json!(now)),
            ("modified_at", json!(now)),
            ("language", json!("en")),
            ("timezone", json!("America/Los_Angeles")),
            ("space_amount", json!(10_737_418_240u64)),
            ("space_used", json!(self.size(&self.nodes[ROOT]))),
            ("max_upload_size", json!(5_368_709_120u64)),
            ("status", json!("active")),
            ("job_title", json!("")),
            ("phone", json!("")),
            ("address", json!("")),
            ("avatar_url", json!("")),
        ] {
            me[key] = value;
        }
        me
    }

    /// The mini representation (listings, parents, conflicts).
    pub fn mini(&self, node: &Node) -> Value {
        let root = node.id == ROOT;
        let mut mini = json!({
            "type": node.kind.as_str(),
            "id": node.id,
            "sequence_id": if root { Value::Null } else { node.etag.to_string().into() },
            "etag": if root { Value::Null } else { node.etag.to_string().into() },
            "name": node.name,
        });
        if node.kind == Kind::File {
            mini["sha1"] = node.sha1.clone().into();
            mini["file_version"] =
                json!({"type": "file_version", "id": node.version, "sha1": node.sha1});
        }
        mini
    }

    /// The standard representation (`GET /files/{id}`, `GET /folders/{id}`, uploads).
    pub fn full(&self, node: &Node) -> Value {
        let root = node.id == ROOT;
        let ancestors: Vec<Value> = self
            .ancestors(node)
            .into_iter()
            .map(|a| self.mini(a))
            .collect();
        let mut full = self.mini(node);
        let when = |t: DateTime<Utc>| if root { Value::Null } else { time(t).into() };
        let fields = [
            ("description", json!("")),
            ("size", json!(self.size(node))),
            (
                "path_collection",
                json!({"total_count": ancestors.len(), "entries": ancestors}),
            ),
            ("created_at", when(node.created_at)),
            ("modified_at", when(node.modified_at)),
            ("trashed_at", Value::Null),
            ("purged_at", Value::Null),
            ("content_created_at", when(node.created_at)),
            ("content_modified_at", when(node.modified_at)),
            ("created_by", self.user_json()),
            ("modified_by", self.user_json()),
            ("owned_by", self.user_json()),
            ("shared_link", Value::Null),
            (
                "parent",
                node.parent
                    .as_ref()
                    .and_then(|p| self.nodes.get(p))
                    .map_or(Value::Null, |p| self.mini(p)),
            ),
            ("item_status", json!("active")),
        ];
        for (key, value) in fields {
            full[key] = value;
        }
        if node.kind == Kind::Folder {
            full["folder_upload_email"] = Value::Null;
        }
        full
    }

    /// The folders above `node`, from the root down.
    fn ancestors(&self, node: &Node) -> Vec<&Node> {
        let mut chain = Vec::new();
        let mut at = node.parent.as_deref().and_then(|p| self.nodes.get(p));
        while let Some(folder) = at {
            chain.push(folder);
            at = folder.parent.as_deref().and_then(|p| self.nodes.get(p));
        }
        chain.reverse();
        chain
    }

    /// `node` as asked: only the `fields` listed (plus `type`, `id` and `etag`, which
    /// Box always sends), or `standard` when none are.
    pub fn render(&self, node: &Node, fields: Option<&str>, standard: Value) -> Value {
        let Some(fields) = fields.filter(|f| !f.is_empty()) else {
            return standard;
        };
        let full = self.full(node);
        let mut picked = json!({"type": full["type"], "id": full["id"], "etag": full["etag"]});
        for field in fields.split(',').map(str::trim) {
            if let Some(value) = full.get(field) {
                picked[field] = value.clone();
            }
        }
        picked
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> Store {
        Store::new(User {
            id: "1".into(),
            name: "U".into(),
            login: "u@example.com".into(),
        })
    }

    #[test]
    fn names_are_unique_without_regard_to_case() {
        let mut s = store();
        let docs = s.create_folder(ROOT, "Docs");
        assert!(s.check_free(ROOT, "docs", None, false).is_err());
        assert!(s.check_free(ROOT, "docs", Some(&docs), false).is_ok());
        assert!(s.check_free(&docs, "Docs", None, true).is_ok());
    }

    #[test]
    fn box_refuses_what_it_cannot_name() {
        for bad in ["", ".", "..", "a/b", "a\\b", " lead", "trail ", "tab\t"] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        assert!(check_name(&"n".repeat(256)).is_err());
        assert!(check_name("Docs & ü #?%").is_ok());
    }

    #[test]
    fn items_show_their_path_from_the_root() {
        let mut s = store();
        let a = s.create_folder(ROOT, "a");
        let f = s.create_file(&a, "f.txt", Bytes::from_static(b"hi"));
        let full = s.full(s.get(&f).unwrap());
        let names: Vec<&str> = full["path_collection"]["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["All Files", "a"]);
        assert_eq!(full["sha1"], sha1_hex(b"hi"));
        assert_eq!(full["size"], 2);
        let picked = s.render(s.get(&f).unwrap(), Some("name,size"), Value::Null);
        assert_eq!(
            picked.as_object().unwrap().len(),
            5,
            "type, id, etag and the two asked for: {picked}"
        );
    }

    #[test]
    fn folder_copies_and_removals_take_their_contents() {
        let mut s = store();
        let a = s.create_folder(ROOT, "a");
        s.create_file(&a, "f.txt", Bytes::from_static(b"x"));
        let b = s.copy(&a, ROOT, "b");
        assert_eq!(s.children(&b)[0].name, "f.txt");
        s.remove(&a);
        assert!(s.get(&a).is_none());
        assert_eq!(s.children(ROOT).len(), 1);
        assert!(s.is_within(&s.children(&b)[0].id, ROOT));
    }
}
