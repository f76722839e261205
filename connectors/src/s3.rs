//! `s3` and `s3_compatible`: one bucket (optionally under a root prefix) per account, on
//! Apache OpenDAL. Folders are key prefixes ending in `/` (created as empty marker
//! objects). Bytes move by presigned requests that the API tier executes, so neither file
//! contents nor credentials pass through Redis; an upload becomes visible only when the
//! object's PUT completes.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use cloudbridge_shared::{
    protocol::TransferPlan,
    storage::{Capabilities, ItemKind, Page},
    ApiError, Entry, ItemPath,
};
use opendal::{EntryMode, ErrorKind, Metadata, Operator};
use serde::Deserialize;

use crate::Storage;

/// What S3 supports (through this connector, today).
pub const CAPABILITIES: &[(&str, bool)] = crate::BASIC_CAPABILITIES;

/// How long a presigned transfer URL stays valid.
const PRESIGN_TTL: Duration = Duration::from_secs(15 * 60);

/// Non-secret configuration of an S3 account.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
pub struct S3Config {
    /// Bucket.
    pub bucket: String,
    /// Region (`us-east-1` when absent).
    #[serde(default)]
    pub region: Option<String>,
    /// Endpoint (`https://s3.<region>.amazonaws.com` when absent).
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Key prefix the account is confined to.
    #[serde(default)]
    pub root: Option<String>,
    /// Virtual-host-style addressing instead of path style.
    #[serde(default)]
    pub virtual_host_style: bool,
}

/// Credentials of an S3 account (sealed at rest).
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
pub struct S3Secrets {
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: String,
}

/// An S3 account.
pub struct S3Store {
    op: Operator,
}

impl S3Store {
    /// Builds the operator for an account.
    pub fn new(config: &S3Config, secrets: &S3Secrets) -> Result<Self, ApiError> {
        // OpenDAL's process-wide HTTP transport (reqwest); first call installs it.
        static TRANSPORT: std::sync::Once = std::sync::Once::new();
        TRANSPORT.call_once(opendal::install_default);
        let mut builder = opendal::services::S3::default()
            .bucket(&config.bucket)
            .region(config.region.as_deref().unwrap_or("us-east-1"))
            .access_key_id(&secrets.access_key_id)
            .secret_access_key(&secrets.secret_access_key)
            .root(&format!(
                "/{}",
                config.root.as_deref().unwrap_or("").trim_matches('/')
            ))
            .disable_config_load()
            .disable_ec2_metadata();
        if let Some(endpoint) = &config.endpoint {
            builder = builder.endpoint(endpoint);
        }
        if config.virtual_host_style {
            builder = builder.enable_virtual_host_style();
        }
        let op = Operator::new(builder)
            .map_err(|e| ApiError::invalid_parameters(format!("Invalid S3 settings: {e}")))?;
        Ok(Self { op })
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
                let any = self
                    .op
                    .list_with(&dir)
                    .limit(1)
                    .await
                    .map_err(service_error)?;
                if any.iter().any(|e| e.path() != dir) {
                    Ok((ItemKind::Folder, None))
                } else {
                    Err(ApiError::not_found("No such file or folder."))
                }
            }
            Err(e) => Err(service_error(e)),
        }
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

    /// `name` in `parent`, or the first free `name (n)`.
    async fn free_name(&self, parent: &ItemPath, name: &str) -> Result<ItemPath, ApiError> {
        for n in 0..1000 {
            let candidate = if n == 0 {
                name.to_string()
            } else {
                crate::numbered(name, n)
            };
            let path = parent.join(&candidate)?;
            if self.exists(&path).await?.is_none() {
                return Ok(path);
            }
        }
        Err(ApiError::naming_conflict(
            "Too many files with this name.",
            parent.join(name)?.id(),
        ))
    }
}

fn entry(path: ItemPath, kind: ItemKind, meta: Option<&Metadata>) -> Entry {
    let modified = meta.and_then(|m| m.last_modified()).map(|t| {
        DateTime::<Utc>::from_timestamp(t.into_inner().as_second(), 0).unwrap_or_default()
    });
    Entry {
        size: (kind == ItemKind::File).then(|| meta.map_or(0, Metadata::content_length)),
        mime_type: (kind == ItemKind::File).then(|| {
            mime_guess::from_path(path.name())
                .first_or_octet_stream()
                .essence_str()
                .to_string()
        }),
        created: None,
        modified,
        kind,
        path,
    }
}

/// Maps an OpenDAL error to the Kloudless error the caller should see.
pub fn service_error(e: opendal::Error) -> ApiError {
    // OpenDAL errors name the operation, path and bucket, never the credentials.
    tracing::warn!(error = %e, "s3 call failed");
    match e.kind() {
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
impl Storage for S3Store {
    fn capabilities(&self) -> Capabilities {
        CAPABILITIES.to_vec()
    }

    async fn validate(&self) -> Result<(), ApiError> {
        self.op
            .list_with("/")
            .limit(1)
            .await
            .map(|_| ())
            .map_err(service_error)
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
        let dir = if path.is_root() {
            "/".to_string()
        } else {
            format!("{}/", path.as_str())
        };
        let mut items: Vec<(String, ItemKind, Metadata)> = self
            .op
            .list(&dir)
            .await
            .map_err(service_error)?
            .into_iter()
            .filter(|e| e.path() != dir && e.path() != "/")
            .filter_map(|e| {
                let kind = if e.metadata().is_dir() {
                    ItemKind::Folder
                } else {
                    ItemKind::File
                };
                let name = e.name().trim_end_matches('/').to_string();
                cloudbridge_shared::storage::validate_name(&name).ok()?;
                Some((name, kind, e.metadata().clone()))
            })
            .collect();
        items.sort_by(|a, b| a.0.cmp(&b.0));
        let size = page_size as usize;
        let start = (page as usize - 1) * size;
        if start > 0 && start >= items.len() {
            return Err(ApiError::not_found("This page does not exist."));
        }
        let next_page = (start + size < items.len()).then_some(page + 1);
        let entries = items
            .into_iter()
            .skip(start)
            .take(size)
            .map(|(name, kind, meta)| Ok(entry(path.join(&name)?, kind, Some(&meta))))
            .collect::<Result<Vec<_>, ApiError>>()?;
        Ok(Page {
            entries,
            page,
            next_page,
        })
    }

    async fn create_folder(
        &self,
        parent: &ItemPath,
        name: &str,
        conflict_if_exists: bool,
    ) -> Result<(Entry, bool), ApiError> {
        let path = parent.join(name)?;
        self.folder(parent).await?;
        match self.exists(&path).await? {
            Some(ItemKind::Folder) if !conflict_if_exists => {
                return Ok((self.metadata(&path).await?, false));
            }
            Some(_) => {
                return Err(ApiError::naming_conflict(
                    "An item with this name already exists.",
                    path.id(),
                ))
            }
            None => {}
        }
        self.op
            .create_dir(&format!("{}/", path.as_str()))
            .await
            .map_err(service_error)?;
        Ok((self.metadata(&path).await?, true))
    }

    async fn delete(
        &self,
        path: &ItemPath,
        kind: ItemKind,
        recursive: bool,
    ) -> Result<(), ApiError> {
        if path.is_root() {
            return Err(ApiError::forbidden("The root folder cannot be deleted."));
        }
        let (found, _) = self.stat(path).await?;
        if found != kind {
            return Err(ApiError::not_found("No such file or folder."));
        }
        if kind == ItemKind::File {
            return self.op.delete(path.as_str()).await.map_err(service_error);
        }
        let dir = format!("{}/", path.as_str());
        if !recursive {
            let children = self
                .op
                .list_with(&dir)
                .limit(2)
                .await
                .map_err(service_error)?;
            if children.iter().any(|e| e.path() != dir) {
                return Err(ApiError::new(
                    403,
                    "folder_not_empty",
                    "The folder is not empty.",
                ));
            }
        }
        self.op
            .delete_with(&dir)
            .recursive(true)
            .await
            .map_err(service_error)
    }

    async fn plan_download(&self, path: &ItemPath) -> Result<(TransferPlan, Entry), ApiError> {
        let (kind, meta) = self.stat(path).await?;
        if kind != ItemKind::File {
            return Err(ApiError::not_found("No file has this id."));
        }
        let req = self
            .op
            .presign_read(path.as_str(), PRESIGN_TTL)
            .await
            .map_err(service_error)?;
        Ok((
            presigned(req, None),
            entry(path.clone(), kind, meta.as_ref()),
        ))
    }

    async fn plan_upload(
        &self,
        parent: &ItemPath,
        name: &str,
        overwrite: bool,
    ) -> Result<TransferPlan, ApiError> {
        self.folder(parent).await?;
        // A PUT is atomic on S3: the object appears only once complete, so the bytes go
        // straight to their final key, settled now.
        let target = if overwrite {
            let target = parent.join(name)?;
            if self.exists(&target).await? == Some(ItemKind::Folder) {
                return Err(ApiError::naming_conflict(
                    "A folder has this name.",
                    target.id(),
                ));
            }
            target
        } else {
            self.free_name(parent, name).await?
        };
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
        _parent: &ItemPath,
        _name: &str,
        _overwrite: bool,
    ) -> Result<Entry, ApiError> {
        let target = ItemPath::from_id(staged)?;
        match self.stat(&target).await {
            Ok((ItemKind::File, meta)) => Ok(entry(target, ItemKind::File, meta.as_ref())),
            _ => Err(ApiError::bad_request(
                "The upload was not received completely.",
            )),
        }
    }

    async fn abort_upload(&self, _staged: &str) -> Result<(), ApiError> {
        // An interrupted PUT leaves nothing behind.
        Ok(())
    }
}
