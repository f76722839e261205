//! Our paths as Dropbox paths (the account's root is `""`, everything else `/a/b`), and
//! Dropbox metadata as entries (the metadata itself kept as the raw data).

use chrono::{DateTime, Utc};
use cloudbridge_shared::{storage::ItemKind, ApiError, Entry, ItemPath};
use serde_json::Value;

/// The Dropbox path of an item.
pub fn dropbox_path(path: &ItemPath) -> String {
    if path.is_root() {
        String::new()
    } else {
        format!("/{}", path.as_str())
    }
}

/// The entry for Dropbox `metadata` of the item at `path`; `None` for deleted entries
/// and anything else that is neither a file nor a folder.
pub fn entry(path: ItemPath, metadata: Value) -> Option<Entry> {
    let kind = match metadata[".tag"].as_str()? {
        "file" => ItemKind::File,
        "folder" => ItemKind::Folder,
        _ => return None,
    };
    let file = kind == ItemKind::File;
    let modified = metadata["server_modified"]
        .as_str()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc));
    Some(Entry {
        size: file.then(|| metadata["size"].as_u64().unwrap_or(0)),
        mime_type: file.then(|| {
            mime_guess::from_path(path.name())
                .first_or_octet_stream()
                .essence_str()
                .to_string()
        }),
        created: None,
        modified,
        kind,
        path,
        id: metadata["id"].as_str().map(str::to_string),
        parent_id: None,
        raw: Some(metadata),
    })
}

/// The entry of an item listed in `folder`, named as Dropbox names it; `None` when the
/// name is not one this API can address.
pub fn child(folder: &ItemPath, metadata: Value) -> Option<Entry> {
    let path = folder.join(metadata["name"].as_str()?).ok()?;
    entry(path, metadata)
}

/// The entry of an item found below a folder by a recursive listing, at its displayed
/// path (Dropbox paths are case-insensitive, so any casing addresses it).
pub fn listed(metadata: Value) -> Option<Entry> {
    let display = metadata["path_display"].as_str()?.trim_start_matches('/');
    let path = ItemPath::parse(display).ok()?;
    entry(path, metadata)
}

/// The entry of an item at `path` from its metadata, its last segment in the case
/// Dropbox keeps.
pub fn at(path: &ItemPath, metadata: Value) -> Result<Entry, ApiError> {
    let parent = path.parent().unwrap_or_default();
    child(&parent, metadata).ok_or_else(|| {
        ApiError::new(
            502,
            "bad_gateway",
            "Dropbox described the item in an unexpected way.",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_and_entries() {
        assert_eq!(dropbox_path(&ItemPath::root()), "");
        assert_eq!(
            dropbox_path(&ItemPath::parse("Docs/ü.txt").unwrap()),
            "/Docs/ü.txt"
        );
        let meta = json!({
            ".tag": "file", "name": "A.txt", "path_display": "/Docs/A.txt", "id": "id:1",
            "size": 12, "server_modified": "2015-05-12T15:50:38Z", "rev": "a1c10ce0dd78",
        });
        let e = at(&ItemPath::parse("docs/a.txt").unwrap(), meta.clone()).unwrap();
        assert_eq!(e.path.as_str(), "docs/A.txt");
        assert_eq!((e.kind, e.size), (ItemKind::File, Some(12)));
        assert_eq!(e.mime_type.as_deref(), Some("text/plain"));
        assert_eq!(
            e.modified.unwrap().to_rfc3339(),
            "2015-05-12T15:50:38+00:00"
        );
        assert_eq!(e.raw.unwrap()["id"], "id:1");
        assert_eq!(listed(meta).unwrap().path.as_str(), "Docs/A.txt");
        let deleted = json!({".tag": "deleted", "name": "x", "path_display": "/x"});
        assert!(child(&ItemPath::root(), deleted).is_none());
    }
}
