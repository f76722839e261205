//! Drive API v3 over [`Api`]: file resources, queries, and how Drive's answers become
//! Kloudless errors (throttling 403s waited out like 429s).

use chrono::{DateTime, Utc};
use cloudbridge_shared::{config::ProviderSettings, ApiError};
use serde_json::{json, Value};

use crate::oauth::{self, Api};

/// MIME type of Drive folders.
pub const FOLDER_MIME: &str = "application/vnd.google-apps.folder";
/// Fields of a file resource the connector reads (and shows as raw data).
pub const FIELDS: &str =
    "id,name,mimeType,size,createdTime,modifiedTime,parents,trashed,md5Checksum";
/// Fields of a page of a file listing.
const LIST_FIELDS: &str =
    "nextPageToken,files(id,name,mimeType,size,createdTime,modifiedTime,parents,trashed,md5Checksum)";
/// Largest page Drive serves.
const PAGE_SIZE: &str = "1000";

/// A Drive file resource, with the JSON it came from.
#[derive(Clone, Debug)]
pub struct DriveFile {
    /// Drive's id (`root` for the root folder).
    pub id: String,
    /// Its name (not unique within a folder on Drive).
    pub name: String,
    /// Its MIME type; folders and Google Docs are `application/vnd.google-apps.*`.
    pub mime_type: String,
    /// Size in bytes; Drive has none for folders and Google Docs.
    pub size: Option<u64>,
    /// Creation time.
    pub created: Option<DateTime<Utc>>,
    /// Last modification time.
    pub modified: Option<DateTime<Utc>>,
    /// The resource as Drive sent it.
    pub json: Value,
}

impl DriveFile {
    /// Reads a file resource.
    pub fn from_json(json: Value) -> Result<Self, ApiError> {
        let text = |key: &str| json[key].as_str().map(str::to_string);
        let time = |key: &str| {
            json[key]
                .as_str()
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.with_timezone(&Utc))
        };
        let bad = || ApiError::new(502, "bad_gateway", "Google Drive sent a file without id.");
        Ok(Self {
            id: text("id").ok_or_else(bad)?,
            name: text("name").unwrap_or_default(),
            mime_type: text("mimeType").unwrap_or_else(|| "application/octet-stream".into()),
            // int64 values are strings in Drive's JSON.
            size: json["size"]
                .as_str()
                .and_then(|s| s.parse().ok())
                .or_else(|| json["size"].as_u64()),
            created: time("createdTime"),
            modified: time("modifiedTime"),
            json,
        })
    }

    /// The root folder (`root` is Drive's alias of the user's My Drive).
    pub fn root() -> Self {
        Self {
            id: "root".into(),
            name: String::new(),
            mime_type: FOLDER_MIME.into(),
            size: None,
            created: None,
            modified: None,
            json: json!({"id": "root", "mimeType": FOLDER_MIME}),
        }
    }

    /// True for folders.
    pub fn is_folder(&self) -> bool {
        self.mime_type == FOLDER_MIME
    }

    /// True for Google Docs, Sheets, Slides, shortcuts…: items without binary contents.
    pub fn is_native(&self) -> bool {
        !self.is_folder() && self.mime_type.starts_with("application/vnd.google-apps.")
    }
}

/// One Drive account: its [`Api`] and where Drive is.
#[derive(Clone)]
pub struct Drive {
    api: Api,
    /// `…/drive/v3`.
    base: String,
    /// `content_url` (uploads at `…/upload/drive/v3/files`, downloads with `alt=media`).
    content: String,
    /// `api_url`, where Google's other APIs are too (the Directory API's
    /// `…/admin/directory/v1`).
    root: String,
}

impl Drive {
    /// The Drive of the account `api` calls as, at the hosts `provider` names.
    pub fn new(api: Api, provider: &ProviderSettings) -> Self {
        Self {
            api,
            base: format!("{}/drive/v3", provider.api_url.trim_end_matches('/')),
            content: provider.content_url.trim_end_matches('/').to_string(),
            root: provider.api_url.trim_end_matches('/').to_string(),
        }
    }

    /// `…/admin/directory/v1/{tail}`: the Directory API of the user's Google Workspace.
    pub fn directory_url(&self, tail: &str) -> String {
        format!("{}/admin/directory/v1/{tail}", self.root)
    }

    /// `…/drive/v3/files` (plus `/{tail}`).
    pub fn files_url(&self, tail: &str) -> String {
        match tail {
            "" => format!("{}/files", self.base),
            tail => format!("{}/files/{tail}", self.base),
        }
    }

    /// The upload endpoint for a new file (`file = None`) or an existing one.
    pub fn upload_url(&self, file: Option<&str>) -> String {
        match file {
            None => format!("{}/upload/drive/v3/files", self.content),
            Some(id) => format!("{}/upload/drive/v3/files/{id}", self.content),
        }
    }

    /// The contents of file `id`.
    pub fn media_url(&self, id: &str) -> String {
        format!("{}/drive/v3/files/{id}", self.content)
    }

    /// Sends a request through [`Api::send`], also waiting out Drive's throttling 403s
    /// (`rateLimitExceeded`, `userRateLimitExceeded`) within the same bounds as 429s.
    /// Answers below 400 (including 206 and the 308 of resumable uploads) are returned;
    /// the others become Kloudless errors.
    pub async fn call<F>(&self, build: F) -> Result<reqwest::Response, ApiError>
    where
        F: Fn(&reqwest::Client) -> reqwest::RequestBuilder + Send + Sync,
    {
        self.answer(build)
            .await?
            .map_err(|(status, body)| error_of(status, &body))
    }

    /// Like [`Drive::call`], but an error answer comes back as its status and body.
    async fn answer<F>(&self, build: F) -> Result<Result<reqwest::Response, (u16, Value)>, ApiError>
    where
        F: Fn(&reqwest::Client) -> reqwest::RequestBuilder + Send + Sync,
    {
        let mut attempt = 0;
        loop {
            let response = self.api.send(&build).await?;
            let status = response.status().as_u16();
            if status < 400 {
                return Ok(Ok(response));
            }
            let body = response.bytes().await.unwrap_or_default();
            let body: Value = serde_json::from_slice(&body).unwrap_or_default();
            if !(status == 403 && throttled(&body)) {
                return Ok(Err((status, body)));
            }
            attempt += 1;
            let wait = oauth::backoff(attempt);
            if attempt >= oauth::ATTEMPTS {
                return Err(oauth::rate_limited(wait));
            }
            tokio::time::sleep(wait).await;
        }
    }

    /// A metadata call answered with JSON.
    pub async fn json<F>(&self, build: F) -> Result<Value, ApiError>
    where
        F: Fn(&reqwest::Client) -> reqwest::RequestBuilder + Send + Sync,
    {
        let response = self.call(build).await?;
        response.json().await.map_err(|e| {
            ApiError::new(
                502,
                "bad_gateway",
                format!("Google Drive's answer was not read: {}", e.without_url()),
            )
        })
    }

    /// A call answered with a file resource.
    pub async fn file<F>(&self, build: F) -> Result<DriveFile, ApiError>
    where
        F: Fn(&reqwest::Client) -> reqwest::RequestBuilder + Send + Sync,
    {
        DriveFile::from_json(self.json(build).await?)
    }

    /// File `id`.
    pub async fn get(&self, id: &str) -> Result<DriveFile, ApiError> {
        let url = self.files_url(id);
        self.file(|c| c.get(&url).query(&[("fields", FIELDS)]))
            .await
    }

    /// The items in folder `parent` (all of them, or those named `name`), not trashed,
    /// every page of the listing read.
    pub async fn children(
        &self,
        parent: &str,
        name: Option<&str>,
    ) -> Result<Vec<DriveFile>, ApiError> {
        let q = match name {
            Some(name) => format!(
                "'{}' in parents and name = '{}' and trashed = false",
                escape(parent),
                escape(name)
            ),
            None => format!("'{}' in parents and trashed = false", escape(parent)),
        };
        let mut files = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let (page, next) = self.list(&q, token.as_deref(), PAGE_SIZE, None).await?;
            files.extend(page);
            match next {
                Some(next) => token = Some(next),
                None => return Ok(files),
            }
        }
    }

    /// One page of the files matching `q` (at most `page_size`, in `order`), from the
    /// page `token` names, and the next page's token.
    pub async fn list(
        &self,
        q: &str,
        token: Option<&str>,
        page_size: &str,
        order: Option<&str>,
    ) -> Result<(Vec<DriveFile>, Option<String>), ApiError> {
        let url = self.files_url("");
        let page = self
            .json(|c| {
                let mut query = vec![("q", q), ("fields", LIST_FIELDS), ("pageSize", page_size)];
                if let Some(token) = token {
                    query.push(("pageToken", token));
                }
                if let Some(order) = order {
                    query.push(("orderBy", order));
                }
                c.get(&url).query(&query)
            })
            .await?;
        let files = page["files"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|file| DriveFile::from_json(file.clone()))
            .collect::<Result<Vec<_>, ApiError>>()?;
        let next = page["nextPageToken"]
            .as_str()
            .filter(|next| !next.is_empty())
            .map(str::to_string);
        Ok((files, next))
    }

    /// One page of folder `parent`'s children, folders first then by name.
    pub async fn children_page(
        &self,
        parent: &str,
        token: Option<&str>,
        page_size: u32,
    ) -> Result<(Vec<DriveFile>, Option<String>), ApiError> {
        let q = format!("'{}' in parents and trashed = false", escape(parent));
        let size = page_size.clamp(1, 1000).to_string();
        self.list(&q, token, &size, Some("folder,name")).await
    }

    /// True when folder `parent` holds anything (not trashed).
    pub async fn has_children(&self, parent: &str) -> Result<bool, ApiError> {
        let q = format!("'{}' in parents and trashed = false", escape(parent));
        let url = self.files_url("");
        let page = self
            .json(|c| {
                c.get(&url).query(&[
                    ("q", q.as_str()),
                    ("fields", "files(id)"),
                    ("pageSize", "1"),
                ])
            })
            .await?;
        Ok(page["files"].as_array().is_some_and(|f| !f.is_empty()))
    }

    /// Creates folder `name` in `parent`.
    pub async fn create_folder(&self, parent: &str, name: &str) -> Result<DriveFile, ApiError> {
        let url = self.files_url("");
        let body = json!({"name": name, "mimeType": FOLDER_MIME, "parents": [parent]});
        self.file(|c| c.post(&url).query(&[("fields", FIELDS)]).json(&body))
            .await
    }

    /// Renames file `id` and/or moves it from folder `from` to folder `to`.
    pub async fn update(
        &self,
        id: &str,
        name: Option<&str>,
        moved: Option<(&str, &str)>,
    ) -> Result<DriveFile, ApiError> {
        let url = self.files_url(id);
        let body = match name {
            Some(name) => json!({ "name": name }),
            None => json!({}),
        };
        let mut query = vec![("fields", FIELDS)];
        if let Some((from, to)) = moved {
            query.push(("removeParents", from));
            query.push(("addParents", to));
        }
        self.file(|c| c.patch(&url).query(&query).json(&body)).await
    }

    /// Copies file `id` into folder `parent` as `name` (Drive copies files, not folders).
    pub async fn copy(&self, id: &str, parent: &str, name: &str) -> Result<DriveFile, ApiError> {
        let url = self.files_url(&format!("{id}/copy"));
        let body = json!({"name": name, "parents": [parent]});
        self.file(|c| c.post(&url).query(&[("fields", FIELDS)]).json(&body))
            .await
    }

    /// Moves file or folder `id` (and so everything in it) to the trash.
    pub async fn trash(&self, id: &str) -> Result<(), ApiError> {
        let url = self.files_url(id);
        let body = json!({"trashed": true});
        self.json(|c| c.patch(&url).query(&[("fields", "id")]).json(&body))
            .await
            .map(drop)
    }

    /// Deletes file `id` for good (skipping the trash).
    pub async fn delete(&self, id: &str) -> Result<(), ApiError> {
        let url = self.files_url(id);
        self.call(|c| c.delete(&url)).await.map(drop)
    }

    /// The change feed's start page token now.
    pub async fn start_page_token(&self) -> Result<String, ApiError> {
        let url = format!("{}/changes/startPageToken", self.base);
        let answer = self.json(|c| c.get(&url)).await?;
        answer["startPageToken"]
            .as_str()
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .ok_or_else(|| ApiError::new(502, "bad_gateway", "Google Drive gave no page token."))
    }

    /// One page of changes from `token`; `None` when Drive does not take the token any
    /// more (400 on `pageToken`, or 404).
    pub async fn changes(&self, token: &str) -> Result<Option<Value>, ApiError> {
        let url = format!("{}/changes", self.base);
        let fields = format!(
            "nextPageToken,newStartPageToken,changes(changeType,fileId,removed,time,file({FIELDS}))"
        );
        let query = [
            ("pageToken", token),
            ("pageSize", PAGE_SIZE),
            ("includeRemoved", "true"),
            ("spaces", "drive"),
            ("fields", fields.as_str()),
        ];
        let answer = self.answer(|c| c.get(&url).query(&query)).await?;
        match answer {
            Ok(response) => response.json().await.map(Some).map_err(|e| {
                ApiError::new(
                    502,
                    "bad_gateway",
                    format!("Google Drive's answer was not read: {}", e.without_url()),
                )
            }),
            // The other parameters are fixed: a 400 is about the token.
            Err((400 | 404, body)) => {
                tracing::info!(reason = %body["error"]["errors"][0]["reason"], "drive page token refused");
                Ok(None)
            }
            Err((status, body)) => Err(error_of(status, &body)),
        }
    }

    /// The signed-in user (`about.user`: `displayName`, `emailAddress`, `permissionId`).
    pub async fn user(&self) -> Result<Value, ApiError> {
        Ok(self.about("user").await?["user"].clone())
    }

    /// The `about` resource with `fields` (`user`, `storageQuota`…).
    pub async fn about(&self, fields: &str) -> Result<Value, ApiError> {
        let url = format!("{}/about", self.base);
        self.json(|c| c.get(&url).query(&[("fields", fields)]))
            .await
    }

    /// How this account calls Drive (its tokens, its time limit).
    pub fn api(&self) -> &Api {
        &self.api
    }

    /// True for URLs on the hosts Drive is configured at (links there may be followed
    /// with the account's token).
    pub fn owns(&self, url: &url::Url) -> bool {
        [&self.base, &self.content]
            .iter()
            .any(|root| url::Url::parse(root).is_ok_and(|root| root.origin() == url.origin()))
    }
}

/// `text` inside a single-quoted string of a Drive query.
pub fn escape(text: &str) -> String {
    text.replace('\\', "\\\\").replace('\'', "\\'")
}

/// True when a Drive error body says the account or app is being throttled.
fn throttled(body: &Value) -> bool {
    body["error"]["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|e| {
            matches!(
                e["reason"].as_str(),
                Some("rateLimitExceeded" | "userRateLimitExceeded")
            )
        })
}

/// The Kloudless error for a Drive error answer.
fn error_of(status: u16, body: &Value) -> ApiError {
    let message = body["error"]["message"].as_str().unwrap_or("no details");
    let reason = body["error"]["errors"][0]["reason"].as_str().unwrap_or("");
    tracing::warn!(status, reason, "Google Drive refused a call");
    match status {
        404 => ApiError::not_found("No such file or folder."),
        401 => oauth::service_unauthorized(),
        403 => ApiError::forbidden(format!("Google Drive refused: {message}")),
        s if s >= 500 => ApiError::new(
            502,
            "bad_gateway",
            format!("Google Drive failed ({s}): {message}"),
        ),
        s => ApiError::new(
            502,
            "bad_gateway",
            format!("Google Drive refused the request ({s} {reason}): {message}"),
        ),
    }
}

/// The account `api` signs in as: a stable name for it (the e-mail address, or Drive's
/// `permissionId` where Drive shows none) and the user's display name. Called by the OAuth
/// connect flow with a fresh token.
pub async fn identity(
    api: &Api,
    provider: &ProviderSettings,
) -> Result<(String, String), ApiError> {
    let user = Drive::new(api.clone(), provider).user().await?;
    let text = |key: &str| user[key].as_str().filter(|s| !s.is_empty());
    let account = text("emailAddress")
        .or_else(|| text("permissionId"))
        .ok_or_else(|| ApiError::new(502, "bad_gateway", "Google Drive named no user."))?;
    let name = text("displayName").unwrap_or(account);
    Ok((account.to_string(), name.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_and_backslashes_are_escaped_in_queries() {
        assert_eq!(escape(r"it's a\b"), r"it\'s a\\b");
        assert_eq!(escape("plain"), "plain");
    }

    #[test]
    fn throttling_403s_are_told_from_permission_ones() {
        let body = |reason: &str| {
            json!({"error": {"code": 403, "message": "m",
            "errors": [{"domain": "usageLimits", "reason": reason}]}})
        };
        assert!(throttled(&body("rateLimitExceeded")));
        assert!(throttled(&body("userRateLimitExceeded")));
        assert!(!throttled(&body("insufficientFilePermissions")));
        assert!(!throttled(&json!({})));
        let e = error_of(403, &body("insufficientFilePermissions"));
        assert_eq!((e.status, e.code.as_str()), (403, "forbidden"));
        assert_eq!(error_of(404, &json!({})).status, 404);
        assert_eq!(error_of(500, &json!({})).status, 502);
    }

    #[test]
    fn sizes_come_as_strings_and_docs_have_none() {
        let file = DriveFile::from_json(json!({"id": "x", "name": "a", "size": "12",
            "mimeType": "text/plain", "modifiedTime": "2024-01-02T03:04:05.678Z"}))
        .unwrap();
        assert_eq!(file.size, Some(12));
        assert!(file.modified.is_some());
        let doc = DriveFile::from_json(
            json!({"id": "d", "name": "doc", "mimeType": "application/vnd.google-apps.document"}),
        )
        .unwrap();
        assert!(doc.is_native() && !doc.is_folder() && doc.size.is_none());
        assert!(DriveFile::root().is_folder());
    }
}
