//! Telling what happened to an item from what the last collection saw of it and what it
//! is now. Pure functions: the collector feeds them rows and entries.

use cloudbridge_shared::{
    db::feeds::Seen,
    storage::{EventType, ItemKind},
    Entry, ItemPath,
};

/// What changes when a file's contents do. Folders have none: a folder "changes" only by
/// being renamed, moved or deleted.
pub fn version(entry: &Entry) -> String {
    match entry.kind {
        ItemKind::Folder => "folder".into(),
        ItemKind::File => format!(
            "{}:{}",
            entry.size.unwrap_or(0),
            entry.modified.map_or(0, |t| t.timestamp_millis())
        ),
    }
}

/// The row recording `entry` as seen under `key`.
pub fn seen(key: String, entry: &Entry) -> Seen {
    Seen {
        key,
        path: entry.path.as_str().to_string(),
        parent: entry
            .path
            .parent()
            .map(|p| p.as_str().to_string())
            .unwrap_or_default(),
        folder: entry.kind == ItemKind::Folder,
        version: version(entry),
    }
}

/// The event for an item that is now `entry`, last seen as `before` (`None`: never seen),
/// with the service's own word on it (`hint`); `None` when nothing a client cares about
/// changed.
pub fn classify(
    before: Option<&Seen>,
    entry: &Entry,
    hint: Option<EventType>,
) -> Option<EventType> {
    let Some(before) = before else {
        return Some(match hint {
            Some(EventType::Copy) => EventType::Copy,
            Some(EventType::Restore) => EventType::Restore,
            _ => EventType::Add,
        });
    };
    let now = seen(String::new(), entry);
    if before.path != now.path {
        return Some(if before.parent == now.parent {
            EventType::Rename
        } else {
            EventType::Move
        });
    }
    (before.version != now.version).then_some(EventType::Update)
}

/// What a deleted item was, for its `delete` event.
pub fn gone(before: &Seen) -> Entry {
    Entry {
        path: ItemPath::parse(&before.path).unwrap_or_default(),
        kind: if before.folder {
            ItemKind::Folder
        } else {
            ItemKind::File
        },
        size: None,
        created: None,
        modified: None,
        mime_type: None,
        raw: None,
        // The key is the service's id where it has one, else the path itself.
        id: (before.key != before.path).then(|| before.key.clone()),
        parent_id: None,
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn file(path: &str, size: u64, modified: i64) -> Entry {
        Entry {
            id: None,
            parent_id: None,
            path: ItemPath::parse(path).unwrap(),
            kind: ItemKind::File,
            size: Some(size),
            created: None,
            modified: Some(chrono::Utc.timestamp_opt(modified, 0).unwrap()),
            mime_type: None,
            raw: None,
        }
    }

    #[test]
    fn each_kind_of_change_is_told_apart() {
        let before = seen("k".into(), &file("a/x.txt", 3, 100));
        let same = file("a/x.txt", 3, 100);
        assert_eq!(classify(Some(&before), &same, None), None);
        assert_eq!(
            classify(Some(&before), &file("a/x.txt", 4, 101), None),
            Some(EventType::Update)
        );
        assert_eq!(
            classify(Some(&before), &file("a/y.txt", 3, 100), None),
            Some(EventType::Rename)
        );
        assert_eq!(
            classify(Some(&before), &file("b/x.txt", 3, 100), None),
            Some(EventType::Move)
        );
        assert_eq!(classify(None, &same, None), Some(EventType::Add));
        assert_eq!(
            classify(None, &same, Some(EventType::Copy)),
            Some(EventType::Copy)
        );
        assert_eq!(
            classify(None, &same, Some(EventType::Restore)),
            Some(EventType::Restore)
        );
        // A hint does not make a known, unchanged item an event.
        assert_eq!(classify(Some(&before), &same, Some(EventType::Copy)), None);
    }

    #[test]
    fn folders_change_only_by_place() {
        let mut folder = file("a", 0, 1);
        folder.kind = ItemKind::Folder;
        let before = seen("f".into(), &folder);
        let mut touched = folder.clone();
        touched.modified = Some(chrono::Utc.timestamp_opt(99, 0).unwrap());
        assert_eq!(classify(Some(&before), &touched, None), None);
        assert_eq!(before.parent, "");
        let deleted = gone(&before);
        assert_eq!(deleted.kind, ItemKind::Folder);
        assert_eq!(deleted.path.as_str(), "a");
    }
}
