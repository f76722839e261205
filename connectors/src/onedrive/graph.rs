//! Microsoft Graph as this connector speaks it: the drive's URLs, requests through the
//! account's [`Api`], Graph errors as Kloudless errors, and `driveItem`s as [`Entry`]s.

use chrono::{DateTime, Utc};
use cloudbridge_shared::{config::ProviderSettings, storage::ItemKind, ApiError, Entry, ItemPath};
use reqwest::{Method, Response};
use serde_json::Value;

use crate::oauth::{self, Api};

/// Page size asked of Graph for folder listings (its documented maximum for children).
const LIST_TOP: u32 = 200;

/// The signed-in user's drive on Microsoft Graph.
#[derive(Clone)]
pub struct Graph {
    /// The account's HTTP access.
    pub api: Api,
    /// Graph's API root (`…/v1.0`).
    root: String,
    /// Graph's root for file contents (`…/v1.0`; the same host on Graph itself).
    content_root: String,
    /// Whose drive: `me`, or `users/{id}` for an admin acting as a member.
    owner: String,
}

impl Graph {
    /// The drive of `api`'s account, at the service `settings` point to.
    pub fn new(api: Api, settings: &ProviderSettings) -> Self {
        let v1 = |base: &str| format!("{}/v1.0", base.trim_end_matches('/'));
        Self {
            api,
            root: v1(&settings.api_url),
            content_root: v1(&settings.content_url),
            owner: "me".into(),
        }
    }

    /// This drive, or (`Some`) the drive of the organisation's user `user`
    /// (`/users/{id}/drive`), which an admin's token reaches.
    pub fn acting_as(mut self, user: Option<&str>) -> Self {
        if let Some(user) = user {
            self.owner = format!("users/{}", segment(user));
        }
        self
    }

    /// `rest` (`/users…`) on Graph's API root.
    pub fn url(&self, rest: &str) -> String {
        format!("{}{rest}", self.root)
    }

    /// `/me/drive` (or the acted-as user's) and below.
    pub fn drive(&self, rest: &str) -> String {
        format!("{}/{}/drive{rest}", self.root, self.owner)
    }

    /// The item with upstream id `id` (`root` is Graph's alias of the drive's root).
    pub fn item(&self, id: &str, rest: &str) -> String {
        self.drive(&format!("/items/{}{rest}", segment(id)))
    }

    /// The child `name` of folder `parent`, addressed by path (`items/{id}:/{name}:`).
    pub fn child(&self, parent: &str, name: &str, rest: &str) -> String {
        self.drive(&format!(
            "/items/{}:/{}:{rest}",
            segment(parent),
            segment(name)
        ))
    }

    /// Contents of item `id`.
    pub fn content(&self, id: &str) -> String {
        format!(
            "{}/{}/drive/items/{}/content",
            self.content_root,
            self.owner,
            segment(id)
        )
    }

    /// Contents of the child `name` of folder `parent` (simple uploads).
    pub fn child_content(&self, parent: &str, name: &str) -> String {
        format!(
            "{}/{}/drive/items/{}:/{}:/content",
            self.content_root,
            self.owner,
            segment(parent),
            segment(name)
        )
    }

    /// True for URLs on the configured Graph hosts (links Graph hands out, followed with
    /// the account's token, must stay there).
    pub fn owns(&self, url: &str) -> bool {
        [&self.root, &self.content_root]
            .iter()
            .any(|root| url.starts_with(&format!("{root}/")))
    }

    /// Sends a request with an optional JSON body; a Graph error is mapped.
    pub async fn call(
        &self,
        method: Method,
        url: &str,
        body: Option<&Value>,
    ) -> Result<Response, ApiError> {
        let response = self
            .api
            .send(|client| {
                let request = client.request(method.clone(), url);
                match body {
                    Some(body) => request.json(body),
                    None => request,
                }
            })
            .await?;
        checked(response).await
    }

    /// `GET url` as JSON.
    pub async fn get(&self, url: &str) -> Result<Value, ApiError> {
        json(self.call(Method::GET, url, None).await?).await
    }

    /// The item at `url`, or `None` when Graph has no such item.
    pub async fn find(&self, url: &str) -> Result<Option<Value>, ApiError> {
        crate::ids::found(self.get(url).await)
    }

    /// Every child of folder `id`, following Graph's `@odata.nextLink` pages.
    pub async fn children(&self, id: &str) -> Result<Vec<Value>, ApiError> {
        let mut items = Vec::new();
        let mut link = None;
        loop {
            let (page, next) = self.children_page(id, link.as_deref(), LIST_TOP).await?;
            items.extend(page);
            match next {
                Some(next) => link = Some(next),
                None => return Ok(items),
            }
        }
    }

    /// One page of folder `id`'s children (at most `top`), the first or the one `link`
    /// (an `@odata.nextLink` Graph gave) names, and the next page's link.
    pub async fn children_page(
        &self,
        id: &str,
        link: Option<&str>,
        top: u32,
    ) -> Result<(Vec<Value>, Option<String>), ApiError> {
        let url = match link {
            Some(link) if self.owns(link) => link.to_string(),
            Some(_) => return Err(bad_gateway("Graph paged to another host.")),
            None => self.item(id, &format!("/children?$top={}", top.clamp(1, 999))),
        };
        let mut page = self.get(&url).await?;
        let items = match page.get_mut("value").map(Value::take) {
            Some(Value::Array(values)) => values,
            _ => Vec::new(),
        };
        let next = page
            .get("@odata.nextLink")
            .and_then(Value::as_str)
            .map(str::to_string);
        Ok((items, next))
    }

    /// True when folder `id` has at least one child.
    pub async fn has_children(&self, id: &str) -> Result<bool, ApiError> {
        let page = self.get(&self.item(id, "/children?$top=1")).await?;
        Ok(page["value"].as_array().is_some_and(|v| !v.is_empty()))
    }
}

/// `s` percent-encoded as one URL path segment.
pub fn segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The response itself when successful, else its Graph error as a Kloudless error.
pub async fn checked(response: Response) -> Result<Response, ApiError> {
    let status = response.status().as_u16();
    if response.status().is_success() {
        return Ok(response);
    }
    let body: Value = response.json().await.unwrap_or(Value::Null);
    Err(graph_error(status, &body))
}

/// A Graph error answer (`{"error": {"code", "message"}}`) as a Kloudless error.
pub fn graph_error(status: u16, body: &Value) -> ApiError {
    let code = body["error"]["code"].as_str().unwrap_or("");
    let message = body["error"]["message"].as_str().unwrap_or("");
    if status >= 500 || status == 401 {
        tracing::warn!(status, code, "Graph call failed");
    }
    match status {
        401 => oauth::service_unauthorized(),
        403 => ApiError::forbidden(format!("OneDrive refused the operation: {message}")),
        404 => ApiError::not_found("No such file or folder."),
        409 | 412 => ApiError::new(409, "naming_conflict", "An item with this name exists."),
        400 => ApiError::invalid_parameters(format!("OneDrive refused the request: {message}")),
        416 => ApiError::new(416, "range_not_satisfiable", "Invalid byte range."),
        507 => ApiError::new(507, "insufficient_storage", "The OneDrive is full."),
        429 => oauth::rate_limited(std::time::Duration::from_secs(1)),
        s if s >= 500 => bad_gateway(&format!("OneDrive answered {s} ({code}).")),
        s => bad_gateway(&format!("OneDrive refused the request ({s}, {code}).")),
    }
}

/// The 502 of an answer that makes no sense.
pub fn bad_gateway(message: &str) -> ApiError {
    ApiError::bad_gateway(message)
}

/// A response body as JSON.
pub async fn json(response: Response) -> Result<Value, ApiError> {
    response
        .json()
        .await
        .map_err(|e| bad_gateway(&format!("Unreadable answer from OneDrive: {e}")))
}

/// The upstream id of a `driveItem`.
pub fn id_of(item: &Value) -> Result<String, ApiError> {
    item["id"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| bad_gateway("A OneDrive item without an id."))
}

/// File or folder.
pub fn kind_of(item: &Value) -> ItemKind {
    if item.get("folder").is_some_and(|f| !f.is_null()) {
        ItemKind::Folder
    } else {
        ItemKind::File
    }
}

/// A `driveItem` found at `path`, with Graph's own JSON (and the path) as raw data.
pub fn entry(path: ItemPath, item: &Value) -> Entry {
    let kind = kind_of(item);
    let file = kind == ItemKind::File;
    let time = |key: &str| {
        item[key]
            .as_str()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc))
    };
    let mut raw = item.clone();
    if let Some(object) = raw.as_object_mut() {
        object.insert("path".into(), format!("/{}", path.as_str()).into());
    }
    Entry {
        size: file.then(|| item["size"].as_u64().unwrap_or(0)),
        mime_type: file.then(|| {
            item["file"]["mimeType"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| {
                    mime_guess::from_path(path.name())
                        .first_or_octet_stream()
                        .essence_str()
                        .to_string()
                })
        }),
        created: time("createdDateTime"),
        modified: time("lastModifiedDateTime"),
        id: item["id"].as_str().map(str::to_string),
        parent_id: item["parentReference"]["id"].as_str().map(str::to_string),
        raw: Some(raw),
        kind,
        path,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_encoded_whole() {
        assert_eq!(segment("Docs & ü #?%"), "Docs%20%26%20%C3%BC%20%23%3F%25");
        assert_eq!(segment("a:b/c"), "a%3Ab%2Fc");
    }

    #[test]
    fn graph_errors_map_to_kloudless_errors() {
        let body = serde_json::json!({"error": {"code": "nameAlreadyExists", "message": "x"}});
        assert_eq!(graph_error(409, &body).code, "naming_conflict");
        assert_eq!(graph_error(404, &Value::Null).code, "not_found");
        assert_eq!(graph_error(401, &Value::Null).code, "service_unauthorized");
        assert_eq!(graph_error(503, &Value::Null).status, 502);
        assert_eq!(graph_error(400, &body).code, "invalid_parameters");
    }

    #[test]
    fn items_become_entries_with_their_path_in_raw() {
        let item = serde_json::json!({
            "id": "01AB", "name": "a.txt", "size": 3,
            "file": {"mimeType": "text/plain"},
            "lastModifiedDateTime": "2024-05-01T10:00:00Z",
        });
        let e = entry(ItemPath::parse("d/a.txt").unwrap(), &item);
        assert_eq!((e.kind, e.size), (ItemKind::File, Some(3)));
        assert_eq!(e.mime_type.as_deref(), Some("text/plain"));
        let raw = e.raw.unwrap();
        assert_eq!(
            (raw["path"].as_str(), raw["id"].as_str()),
            (Some("/d/a.txt"), Some("01AB"))
        );
        assert!(e.modified.is_some());
    }
}
