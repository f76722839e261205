//! Storage on Apache OpenDAL, shared by the services it serves well (S3, WebDAV).
//! Folders are paths ending in `/`. Transfers are either presigned requests the API tier
//! executes (object stores) or proxied: the API tier opens the service itself with the
//! account's sealed credentials and streams (WebDAV). Proxied uploads are written
//! under a hidden temporary name in the target folder and renamed into place at commit.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use cloudbridge_shared::{
    protocol::{AccountRef, TransferPlan},
    storage::{Batch, Capabilities, ItemKind, Page},
    ApiError, Entry, ItemPath,
};
use opendal::{EntryMode, ErrorKind, Metadata, Operator};

use crate::{Context, Filter, Storage, Walk};

/// How long a presigned transfer URL stays valid.
const PRESIGN_TTL: Duration = Duration::from_secs(15 * 60);

/// Name prefix of proxied uploads in progress; never listed.
pub const UPLOAD_PREFIX: &str = ".cloudbridge-upload-";

/// How the API tier moves bytes for a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transfers {
    /// Presigned requests (no credentials needed by the API tier).
    Presigned,
    /// The API tier opens the service itself.
    Proxied,
}

/// An account on an OpenDAL service.
pub struct DalStore {
    op: Operator,
    transfers: Transfers,
    capabilities: Capabilities,
}

/// The connector of an account of a service OpenDAL serves, with the capabilities
/// its descriptor lists: what the descriptors of `s3`, `s3_compatible` and `webdav` open.
pub(crate) fn open(
    ctx: &Context,
    account: &AccountRef,
    capabilities: &[(&'static str, bool)],
) -> Result<Box<dyn Storage>, ApiError> {
    let (op, transfers) = crate::operator(account, ctx.cipher.as_deref(), &ctx.guard)?;
    Ok(Box::new(DalStore::new(
        op,
        transfers,
        capabilities.to_vec(),
    )))
}

impl DalStore {
    /// A store over `op`.
    pub fn new(op: Operator, transfers: Transfers, capabilities: Capabilities) -> Self {
        Self {
            op,
            transfers,
            capabilities,
        }
    }

    async fn stat(&self, path: &ItemPath) -> Result<(ItemKind, Option<Metadata>), ApiError> {
        if path.is_root() {
            return Ok((ItemKind::Folder, None));
        }
        match self.op.stat(path.as_str()).await {
            Ok(m) if m.mode() == EntryMode::FILE => return Ok((ItemKind::File, Some(m))),
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(service_error(e)),
        }
        let dir = format!("{}/", path.as_str());
        match self.op.stat(&dir).await {
            Ok(m) => Ok((ItemKind::Folder, Some(m))),
            Err(e) if e.kind() == ErrorKind::NotFound => {
                // A prefix with objects under it but no marker is a folder too.
                if self.has_entries(&dir).await? {
                    Ok((ItemKind::Folder, None))
                } else {
                    Err(ApiError::not_found("No such file or folder."))
                }
            }
            Err(e) => Err(service_error(e)),
        }
    }

    /// True when something other than the folder's own marker lies under `dir` (reads the
    /// first page of a listing only: `list_with` would read every page of a big prefix).
    async fn has_entries(&self, dir: &str) -> Result<bool, ApiError> {
        use futures::TryStreamExt;
        let mut lister = self
            .op
            .lister_with(dir)
            .limit(2)
            .await
            .map_err(service_error)?;
        while let Some(entry) = lister.try_next().await.map_err(service_error)? {
            if entry.path() != dir {
                return Ok(true);
            }
        }
        Ok(false)
    }

    async fn folder(&self, path: &ItemPath) -> Result<(), ApiError> {
        match self.stat(path).await {
            Ok((ItemKind::Folder, _)) => Ok(()),
            Ok(_) => Err(ApiError::new(
                400,
                "invalid_parent_folder",
                "The parent is not a folder.",
            )),
            Err(e) if e.status == 404 => Err(ApiError::new(
                400,
                "invalid_parent_folder",
                "The parent folder does not exist.",
            )),
            Err(e) => Err(e),
        }
    }

    async fn exists(&self, path: &ItemPath) -> Result<Option<ItemKind>, ApiError> {
        match self.stat(path).await {
            Ok((kind, _)) => Ok(Some(kind)),
            Err(e) if e.status == 404 => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Where an upload of `name` lands (see [`crate::upload_target`]).
    async fn target(
        &self,
        parent: &ItemPath,
        name: &str,
        overwrite: bool,
    ) -> Result<ItemPath, ApiError> {
        crate::upload_target(
            parent,
            name,
            overwrite,
            |p| async move { self.exists(&p).await },
        )
        .await
    }
}

fn entry(path: ItemPath, kind: ItemKind, meta: Option<&Metadata>) -> Entry {
    let modified = meta.and_then(|m| m.last_modified()).map(|t| {
        DateTime::<Utc>::from_timestamp(t.into_inner().as_second(), 0).unwrap_or_default()
    });
    Entry {
        id: None,
        parent_id: None,
        size: (kind == ItemKind::File).then(|| meta.map_or(0, Metadata::content_length)),
        mime_type: (kind == ItemKind::File).then(|| {
            mime_guess::from_path(path.name())
                .first_or_octet_stream()
                .essence_str()
                .to_string()
        }),
        created: None,
        raw: Some(raw(&path, meta)),
        modified,
        kind,
        path,
    }
}

/// The service's own view of an object: its key and what the service said about it.
fn raw(path: &ItemPath, meta: Option<&Metadata>) -> serde_json::Value {
    let mut raw = serde_json::json!({ "path": format!("/{}", path.as_str()) });
    if let Some(m) = meta {
        raw["content_length"] = m.content_length().into();
        for (key, value) in [
            ("etag", m.etag()),
            ("content_type", m.content_type()),
            ("version", m.version()),
        ] {
            if let Some(v) = value {
                raw[key] = v.into();
            }
        }
        if let Some(t) = m.last_modified() {
            raw["last_modified"] = t.to_string().into();
        }
    }
    raw
}

/// The key prefix of folder `path`'s children (`/` for the root).
fn dir_of(path: &ItemPath) -> String {
    if path.is_root() {
        "/".to_string()
    } else {
        format!("{}/", path.as_str())
    }
}

/// The entry a listing of `dir` (folder `path`) shows for `e`; `None` for what is never
/// shown (the folder itself, uploads in progress, names Cloudbridge cannot address).
fn listed_entry(path: &ItemPath, dir: &str, e: &opendal::Entry) -> Option<Result<Entry, ApiError>> {
    if e.path() == dir || e.path() == "/" || e.name().starts_with(UPLOAD_PREFIX) {
        return None;
    }
    let kind = if e.metadata().is_dir() {
        ItemKind::Folder
    } else {
        ItemKind::File
    };
    let name = e.name().trim_end_matches('/');
    cloudbridge_shared::storage::validate_name(name).ok()?;
    Some(
        path.join(name)
            .map(|at| entry(at, kind, Some(e.metadata()))),
    )
}

/// The key to list on from after `key`: past everything under it when it is a folder,
/// whose keys an object store would otherwise roll up into the same folder again.
fn past(key: String) -> String {
    if key.ends_with('/') {
        key + "\u{10FFFF}"
    } else {
        key
    }
}

/// Maps an OpenDAL error to the Kloudless error the caller should see.
pub fn service_error(e: opendal::Error) -> ApiError {
    // OpenDAL errors name the operation, path and bucket, never the credentials.
    tracing::warn!(error = %e, "storage service call failed");
    // Some services report a 401 as `Unexpected`; the status is only in the context.
    let unauthorized = e.to_string().contains("status: 401");
    match e.kind() {
        _ if unauthorized => ApiError::new(
            401,
            "service_unauthorized",
            "The service refused the account's credentials.",
        ),
        ErrorKind::NotFound => ApiError::not_found("No such file or folder."),
        ErrorKind::PermissionDenied => ApiError::new(
            401,
            "service_unauthorized",
            "The service refused the account's credentials.",
        ),
        ErrorKind::AlreadyExists => {
            ApiError::new(409, "naming_conflict", "The item already exists.")
        }
        ErrorKind::RateLimited => {
            let mut err = ApiError::new(
                429,
                "too_many_service_requests",
                "The service is rate limiting.",
            );
            err.retry_after = Some(1);
            err
        }
        _ if e.is_temporary() => ApiError::new(
            503,
            "service_not_available",
            format!("The service is unavailable: {}", e.kind()),
        ),
        _ => ApiError::new(
            502,
            "bad_gateway",
            format!("The service failed: {}", e.kind()),
        ),
    }
}

fn presigned(req: opendal::raw::PresignedRequest, staged: Option<String>) -> TransferPlan {
    TransferPlan::Http {
        staged,
        method: req.method().to_string(),
        url: req.uri().to_string(),
        headers: req
            .header()
            .iter()
            .filter_map(|(k, v)| Some((k.to_string(), v.to_str().ok()?.to_string())))
            .collect(),
    }
}

#[async_trait]
impl Storage for DalStore {
    fn capabilities(&self) -> Capabilities {
        self.capabilities.clone()
    }

    async fn validate(&self) -> Result<(), ApiError> {
        self.has_entries("/").await.map(drop)
    }

    async fn metadata(&self, path: &ItemPath) -> Result<Entry, ApiError> {
        let (kind, meta) = self.stat(path).await?;
        Ok(entry(path.clone(), kind, meta.as_ref()))
    }

    async fn list(&self, path: &ItemPath, page: u32, page_size: u32) -> Result<Page, ApiError> {
        let (kind, _) = self.stat(path).await?;
        if kind != ItemKind::Folder {
            return Err(ApiError::not_found("No folder has this id."));
        }
        let dir = dir_of(path);
        let listed = self.op.list(&dir).await.map_err(service_error)?;
        let entries = listed
            .iter()
            .filter_map(|e| listed_entry(path, &dir, e))
            .collect::<Result<Vec<_>, ApiError>>()?;
        Page::of_listing(entries, page, page_size)
    }

    async fn batch(
        &self,
        path: &ItemPath,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Option<Batch>, ApiError> {
        use futures::TryStreamExt;
        // Object stores list in key order from any key: the cursor is the last key seen.
        if !self.op.info().capability().list_with_start_after {
            return Ok(None);
        }
        if cursor.is_none() && self.stat(path).await?.0 != ItemKind::Folder {
            return Err(ApiError::not_found("No folder has this id."));
        }
        let dir = dir_of(path);
        let mut lister = self.op.lister_with(&dir).limit(limit as usize);
        if let Some(after) = cursor {
            lister = lister.start_after(after);
        }
        let mut lister = lister.await.map_err(service_error)?;
        // A store answers its folders and its objects apart: the batch is put back in key
        // order, and goes on after its greatest key.
        let mut keyed = Vec::new();
        let mut seen = 0;
        let mut last: Option<String> = None;
        let mut more = true;
        while seen < limit {
            let Some(e) = lister.try_next().await.map_err(service_error)? else {
                more = false;
                break;
            };
            seen += 1;
            if let Some(entry) = listed_entry(path, &dir, &e) {
                keyed.push((e.path().to_string(), entry?));
            }
            if last.as_deref().is_none_or(|l| e.path() > l) {
                last = Some(e.path().to_string());
            }
        }
        keyed.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(Some(Batch {
            entries: keyed.into_iter().map(|(_, e)| e).collect(),
            next: last.filter(|_| more).map(past),
        }))
    }

    async fn subtree_batch(
        &self,
        path: &ItemPath,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Option<Batch>, ApiError> {
        use futures::TryStreamExt;
        // Object stores list a prefix without a delimiter, in key order from any key: the
        // cursor is the last key seen. Only where the descriptor says so (not WebDAV,
        // whose recursion OpenDAL emulates folder by folder).
        let declared = self
            .capabilities
            .iter()
            .any(|&(name, on)| name == crate::service::RECURSIVE_LISTING && on);
        if !declared || !self.op.info().capability().list_with_start_after {
            return Ok(None);
        }
        if cursor.is_none() && self.stat(path).await?.0 != ItemKind::Folder {
            return Err(ApiError::not_found("No folder has this id."));
        }
        let dir = dir_of(path);
        let mut lister = self
            .op
            .lister_with(&dir)
            .recursive(true)
            .limit(limit as usize);
        if let Some(after) = cursor {
            lister = lister.start_after(after);
        }
        let mut lister = lister.await.map_err(service_error)?;
        let (mut entries, mut seen, mut last, mut more) = (Vec::new(), 0, None, true);
        while seen < limit {
            let Some(e) = lister.try_next().await.map_err(service_error)? else {
                more = false;
                break;
            };
            seen += 1;
            last = Some(e.path().to_string());
            let key = e.path().trim_matches('/');
            if key.is_empty() || e.path() == dir {
                continue;
            }
            // In-progress uploads and names we cannot represent are not items.
            let Ok(at) = ItemPath::parse(key) else {
                continue;
            };
            if at.segments().any(|s| s.starts_with(UPLOAD_PREFIX)) {
                continue;
            }
            let kind = if e.metadata().is_dir() {
                ItemKind::Folder
            } else {
                ItemKind::File
            };
            entries.push(entry(at, kind, Some(e.metadata())));
        }
        Ok(Some(Batch {
            entries,
            next: last.filter(|_| more),
        }))
    }

    async fn create_folder(
        &self,
        parent: &ItemPath,
        name: &str,
        conflict_if_exists: bool,
    ) -> Result<(Entry, bool), ApiError> {
        let path = parent.join(name)?;
        self.folder(parent).await?;
        if let Some(found) = self.exists(&path).await? {
            crate::reuse_folder(found, conflict_if_exists, &path)?;
            return Ok((self.metadata(&path).await?, false));
        }
        self.op
            .create_dir(&format!("{}/", path.as_str()))
            .await
            .map_err(service_error)?;
        Ok((self.metadata(&path).await?, true))
    }

    async fn remove(&self, item: &Entry, recursive: bool) -> Result<(), ApiError> {
        let path = &item.path;
        if item.kind == ItemKind::File {
            return self.op.delete(path.as_str()).await.map_err(service_error);
        }
        let dir = format!("{}/", path.as_str());
        if !recursive && self.has_entries(&dir).await? {
            return Err(ApiError::new(
                403,
                "folder_not_empty",
                "The folder is not empty.",
            ));
        }
        self.op
            .delete_with(&dir)
            .recursive(true)
            .await
            .map_err(service_error)
    }

    async fn relocate_to(
        &self,
        source: &Entry,
        to: &ItemPath,
        copy: bool,
    ) -> Result<Entry, ApiError> {
        let (from, kind) = (&source.path, source.kind);
        self.folder(&to.parent().expect("a destination has a parent"))
            .await?;
        let can_rename = self.op.info().capability().rename;
        if kind == ItemKind::File {
            if copy || !can_rename {
                self.op
                    .copy(from.as_str(), to.as_str())
                    .await
                    .map_err(service_error)?;
            } else {
                self.op
                    .rename(from.as_str(), to.as_str())
                    .await
                    .map_err(service_error)?;
            }
            if !copy && !can_rename {
                self.op.delete(from.as_str()).await.map_err(service_error)?;
            }
        } else {
            // Folders: recreate the tree object by object (object stores have no folders
            // to rename), then remove the source when moving.
            let (src, dst) = (format!("{}/", from.as_str()), format!("{}/", to.as_str()));
            self.op.create_dir(&dst).await.map_err(service_error)?;
            let entries = self
                .op
                .list_with(&src)
                .recursive(true)
                .await
                .map_err(service_error)?;
            for e in entries.iter().filter(|e| e.path() != src) {
                let target = format!("{dst}{}", &e.path()[src.len()..]);
                if e.metadata().is_dir() {
                    self.op.create_dir(&target).await.map_err(service_error)?;
                } else {
                    self.op
                        .copy(e.path(), &target)
                        .await
                        .map_err(service_error)?;
                }
            }
            if !copy {
                self.op
                    .delete_with(&src)
                    .recursive(true)
                    .await
                    .map_err(service_error)?;
            }
        }
        self.metadata(to).await
    }

    async fn plan_download(&self, path: &ItemPath) -> Result<(TransferPlan, Entry), ApiError> {
        let (kind, meta) = self.stat(path).await?;
        if kind != ItemKind::File {
            return Err(ApiError::not_found("No file has this id."));
        }
        let entry = entry(path.clone(), kind, meta.as_ref());
        let plan = match self.transfers {
            Transfers::Presigned => {
                let req = self
                    .op
                    .presign_read(path.as_str(), PRESIGN_TTL)
                    .await
                    .map_err(service_error)?;
                presigned(req, None)
            }
            Transfers::Proxied => TransferPlan::Service {
                path: path.as_str().to_string(),
                staged: None,
            },
        };
        Ok((plan, entry))
    }

    async fn plan_upload(
        &self,
        parent: &ItemPath,
        name: &str,
        overwrite: bool,
    ) -> Result<TransferPlan, ApiError> {
        self.folder(parent).await?;
        if self.transfers == Transfers::Proxied {
            // Hidden temporary name in the target folder; renamed into place at commit.
            parent.join(name)?;
            let temp = parent.join(&format!("{UPLOAD_PREFIX}{}", uuid::Uuid::new_v4().simple()))?;
            return Ok(TransferPlan::Service {
                path: temp.as_str().to_string(),
                staged: Some(temp.id()),
            });
        }
        // A PUT is atomic on an object store: the object appears only once complete, so
        // the bytes go straight to their final key, settled now.
        let target = self.target(parent, name, overwrite).await?;
        let req = self
            .op
            .presign_write(target.as_str(), PRESIGN_TTL)
            .await
            .map_err(service_error)?;
        Ok(presigned(req, Some(target.id())))
    }

    async fn commit_upload(
        &self,
        staged: &str,
        parent: &ItemPath,
        name: &str,
        overwrite: bool,
    ) -> Result<Entry, ApiError> {
        let staged = ItemPath::from_id(staged)?;
        let target = match self.transfers {
            Transfers::Presigned => staged.clone(),
            Transfers::Proxied => {
                if !staged.name().starts_with(UPLOAD_PREFIX)
                    || staged.parent().as_ref() != Some(parent)
                {
                    return Err(ApiError::bad_request("Unknown upload."));
                }
                let target = self.target(parent, name, overwrite).await?;
                self.op
                    .rename(staged.as_str(), target.as_str())
                    .await
                    .map_err(service_error)?;
                target
            }
        };
        match self.stat(&target).await {
            Ok((ItemKind::File, meta)) => Ok(entry(target, ItemKind::File, meta.as_ref())),
            _ => Err(ApiError::bad_request(
                "The upload was not received completely.",
            )),
        }
    }

    async fn abort_upload(&self, staged: &str) -> Result<(), ApiError> {
        let staged = ItemPath::from_id(staged)?;
        if self.transfers == Transfers::Proxied && staged.name().starts_with(UPLOAD_PREFIX) {
            self.op
                .delete(staged.as_str())
                .await
                .map_err(service_error)?;
            // The server may still finish the interrupted PUT and write the partial file
            // after this delete: the upload ledger keeps it until housekeeping removed it
            // for good.
        }
        // An interrupted PUT to an object store leaves nothing behind.
        Ok(())
    }

    async fn walk(&self, under: &ItemPath, keep: &Filter, limit: usize) -> Result<Walk, ApiError> {
        use futures::TryStreamExt;
        let (kind, _) = self.stat(under).await?;
        if kind != ItemKind::Folder {
            return Err(ApiError::not_found("No folder has this id."));
        }
        let dir = if under.is_root() {
            "/".to_string()
        } else {
            format!("{}/", under.as_str())
        };
        // One recursive listing: native on object stores, emulated by OpenDAL elsewhere.
        let mut lister = self
            .op
            .lister_with(&dir)
            .recursive(true)
            .await
            .map_err(service_error)?;
        let mut walk = Walk::default();
        while let Some(item) = lister.try_next().await.map_err(service_error)? {
            let path = item.path().trim_matches('/');
            if path.is_empty() || path == dir.trim_matches('/') {
                continue;
            }
            // In-progress uploads and names we cannot represent are not items.
            let Ok(path) = ItemPath::parse(path) else {
                continue;
            };
            if path.segments().any(|s| s.starts_with(UPLOAD_PREFIX)) {
                continue;
            }
            if walk.visited == limit {
                walk.truncated = true;
                break;
            }
            walk.visited += 1;
            let kind = if item.metadata().mode() == EntryMode::DIR {
                ItemKind::Folder
            } else {
                ItemKind::File
            };
            let entry = entry(path, kind, Some(item.metadata()));
            if keep(&entry) {
                walk.found.push(entry);
            }
        }
        Ok(walk)
    }
}
