//! Box's user event stream (`GET /2.0/events`) as the account's change feed.
//!
//! A position is Box's `stream_position`. Only events that change items are kept (see
//! [`ITEM_EVENTS`]), each once per page (Box may deliver an event twice: same
//! `event_id`). An event's `source` is the item as Box saw it then; its path comes from
//! its `path_collection`, and an item that is trashed or not under "All Files" is
//! reported as gone. Where Box sent a source without `path_collection`, the item is
//! looked up by id.

use cloudbridge_shared::{
    storage::{EventType, ItemKind},
    ApiError,
};
use serde_json::Value;

use super::{
    paths::plural,
    wire::{self, Item, FIELDS},
    BoxStore, ROOT,
};
use crate::feed::{Change, FeedPage};

/// Events asked for per page (Box's maximum).
const EVENT_LIMIT: &str = "500";

/// The event types that change an item, and what they say beyond "changed".
const ITEM_EVENTS: &[(&str, Option<EventType>)] = &[
    ("ITEM_CREATE", None),
    ("ITEM_UPLOAD", None),
    ("ITEM_MODIFY", None),
    ("ITEM_RENAME", None),
    ("ITEM_MOVE", None),
    ("ITEM_MAKE_CURRENT_VERSION", None),
    ("ITEM_TRASH", None),
    ("ITEM_COPY", Some(EventType::Copy)),
    ("ITEM_UNDELETE_VIA_TRASH", Some(EventType::Restore)),
];

/// One event read.
#[derive(Debug, PartialEq)]
pub enum Read {
    /// The change, complete.
    Ready(Change),
    /// Box did not say where the item is: look it up by id.
    Lookup {
        /// Box's id.
        key: String,
        /// File or folder.
        kind: ItemKind,
        /// The event's hint.
        hint: Option<EventType>,
    },
}

/// The item changes of one page of events, in Box's order, each event once.
pub fn read_events(entries: &[Value]) -> Vec<Read> {
    let mut seen = std::collections::HashSet::new();
    let mut read = Vec::new();
    for event in entries {
        let hint = match ITEM_EVENTS
            .iter()
            .find(|(t, _)| event["event_type"].as_str() == Some(t))
        {
            Some((_, hint)) => *hint,
            None => continue,
        };
        if let Some(id) = event["event_id"].as_str() {
            if !seen.insert(id.to_string()) {
                continue;
            }
        }
        let item = Item(event["source"].clone());
        let Some(kind) = item.kind() else {
            continue;
        };
        if item.id().is_empty() || item.id() == ROOT {
            continue;
        }
        let key = item.id().to_string();
        let trashed = event["event_type"] == "ITEM_TRASH"
            || item.0["item_status"]
                .as_str()
                .is_some_and(|s| s != "active");
        let entry = if trashed {
            None
        } else if item.0.get("path_collection").is_none() {
            read.push(Read::Lookup { key, kind, hint });
            continue;
        } else if item.0["path_collection"]["entries"][0]["id"] != ROOT {
            // In the trash, or not under "All Files".
            None
        } else {
            item.path().map(|path| item.entry(path))
        };
        read.push(Read::Ready(Change { key, entry, hint }));
    }
    read
}

impl BoxStore {
    /// The stream position now.
    pub(super) async fn stream_now(&self) -> Result<String, ApiError> {
        let url = self.api_url("events");
        let response = self
            .api
            .send(|c| {
                c.get(&url)
                    .query(&[("stream_position", "now"), ("stream_type", "changes")])
            })
            .await?;
        let page = wire::json(response).await?;
        position(&page["next_stream_position"])
    }

    /// One page of events after `cursor`.
    pub(super) async fn events(&self, cursor: &str) -> Result<FeedPage, ApiError> {
        let url = self.api_url("events");
        let response = self
            .api
            .send(|c| {
                c.get(&url).query(&[
                    ("stream_position", cursor),
                    ("stream_type", "changes"),
                    ("limit", EVENT_LIMIT),
                ])
            })
            .await?;
        let page = match wire::json(response).await {
            Ok(page) => page,
            Err(f) if matches!(f.status, 400 | 410) => {
                tracing::info!(status = f.status, code = %f.code, "box stream position refused");
                return Ok(FeedPage::Expired);
            }
            Err(f) => return Err(f.into()),
        };
        let entries = page["entries"].as_array().cloned().unwrap_or_default();
        let mut changes = Vec::new();
        for read in read_events(&entries) {
            changes.push(match read {
                Read::Ready(change) => change,
                Read::Lookup { key, kind, hint } => Change {
                    entry: self.current(&key, kind).await?,
                    key,
                    hint,
                },
            });
        }
        Ok(FeedPage::Changes {
            changes,
            cursor: position(&page["next_stream_position"])?,
            // Box says nothing more: an empty page is the end.
            more: !entries.is_empty(),
        })
    }

    /// Item `id` as it is now, at its path; `None` when it is gone or out of view.
    async fn current(
        &self,
        id: &str,
        kind: ItemKind,
    ) -> Result<Option<cloudbridge_shared::Entry>, ApiError> {
        let url = self.api_url(&format!("{}/{id}", plural(kind)));
        let response = self
            .api
            .send(|c| c.get(&url).query(&[("fields", FIELDS)]))
            .await?;
        let item = match wire::json(response).await {
            Ok(item) => Item(item),
            Err(f) if f.status == 404 => return Ok(None),
            Err(f) => return Err(f.into()),
        };
        let event = serde_json::json!({"event_type": "ITEM_MODIFY", "source": item.0});
        match read_events(&[event]).pop() {
            Some(Read::Ready(change)) => Ok(change.entry),
            _ => Ok(None),
        }
    }
}

/// A stream position as Box writes it (a string, or a number in older answers).
fn position(value: &Value) -> Result<String, ApiError> {
    match value {
        Value::String(s) if !s.is_empty() => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        _ => Err(ApiError::new(
            502,
            "bad_gateway",
            "Box gave no stream position.",
        )),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn event(id: &str, event_type: &str, source: Value) -> Value {
        json!({"type": "event", "event_id": id, "event_type": event_type, "source": source})
    }

    fn file(id: &str, under: &[(&str, &str)], status: &str) -> Value {
        let entries: Vec<Value> = under
            .iter()
            .map(|(id, name)| json!({"type": "folder", "id": id, "name": name}))
            .collect();
        json!({"type": "file", "id": id, "name": "a.txt", "item_status": status,
               "path_collection": {"total_count": entries.len(), "entries": entries}})
    }

    #[test]
    fn item_events_become_changes_once_each() {
        let all = [("0", "All Files"), ("7", "Docs")];
        let page = [
            event("e1", "ITEM_UPLOAD", file("11", &all, "active")),
            event("e1", "ITEM_UPLOAD", file("11", &all, "active")),
            event("e2", "ITEM_DOWNLOAD", file("11", &all, "active")),
            event(
                "e3",
                "COLLAB_ADD_COLLABORATOR",
                json!({"type": "collaboration", "id": "5"}),
            ),
            event("e4", "ITEM_COPY", file("12", &all, "active")),
            event("e5", "ITEM_TRASH", file("11", &[("1", "Trash")], "trashed")),
            event("e6", "ITEM_UNDELETE_VIA_TRASH", file("11", &all, "active")),
            event("e7", "ITEM_MOVE", file("13", &[("1", "Trash")], "active")),
            event(
                "e8",
                "ITEM_CREATE",
                json!({"type": "folder", "id": "0", "name": "All Files"}),
            ),
            event(
                "e9",
                "ITEM_RENAME",
                json!({"type": "file", "id": "14", "name": "b"}),
            ),
        ];
        let read = read_events(&page);
        let ready = |i: usize| match &read[i] {
            Read::Ready(change) => change,
            other => panic!("{other:?}"),
        };
        assert_eq!(read.len(), 6, "{read:?}");
        assert_eq!(ready(0).key, "11");
        assert_eq!(ready(0).entry.as_ref().unwrap().path.as_str(), "Docs/a.txt");
        assert_eq!(ready(0).hint, None);
        assert_eq!(
            (ready(1).key.as_str(), ready(1).hint),
            ("12", Some(EventType::Copy))
        );
        assert_eq!((ready(2).key.as_str(), &ready(2).entry), ("11", &None));
        assert_eq!(ready(3).hint, Some(EventType::Restore));
        assert_eq!((ready(4).key.as_str(), &ready(4).entry), ("13", &None));
        assert_eq!(
            read[5],
            Read::Lookup {
                key: "14".into(),
                kind: ItemKind::File,
                hint: None
            }
        );
    }

    #[test]
    fn positions_are_strings_or_numbers() {
        assert_eq!(position(&json!("115")).unwrap(), "115");
        assert_eq!(
            position(&json!(1152922976252290886u64)).unwrap(),
            "1152922976252290886"
        );
        assert!(position(&json!(null)).is_err());
    }
}
