//! Box's JSON as the connector reads it: items (files and folders, kept whole for
//! `X-Kloudless-Raw-Data`) and error answers, mapped to Kloudless errors.

use chrono::{DateTime, Utc};
use cloudbridge_shared::{storage::ItemKind, ApiError, Entry, ItemPath};
use serde_json::Value;

use crate::oauth;

/// The item fields the connector asks Box for (listings and single items alike).
pub const FIELDS: &str = "type,id,name,size,sha1,etag,sequence_id,created_at,modified_at,\
content_created_at,content_modified_at,parent,path_collection,file_version,item_status";

/// One Box file or folder as Box described it.
#[derive(Clone, Debug)]
pub struct Item(pub Value);

impl Item {
    /// Box's id.
    pub fn id(&self) -> &str {
        self.0["id"].as_str().unwrap_or_default()
    }

    /// Its name in its folder.
    pub fn name(&self) -> &str {
        self.0["name"].as_str().unwrap_or_default()
    }

    /// File or folder (`None` for web links and anything else).
    pub fn kind(&self) -> Option<ItemKind> {
        match self.0["type"].as_str()? {
            "file" => Some(ItemKind::File),
            "folder" => Some(ItemKind::Folder),
            _ => None,
        }
    }

    /// Lower-case hex SHA-1 of a file's contents.
    pub fn sha1(&self) -> Option<&str> {
        self.0["sha1"].as_str()
    }

    /// Where Box says the item is: the names of `path_collection` below "All Files",
    /// then its own. `None` when Box did not say or a name cannot be a path segment.
    pub fn path(&self) -> Option<ItemPath> {
        if self.id() == super::ROOT {
            return Some(ItemPath::root());
        }
        let entries = self.0["path_collection"]["entries"].as_array()?;
        let mut path = ItemPath::root();
        for ancestor in entries.iter().skip(1) {
            path = path.join(ancestor["name"].as_str()?).ok()?;
        }
        path.join(self.name()).ok()
    }

    fn time(&self, field: &str) -> Option<DateTime<Utc>> {
        let text = self.0[field].as_str()?;
        DateTime::parse_from_rfc3339(text)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }

    /// The Kloudless entry of this item at `path`; `raw` is Box's JSON plus the
    /// Kloudless path.
    pub fn entry(&self, path: ItemPath) -> Entry {
        let kind = self.kind().unwrap_or(ItemKind::File);
        let file = kind == ItemKind::File;
        let mut raw = self.0.clone();
        raw["path"] = format!("/{}", path.as_str()).into();
        Entry {
            size: file.then(|| self.0["size"].as_u64().unwrap_or(0)),
            mime_type: file.then(|| {
                mime_guess::from_path(path.name())
                    .first_or_octet_stream()
                    .essence_str()
                    .to_string()
            }),
            created: self.time("created_at"),
            modified: self.time("modified_at"),
            id: Some(self.id().to_string()),
            parent_id: self.0["parent"]["id"].as_str().map(str::to_string),
            raw: Some(raw),
            kind,
            path,
        }
    }
}

/// A Box error answer (`{"type": "error", "status", "code", "message", "context_info"}`).
#[derive(Debug)]
pub struct Failure {
    /// HTTP status.
    pub status: u16,
    /// Box's error code.
    pub code: String,
    /// Box's message.
    pub message: String,
    context: Value,
    retry_after: Option<std::time::Duration>,
}

impl Failure {
    /// Reads an unsuccessful answer.
    pub async fn read(response: reqwest::Response) -> Self {
        let status = response.status().as_u16();
        let retry_after = oauth::retry_after(&response);
        let body: Value = response.json().await.unwrap_or(Value::Null);
        Self {
            status,
            code: body["code"].as_str().unwrap_or_default().to_string(),
            message: body["message"].as_str().unwrap_or_default().to_string(),
            context: body["context_info"].clone(),
            retry_after,
        }
    }

    /// True for 409 `item_name_in_use`.
    pub fn name_in_use(&self) -> bool {
        self.status == 409 && self.code == "item_name_in_use"
    }

    /// The item holding the name, from `context_info.conflicts` (an object after file
    /// uploads, an array elsewhere).
    pub fn holder(&self) -> Option<Item> {
        let conflicts = &self.context["conflicts"];
        let holder = match conflicts {
            Value::Array(all) => all.first()?,
            other => other,
        };
        holder.is_object().then(|| Item(holder.clone()))
    }
}

impl From<Failure> for ApiError {
    fn from(f: Failure) -> Self {
        let said = |what: &str| {
            if f.message.is_empty() {
                format!("{what} ({}).", f.status)
            } else {
                format!("{what} ({} {}: {}).", f.status, f.code, f.message)
            }
        };
        match (f.status, f.code.as_str()) {
            (404, _) => ApiError::not_found("No file or folder has this id."),
            (400, "folder_not_empty") => {
                ApiError::new(403, "folder_not_empty", "The folder is not empty.")
            }
            (400, "item_name_invalid" | "item_name_too_long") => {
                ApiError::invalid_parameters(said("Box does not accept this name"))
            }
            (401, _) => oauth::service_unauthorized(),
            (403, _) => ApiError::forbidden(said("Box refused the operation")),
            (409, _) => ApiError::new(409, "conflict", said("Box reported a conflict")),
            (413, _) => ApiError::new(413, "request_too_large", "The upload is too large."),
            (429 | 503, _) => {
                oauth::rate_limited(f.retry_after.unwrap_or(std::time::Duration::from_secs(1)))
            }
            (s, _) if s >= 500 => ApiError::new(502, "bad_gateway", said("Box failed")),
            _ => ApiError::new(502, "bad_gateway", said("Box refused the request")),
        }
    }
}

/// The JSON of a successful answer, or the answer's failure.
pub async fn json(response: reqwest::Response) -> Result<Value, Failure> {
    if !response.status().is_success() {
        return Err(Failure::read(response).await);
    }
    let status = response.status().as_u16();
    response.json().await.map_err(|e| Failure {
        status: 502,
        code: "unreadable".into(),
        message: format!("unreadable answer to a {status}: {}", e.without_url()),
        context: Value::Null,
        retry_after: None,
    })
}

/// The file of an upload answer (`{"total_count": 1, "entries": [file]}`).
pub fn uploaded(answer: Value) -> Result<Item, ApiError> {
    answer["entries"][0]
        .is_object()
        .then(|| Item(answer["entries"][0].clone()))
        .ok_or_else(|| ApiError::new(502, "bad_gateway", "Box's upload answer has no file."))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn file() -> Item {
        Item(json!({
            "type": "file", "id": "12", "name": "b ü.txt", "size": 7,
            "modified_at": "2012-12-12T10:53:43-08:00",
            "path_collection": {"total_count": 2, "entries": [
                {"type": "folder", "id": "0", "name": "All Files"},
                {"type": "folder", "id": "5", "name": "Docs"},
            ]},
        }))
    }

    #[test]
    fn paths_come_from_the_path_collection() {
        assert_eq!(file().path().unwrap().as_str(), "Docs/b ü.txt");
        let root = Item(json!({"type": "folder", "id": "0", "name": "All Files"}));
        assert!(root.path().unwrap().is_root());
        assert!(Item(json!({"type": "file", "id": "1", "name": "x"}))
            .path()
            .is_none());
    }

    #[test]
    fn entries_keep_boxs_json_and_the_path() {
        let entry = file().entry(file().path().unwrap());
        assert_eq!(entry.size, Some(7));
        assert_eq!(entry.mime_type.as_deref(), Some("text/plain"));
        assert_eq!(
            entry.modified.unwrap().to_rfc3339(),
            "2012-12-12T18:53:43+00:00"
        );
        let raw = entry.raw.unwrap();
        assert_eq!(
            (raw["id"].as_str(), raw["path"].as_str()),
            (Some("12"), Some("/Docs/b ü.txt"))
        );
    }

    #[test]
    fn conflicts_are_read_as_objects_or_arrays() {
        let failure = |conflicts: Value| Failure {
            status: 409,
            code: "item_name_in_use".into(),
            message: String::new(),
            context: json!({ "conflicts": conflicts }),
            retry_after: None,
        };
        let one = failure(json!({"type": "file", "id": "3", "name": "a"}));
        assert!(one.name_in_use());
        assert_eq!(one.holder().unwrap().id(), "3");
        let many = failure(json!([{"type": "folder", "id": "4", "name": "a"}]));
        assert_eq!(many.holder().unwrap().kind(), Some(ItemKind::Folder));
    }

    #[test]
    fn box_errors_map_to_kloudless_errors() {
        let failure = |status, code: &str| Failure {
            status,
            code: code.into(),
            message: "m".into(),
            context: Value::Null,
            retry_after: None,
        };
        let mapped = |status, code| ApiError::from(failure(status, code));
        assert_eq!(mapped(404, "not_found").status, 404);
        assert_eq!(mapped(400, "folder_not_empty").code, "folder_not_empty");
        assert_eq!(mapped(400, "item_name_invalid").code, "invalid_parameters");
        assert_eq!(mapped(401, "unauthorized").code, "service_unauthorized");
        assert_eq!(mapped(500, "internal_server_error").status, 502);
        assert_eq!(
            mapped(429, "rate_limit_exceeded").code,
            "too_many_service_requests"
        );
        assert_eq!(mapped(400, "bad_request").code, "bad_gateway");
    }
}
