//! One user's Dropbox in memory: items keyed by lower-cased path (Dropbox paths are
//! case-insensitive, the display case of each item is kept), a change log for
//! `list_folder/continue`, and upload sessions.

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::wire::{self, Lookup, Write};

/// Names Dropbox refuses to store (`disallowed_name`), lower-cased.
const DISALLOWED: &[&str] = &[
    "desktop.ini",
    "thumbs.db",
    ".ds_store",
    "icon\r",
    ".dropbox",
    ".dropbox.attr",
];

/// A file or folder.
#[derive(Clone, Debug)]
pub struct Item {
    /// `path_display`.
    pub display: String,
    /// `id:…`, stable across moves and overwrites.
    pub id: String,
    /// Folder, or a file and its contents.
    pub node: Node,
}

/// What an item is.
#[derive(Clone, Debug)]
pub enum Node {
    /// A folder.
    Folder,
    /// A file.
    File(FileData),
}

/// A file's current revision.
#[derive(Clone, Debug)]
pub struct FileData {
    /// The bytes.
    pub content: Bytes,
    /// `rev`.
    pub rev: String,
    /// `client_modified`.
    pub client_modified: DateTime<Utc>,
    /// `server_modified`.
    pub server_modified: DateTime<Utc>,
}

/// One touched path, for change feeds.
#[derive(Clone, Debug)]
pub struct Change {
    /// Position in the log.
    pub seq: u64,
    /// Lower-cased path.
    pub lower: String,
    /// Display path at the time.
    pub display: String,
}

/// An upload session.
#[derive(Debug, Default)]
pub struct Session {
    /// Bytes received so far.
    pub data: Vec<u8>,
    /// No more appends.
    pub closed: bool,
}

/// `WriteMode`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `add`
    Add,
    /// `overwrite`
    Overwrite,
    /// `update` with the expected rev.
    Update(String),
}

impl Mode {
    /// Parses `"add"`, `{".tag": "add"}`, `{".tag": "update", "update": rev}`.
    pub fn parse(v: Option<&Value>) -> Result<Mode, String> {
        let Some(v) = v else { return Ok(Mode::Add) };
        let tag = v
            .as_str()
            .or_else(|| v.get(".tag").and_then(Value::as_str))
            .ok_or("mode: expected a tagged union")?;
        match tag {
            "add" => Ok(Mode::Add),
            "overwrite" => Ok(Mode::Overwrite),
            "update" if v.is_object() => v
                .get("update")
                .and_then(Value::as_str)
                .map(|r| Mode::Update(r.to_string()))
                .ok_or_else(|| "mode: update needs a rev".to_string()),
            other => Err(format!("mode: unknown tag '{other}'")),
        }
    }
}

/// A parsed path argument.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// `""`: the root folder.
    Root,
    /// `/a/b`: display form and lower-cased key.
    Path {
        /// As given.
        display: String,
        /// Lower-cased.
        lower: String,
    },
}

/// Why a path argument is unusable.
#[derive(Debug)]
pub enum BadPath {
    /// Not a Dropbox path at all (400).
    Input(String),
    /// A path that breaks the path rules (409 `malformed_path`).
    Malformed,
}

/// Parses a path argument (`id:` paths are resolved by the caller).
pub fn parse_path(raw: &str) -> Result<Target, BadPath> {
    if raw.is_empty() {
        return Ok(Target::Root);
    }
    if raw == "/" {
        return Err(BadPath::Input(
            "Specify the root folder as an empty string rather than as \"/\".".into(),
        ));
    }
    if !raw.starts_with('/') {
        return Err(BadPath::Input(format!(
            "'{raw}' did not match pattern '(/(.|[\\r\\n])*)?|id:.*|(ns:[0-9]+(/(.|[\\r\\n])*)?)'"
        )));
    }
    let bad_segment = raw[1..]
        .split('/')
        .any(|s| s.is_empty() || s == "." || s == "..");
    if bad_segment {
        return Err(BadPath::Malformed);
    }
    Ok(Target::Path {
        display: raw.to_string(),
        lower: raw.to_lowercase(),
    })
}

fn parent_of(path: &str) -> &str {
    &path[..path.rfind('/').unwrap_or(0)]
}

fn name_of(path: &str) -> &str {
    &path[path.rfind('/').map_or(0, |i| i + 1)..]
}

/// Dropbox's content hash: SHA-256 over the SHA-256 of each 4 MiB block, in hex.
pub fn content_hash(data: &[u8]) -> String {
    let mut outer = Sha256::new();
    for block in data.chunks(4 << 20) {
        outer.update(Sha256::digest(block));
    }
    outer
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn new_id() -> String {
    format!("id:{}", &uuid::Uuid::new_v4().simple().to_string()[..22])
}

/// One user's files.
#[derive(Debug, Default)]
pub struct Tree {
    items: BTreeMap<String, Item>,
    log: Vec<Change>,
    seq: u64,
    revs: u64,
    /// Upload sessions by id.
    pub sessions: HashMap<String, Session>,
}

impl Tree {
    /// The item at a lower-cased path.
    pub fn get(&self, lower: &str) -> Option<&Item> {
        self.items.get(lower)
    }

    /// The lower-cased path of the item with this `id:`.
    pub fn find_id(&self, id: &str) -> Option<String> {
        self.items
            .iter()
            .find(|(_, item)| item.id == id)
            .map(|(k, _)| k.clone())
    }

    /// Bytes of every file.
    pub fn used(&self) -> u64 {
        self.items
            .values()
            .map(|item| match &item.node {
                Node::File(f) => f.content.len() as u64,
                Node::Folder => 0,
            })
            .sum()
    }

    /// The newest log position.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// `FileMetadata` / `FolderMetadata` of an item.
    pub fn metadata(item: &Item) -> Value {
        let mut m = json!({
            "name": name_of(&item.display),
            "path_lower": item.display.to_lowercase(),
            "path_display": item.display,
            "id": item.id,
        });
        match &item.node {
            Node::Folder => m[".tag"] = "folder".into(),
            Node::File(f) => {
                m[".tag"] = "file".into();
                m["client_modified"] = wire::timestamp(f.client_modified).into();
                m["server_modified"] = wire::timestamp(f.server_modified).into();
                m["rev"] = f.rev.clone().into();
                m["size"] = f.content.len().into();
                m["is_downloadable"] = true.into();
                m["content_hash"] = content_hash(&f.content).into();
            }
        }
        m
    }

    /// Items directly in (or, `recursive`, anywhere below) a folder, by path.
    pub fn children(&self, lower_dir: &str, recursive: bool) -> Vec<&Item> {
        let prefix = format!("{lower_dir}/");
        self.items
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .filter(|(k, _)| recursive || !k[prefix.len()..].contains('/'))
            .map(|(_, v)| v)
            .collect()
    }

    /// Log entries after `seq`.
    pub fn changes_after(&self, seq: u64) -> impl Iterator<Item = &Change> {
        self.log.iter().filter(move |c| c.seq > seq)
    }

    fn touch(&mut self, display: &str) {
        self.seq += 1;
        self.log.push(Change {
            seq: self.seq,
            lower: display.to_lowercase(),
            display: display.to_string(),
        });
    }

    fn next_rev(&mut self) -> String {
        self.revs += 1;
        format!("{:x}", 0x0015_0000_0000u64 + self.revs)
    }

    fn insert(&mut self, item: Item) {
        self.touch(&item.display.clone());
        self.items.insert(item.display.to_lowercase(), item);
    }

    /// Creates missing parent folders (a file on the way is `conflict/file_ancestor`);
    /// returns the path with its existing folders in their display case.
    fn ensure_parents(&mut self, display: &str) -> Result<String, Write> {
        let mut canonical = String::new();
        let segments: Vec<&str> = display[1..].split('/').collect();
        let (name, folders) = segments.split_last().expect("a path has a name");
        for segment in folders {
            let ancestor = format!("{canonical}/{segment}");
            match self.items.get(&ancestor.to_lowercase()) {
                Some(Item {
                    node: Node::File(_),
                    ..
                }) => return Err(Write::FileAncestor),
                Some(existing) => canonical = existing.display.clone(),
                None => {
                    self.insert(Item {
                        display: ancestor.clone(),
                        id: new_id(),
                        node: Node::Folder,
                    });
                    canonical = ancestor;
                }
            }
        }
        Ok(format!("{canonical}/{name}"))
    }

    fn check_name(display: &str) -> Result<(), Write> {
        if DISALLOWED.contains(&name_of(display).to_lowercase().as_str()) {
            return Err(Write::DisallowedName);
        }
        Ok(())
    }

    /// The first free `name (n).ext` next to `display`.
    fn free_name(&self, display: &str) -> String {
        let (dir, name) = (parent_of(display), name_of(display));
        let (stem, ext) = match name.rsplit_once('.') {
            Some((stem, ext)) if !stem.is_empty() => (stem, format!(".{ext}")),
            _ => (name, String::new()),
        };
        (1..)
            .map(|n| format!("{dir}/{stem} ({n}){ext}"))
            .find(|candidate| !self.items.contains_key(&candidate.to_lowercase()))
            .expect("a free name")
    }

    /// Writes a file (`files/upload`, `upload_session/finish`) following `WriteMode`.
    pub fn put_file(
        &mut self,
        display: &str,
        content: Bytes,
        mode: &Mode,
        autorename: bool,
        strict: bool,
        client_modified: Option<DateTime<Utc>>,
    ) -> Result<Value, Write> {
        Self::check_name(display)?;
        let lower = display.to_lowercase();
        let mut target = display.to_string();
        let mut keep_id = None;
        match self.items.get(&lower) {
            None => {}
            Some(Item {
                node: Node::Folder, ..
            }) => {
                if !autorename {
                    return Err(Write::ConflictFolder);
                }
                target = self.free_name(display);
            }
            Some(
                existing @ Item {
                    node: Node::File(f),
                    ..
                },
            ) => {
                let same = f.content == content;
                let conflict = match mode {
                    Mode::Add => !same || strict,
                    Mode::Overwrite => false,
                    Mode::Update(rev) => *rev != f.rev && (!same || strict),
                };
                if conflict {
                    if !autorename {
                        return Err(Write::ConflictFile);
                    }
                    target = self.free_name(display);
                } else if same && !strict {
                    // Identical contents: nothing is written.
                    return Ok(Self::metadata(existing));
                } else {
                    // Replaced in place: same id, the existing display case.
                    target = existing.display.clone();
                    keep_id = Some(existing.id.clone());
                }
            }
        }
        let target = self.ensure_parents(&target)?;
        let now = Utc::now();
        let item = Item {
            display: target.clone(),
            id: keep_id.unwrap_or_else(new_id),
            node: Node::File(FileData {
                content,
                rev: self.next_rev(),
                client_modified: client_modified.unwrap_or(now),
                server_modified: now,
            }),
        };
        let metadata = Self::metadata(&item);
        self.insert(item);
        Ok(metadata)
    }

    /// `files/create_folder_v2`.
    pub fn create_folder(&mut self, display: &str, autorename: bool) -> Result<Value, Write> {
        Self::check_name(display)?;
        let mut target = display.to_string();
        if let Some(existing) = self.items.get(&display.to_lowercase()) {
            if !autorename {
                return Err(match existing.node {
                    Node::Folder => Write::ConflictFolder,
                    Node::File(_) => Write::ConflictFile,
                });
            }
            target = self.free_name(display);
        }
        let target = self.ensure_parents(&target)?;
        let item = Item {
            display: target,
            id: new_id(),
            node: Node::Folder,
        };
        let metadata = Self::metadata(&item);
        self.insert(item);
        Ok(metadata)
    }

    /// `files/delete_v2`: the item and everything below it; its metadata before.
    pub fn delete(&mut self, lower: &str) -> Result<Value, Lookup> {
        let item = self.items.get(lower).ok_or(Lookup::NotFound)?;
        let metadata = Self::metadata(item);
        let below: Vec<String> = self
            .children(lower, true)
            .iter()
            .map(|i| i.display.clone())
            .collect();
        for display in below.iter().rev() {
            self.items.remove(&display.to_lowercase());
            self.touch(display);
        }
        let removed = self.items.remove(lower).expect("checked above");
        self.touch(&removed.display);
        Ok(metadata)
    }

    /// `files/move_v2` and `files/copy_v2`.
    pub fn relocate(
        &mut self,
        from: &str,
        to_display: &str,
        copy: bool,
        autorename: bool,
    ) -> Result<Value, Relocation> {
        let source = self
            .items
            .get(from)
            .cloned()
            .ok_or(Relocation::From(Lookup::NotFound))?;
        let to_lower = to_display.to_lowercase();
        if to_lower.starts_with(&format!("{from}/")) {
            return Err(match (copy, &source.node) {
                (false, Node::Folder) => Relocation::IntoItself,
                _ => Relocation::Nested,
            });
        }
        Self::check_name(to_display).map_err(Relocation::To)?;
        let mut target = to_display.to_string();
        if let Some(existing) = self.items.get(&to_lower) {
            if !autorename {
                return Err(Relocation::To(match existing.node {
                    Node::Folder => Write::ConflictFolder,
                    Node::File(_) => Write::ConflictFile,
                }));
            }
            target = self.free_name(to_display);
        }
        let target = self.ensure_parents(&target).map_err(Relocation::To)?;
        let below: Vec<Item> = self.children(from, true).into_iter().cloned().collect();
        let prefix = source.display.len();
        let moved = std::iter::once(source).chain(below);
        let mut placed = Vec::new();
        for item in moved {
            let rest = &item.display[prefix..];
            let mut new = item.clone();
            new.display = format!("{target}{rest}");
            if copy {
                new.id = new_id();
                if let Node::File(f) = &mut new.node {
                    f.rev = self.next_rev();
                    f.server_modified = Utc::now();
                }
            } else {
                self.items.remove(&item.display.to_lowercase());
                self.touch(&item.display);
            }
            placed.push(new);
        }
        let metadata = Self::metadata(&placed[0]);
        for item in placed {
            self.insert(item);
        }
        Ok(metadata)
    }
}

/// Why a move or copy failed.
#[derive(Debug)]
pub enum Relocation {
    /// `from_lookup/…`
    From(Lookup),
    /// `to/…`
    To(Write),
    /// `cant_move_folder_into_itself`
    IntoItself,
    /// `duplicated_or_nested_paths`
    Nested,
}

impl Relocation {
    /// The tagged `RelocationError`.
    pub fn value(&self) -> Value {
        match self {
            Relocation::From(l) => wire::nest("from_lookup", l.value()),
            Relocation::To(w) => wire::nest("to", w.value()),
            Relocation::IntoItself => wire::tag("cant_move_folder_into_itself"),
            Relocation::Nested => wire::tag("duplicated_or_nested_paths"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(tree: &mut Tree, path: &str, body: &'static [u8], mode: Mode) -> Result<Value, Write> {
        tree.put_file(path, Bytes::from_static(body), &mode, false, false, None)
    }

    #[test]
    fn paths_are_case_insensitive_and_keep_their_case() {
        let mut tree = Tree::default();
        let m = put(&mut tree, "/Docs/A.txt", b"1", Mode::Add).unwrap();
        assert_eq!(m["path_display"], "/Docs/A.txt");
        assert_eq!(m["path_lower"], "/docs/a.txt");
        assert!(tree.get("/docs").is_some(), "parents are created");
        assert_eq!(
            put(&mut tree, "/docs/a.TXT", b"2", Mode::Add),
            Err(Write::ConflictFile)
        );
        // Identical contents in add mode are no conflict, unless strict.
        assert!(put(&mut tree, "/docs/a.txt", b"1", Mode::Add).is_ok());
        let again = put(&mut tree, "/docs/a.txt", b"3", Mode::Overwrite).unwrap();
        assert_eq!(
            (again["id"].clone(), again["path_display"].clone()),
            (m["id"].clone(), m["path_display"].clone())
        );
        assert_ne!(again["rev"], m["rev"]);
        assert_eq!(
            put(&mut tree, "/Docs", b"x", Mode::Overwrite),
            Err(Write::ConflictFolder)
        );
        assert_eq!(
            put(&mut tree, "/docs/a.txt/x", b"x", Mode::Add),
            Err(Write::FileAncestor)
        );
        let renamed = tree
            .put_file(
                "/docs/a.txt",
                Bytes::from_static(b"4"),
                &Mode::Add,
                true,
                false,
                None,
            )
            .unwrap();
        assert_eq!(renamed["path_display"], "/Docs/a (1).txt");
    }

    #[test]
    fn moves_take_subtrees_and_keep_ids() {
        let mut tree = Tree::default();
        put(&mut tree, "/a/b/c.txt", b"c", Mode::Add).unwrap();
        let id = tree.get("/a/b/c.txt").unwrap().id.clone();
        tree.relocate("/a", "/z/A2", false, false).unwrap();
        assert!(tree.get("/a").is_none());
        assert_eq!(tree.get("/z/a2/b/c.txt").unwrap().id, id);
        assert!(matches!(
            tree.relocate("/z", "/z/a2/q", false, false),
            Err(Relocation::IntoItself)
        ));
        tree.relocate("/z/a2", "/copy", true, false).unwrap();
        assert_ne!(tree.get("/copy/b/c.txt").unwrap().id, id);
        assert!(matches!(
            tree.relocate("/copy", "/z/a2", true, false),
            Err(Relocation::To(Write::ConflictFolder))
        ));
    }

    #[test]
    fn content_hash_of_no_blocks_is_the_hash_of_nothing() {
        // The documented example hash is that of an empty file.
        assert_eq!(
            content_hash(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
