//! `gdrive`: the user's My Drive through the Drive API v3, first-party on reqwest (every
//! call through [`oauth::Api`](crate::oauth::Api)).
//!
//! Items are addressed by path; [`paths`] resolves them to Drive ids. Deletes move items to
//! Drive's trash (recoverable by the user for 30 days, as Drive's own apps do; the trait has
//! no `permanent` flag yet). Folders are copied item by item (`files.copy` copies files
//! only). Uploads are planned by a worker and streamed by the API tier ([`upload`]): a new
//! file is written under a hidden temporary name and renamed into place at commit (so the
//! name is settled, and conflicts resolved, only once the bytes are there); an overwrite of
//! an existing file uploads new contents into it (same Drive id, a new revision).
//!
//! Google Docs, Sheets, Slides and other native items have no bytes: they are listed,
//! moved, copied and deleted like files, but downloading one answers 501. Exporting would
//! hand out different bytes under the item's name, without a size or byte ranges known up
//! front, and only up to Drive's 10 MB export limit.
//!
//! # Layout
//! - [`client`]: Drive calls, file resources, error mapping, [`identity`].
//! - [`paths`]: path → id resolution (Drive as a [`crate::ids::Tree`]).
//! - [`upload`]: multipart and resumable uploads.
//! - [`feed`]: the changes list as the change feed.
//! - [`permissions`]: sharing, through Drive's permissions.
//! - `media`: the storage quota and thumbnails.
//! - `search`: search in Drive's index.
//! - `team`: the Workspace's users and groups through the Directory API (Team API);
//!   acting as a member is refused (501: it needs domain-wide delegation).

use std::{future::Future, pin::Pin};

use async_trait::async_trait;
use bytes::Bytes;
use cloudbridge_shared::{
    config::ProviderSettings,
    protocol::{AccountRef, TransferPlan},
    quota::Quota,
    storage::{Batch, Capabilities, ItemKind},
    thumbnail::{ThumbnailPlan, ThumbnailSpec},
    ApiError, Entry, ItemPath, ItemRef,
};
use futures::{future::BoxFuture, StreamExt};

use crate::{
    dal::UPLOAD_PREFIX,
    feed::FeedPage,
    ids::Ids,
    oauth,
    service::{self, Api, Category, Connect, Identity, OAuth, Service, Staging},
    transfer, Storage,
};

pub mod client;
pub mod feed;
mod media;
pub mod paths;
pub mod permissions;
mod search;
mod team;
pub mod upload;

pub use client::{identity, Drive, DriveFile};
use upload::Target;

/// `gdrive`: Google Drive.
pub static SERVICE: Service = Service {
    name: "gdrive",
    aliases: &[],
    display_name: "Google Drive",
    apis: &[Api::Storage],
    category: Category::FileStore,
    connect: Connect::OAuth(OAuth {
        provider: "gdrive",
        pkce: true,
        offline_access: &[("access_type", "offline"), ("prompt", "consent")],
        identity: who,
    }),
    capabilities: service::CLOUD_CAPABILITIES,
    staging: Staging::HiddenFile,
    colour: "#1a73e8",
    open,
    item_key: service::raw_id_key,
    names_by_id: true,
};

fn open(ctx: &crate::Context, account: &AccountRef) -> Result<Box<dyn Storage>, ApiError> {
    Ok(Box::new(DriveStore::new(ctx, account)?))
}

/// The account is named by its e-mail address (else Drive's permission id).
fn who<'a>(
    api: &'a oauth::Api,
    provider: &'a ProviderSettings,
) -> BoxFuture<'a, Result<Identity, ApiError>> {
    Box::pin(async move {
        let (account, _display) = identity(api, provider).await?;
        Ok(Identity {
            id: account.clone(),
            name: account,
        })
    })
}

/// An account's My Drive.
pub struct DriveStore {
    drive: Drive,
    ids: Ids,
    /// The address policy of links Drive hands out (thumbnails); `None` in tools.
    guard: Option<crate::guard::Guard>,
}

fn kind_of(file: &DriveFile) -> ItemKind {
    if file.is_folder() {
        ItemKind::Folder
    } else {
        ItemKind::File
    }
}

/// The Kloudless view of `file` at `path`; its Drive resource is the raw data.
fn entry(path: ItemPath, file: &DriveFile) -> Entry {
    let kind = kind_of(file);
    let mut raw = file.json.clone();
    raw["path"] = format!("/{}", path.as_str()).into();
    Entry {
        size: (kind == ItemKind::File && !file.is_native()).then(|| file.size.unwrap_or(0)),
        mime_type: (kind == ItemKind::File).then(|| file.mime_type.clone()),
        created: file.created,
        modified: file.modified,
        id: Some(file.id.clone()),
        parent_id: file.json["parents"][0].as_str().map(str::to_string),
        raw: Some(raw),
        kind,
        path,
    }
}

fn invalid_parent(message: &str) -> ApiError {
    ApiError::new(400, "invalid_parent_folder", message)
}

/// True for the names an item of a listing may have here (representable, not an upload).
fn listable(name: &str) -> bool {
    !name.starts_with(UPLOAD_PREFIX) && cloudbridge_shared::storage::validate_name(name).is_ok()
}

fn mime_of(name: &str) -> String {
    mime_guess::from_path(name)
        .first_or_octet_stream()
        .essence_str()
        .to_string()
}

impl DriveStore {
    /// The store of `account`, calling Drive through the context's HTTP client and tokens.
    pub fn new(ctx: &crate::Context, account: &AccountRef) -> Result<Self, ApiError> {
        if account.as_user.is_some() {
            return Err(ApiError::not_implemented(
                "Google Drive cannot act as another user with the admin's OAuth token: \
                 Google allows that only to a service account with domain-wide \
                 delegation, which this appliance does not hold. Connect the member's own \
                 account instead.",
            ));
        }
        Ok(Self {
            drive: Drive::new(ctx.api(account)?, &ctx.providers.gdrive),
            ids: Ids::of(account.id),
            guard: Some(ctx.guard.clone()),
        })
    }

    /// The My Drive `api` calls as, at the hosts `provider` names (tools and tests;
    /// workers use [`DriveStore::new`]).
    pub fn with_api(
        api: crate::oauth::Api,
        provider: &cloudbridge_shared::config::ProviderSettings,
        account: i64,
    ) -> Self {
        Self {
            drive: Drive::new(api, provider),
            ids: Ids::of(account),
            guard: None,
        }
    }

    async fn resolve(&self, path: &ItemPath) -> Result<DriveFile, ApiError> {
        crate::ids::resolve(&self.drive, &self.ids, path).await
    }

    /// The item at `path`, if any.
    async fn find(&self, path: &ItemPath) -> Result<Option<DriveFile>, ApiError> {
        match self.resolve(path).await {
            Ok(file) => Ok(Some(file)),
            Err(e) if e.status == 404 => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The item named `name` directly in folder `parent` (by Drive id), if any.
    async fn child(&self, parent: &str, name: &str) -> Result<Option<DriveFile>, ApiError> {
        Ok(paths::pick(self.drive.children(parent, Some(name)).await?))
    }

    /// The folder at `path`, as a parent: 400 when missing or not a folder.
    async fn folder(&self, path: &ItemPath) -> Result<DriveFile, ApiError> {
        match self.find(path).await? {
            Some(file) if file.is_folder() => Ok(file),
            Some(_) => Err(invalid_parent("The parent is not a folder.")),
            None => Err(invalid_parent("The parent folder does not exist.")),
        }
    }

    /// `name` in folder `parent`, or the first free `name (n)`.
    async fn free_name(&self, parent: &str, name: &str) -> Result<String, ApiError> {
        for n in 0..1000 {
            let candidate = match n {
                0 => name.to_string(),
                n => crate::numbered(name, n),
            };
            if self.child(parent, &candidate).await?.is_none() {
                return Ok(candidate);
            }
        }
        Err(ApiError::new(
            409,
            "naming_conflict",
            "Too many files with this name.",
        ))
    }

    /// Every listable entry of the folder at `path`, all of Drive's pages read once.
    async fn read_folder(&self, path: &ItemPath) -> Result<Vec<Entry>, ApiError> {
        let folder = self.resolve(path).await?;
        if !folder.is_folder() {
            return Err(ApiError::not_found("No folder has this id."));
        }
        let mut items: Vec<DriveFile> = self
            .drive
            .children(&folder.id, None)
            .await?
            .into_iter()
            .filter(|f| listable(&f.name))
            .collect();
        // Of same-named items, the one the path means (see `paths`).
        items.sort_by(|a, b| (&a.name, a.created, &a.id).cmp(&(&b.name, b.created, &b.id)));
        items.dedup_by(|later, first| later.name == first.name);
        let mut entries = Vec::with_capacity(items.len());
        for item in &items {
            let child = path.join(&item.name)?;
            if item.is_folder() {
                self.ids.put(&child, &item.id, ItemKind::Folder);
            }
            entries.push(entry(child, item));
        }
        Ok(entries)
    }

    /// Copies the contents of folder `from` into the new folder `to` (Drive ids).
    fn copy_tree<'a>(
        &'a self,
        from: String,
        to: String,
    ) -> Pin<Box<dyn Future<Output = Result<(), ApiError>> + Send + 'a>> {
        Box::pin(async move {
            for item in self.drive.children(&from, None).await? {
                if item.name.starts_with(UPLOAD_PREFIX) {
                    continue;
                }
                if item.is_folder() {
                    let made = self.drive.create_folder(&to, &item.name).await?;
                    self.copy_tree(item.id, made.id).await?;
                } else {
                    self.drive.copy(&item.id, &to, &item.name).await?;
                }
            }
            Ok(())
        })
    }
}

#[async_trait]
impl Storage for DriveStore {
    fn capabilities(&self) -> Capabilities {
        SERVICE.capabilities.to_vec()
    }

    async fn validate(&self) -> Result<(), ApiError> {
        self.drive.user().await.map(drop)
    }

    async fn feed_start(&self) -> Result<Option<String>, ApiError> {
        self.drive.start_page_token().await.map(Some)
    }

    async fn changes(&self, cursor: &str) -> Result<FeedPage, ApiError> {
        self.changes_from(cursor).await
    }

    fn change_key(&self, entry: &Entry) -> String {
        crate::feed::raw_id_key(entry)
    }

    fn team(&self) -> Option<&dyn crate::team::Team> {
        Some(self)
    }

    fn sharing(&self) -> Option<&dyn crate::sharing::Sharing> {
        Some(self)
    }

    async fn locate(&self, item: &ItemRef) -> Result<ItemPath, ApiError> {
        crate::ids::place_of(&self.drive, &self.ids, item).await
    }

    async fn lookup(&self, item: &ItemRef) -> Result<Entry, ApiError> {
        match item {
            ItemRef::Path(path) => self.metadata(path).await,
            ItemRef::Native { id, kind } => {
                let (file, path) = crate::ids::locate(&self.drive, &self.ids, id, *kind).await?;
                Ok(entry(path, &file))
            }
        }
    }

    async fn metadata(&self, path: &ItemPath) -> Result<Entry, ApiError> {
        Ok(entry(path.clone(), &self.resolve(path).await?))
    }

    async fn batch(
        &self,
        path: &ItemPath,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Option<Batch>, ApiError> {
        let folder = crate::ids::folder_id(&self.drive, &self.ids, path).await?;
        let (files, next) = self.drive.children_page(&folder, cursor, limit).await?;
        let mut entries = Vec::with_capacity(files.len());
        for file in files.iter().filter(|f| listable(&f.name)) {
            let Ok(child) = path.join(&file.name) else {
                continue;
            };
            if file.is_folder() {
                self.ids.put(&child, &file.id, ItemKind::Folder);
            }
            entries.push(entry(child, file));
        }
        Ok(Some(Batch { entries, next }))
    }

    async fn list_all(&self, path: &ItemPath) -> Result<Vec<Entry>, ApiError> {
        self.read_folder(path).await
    }

    async fn search_batch(
        &self,
        query: &crate::search::Query,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Option<Batch>, ApiError> {
        self.search_hits(query, cursor, limit).await.map(Some)
    }

    async fn create_folder(
        &self,
        parent: &ItemPath,
        name: &str,
        conflict_if_exists: bool,
    ) -> Result<(Entry, bool), ApiError> {
        let path = parent.join(name)?;
        let parent_file = self.folder(parent).await?;
        match self.child(&parent_file.id, name).await? {
            Some(found) => {
                crate::reuse_folder(kind_of(&found), conflict_if_exists, &path)?;
                Ok((entry(path, &found), false))
            }
            None => {
                let made = self.drive.create_folder(&parent_file.id, name).await?;
                self.ids.put(&path, &made.id, ItemKind::Folder);
                Ok((entry(path, &made), true))
            }
        }
    }

    async fn remove(&self, item: &Entry, recursive: bool) -> Result<(), ApiError> {
        let id = crate::own_id(item)?;
        if item.kind == ItemKind::Folder && !recursive && self.drive.has_children(id).await? {
            return Err(ApiError::new(
                403,
                "folder_not_empty",
                "The folder is not empty.",
            ));
        }
        self.ids.forget(&item.path);
        self.drive.trash(id).await
    }

    async fn relocate_to(
        &self,
        source: &Entry,
        to: &ItemPath,
        copy: bool,
    ) -> Result<Entry, ApiError> {
        let (from, kind, id) = (&source.path, source.kind, crate::own_id(source)?);
        let parent = self
            .folder(&to.parent().expect("a destination has a parent"))
            .await?;
        self.ids.forget(to);
        let done = match (kind, copy) {
            (_, false) => {
                self.ids.forget(from);
                let old_parent = match &source.parent_id {
                    Some(id) => id.clone(),
                    None => {
                        self.resolve(&from.parent().expect("not the root"))
                            .await?
                            .id
                    }
                };
                let moved =
                    (old_parent != parent.id).then_some((old_parent.as_str(), parent.id.as_str()));
                let name = (from.name() != to.name()).then_some(to.name());
                self.drive.update(id, name, moved).await?
            }
            (ItemKind::File, true) => self.drive.copy(id, &parent.id, to.name()).await?,
            (ItemKind::Folder, true) => {
                let made = self.drive.create_folder(&parent.id, to.name()).await?;
                self.copy_tree(id.to_string(), made.id.clone()).await?;
                made
            }
        };
        Ok(entry(to.clone(), &done))
    }

    async fn plan_download(&self, path: &ItemPath) -> Result<(TransferPlan, Entry), ApiError> {
        let file = self.resolve(path).await?;
        if file.is_folder() {
            return Err(ApiError::not_found("No file has this id."));
        }
        if file.is_native() {
            return Err(ApiError::not_implemented(format!(
                "`{}` is a Google Docs item ({}) without downloadable contents.",
                file.name, file.mime_type
            )));
        }
        let plan = TransferPlan::Service {
            path: file.id.clone(),
            staged: None,
        };
        Ok((plan, entry(path.clone(), &file)))
    }

    async fn download(
        &self,
        plan_path: &str,
        range: Option<(u64, u64)>,
    ) -> Result<transfer::Download, ApiError> {
        let url = self.drive.media_url(plan_path);
        let response = self
            .drive
            .call(|c| {
                let req = c
                    .get(&url)
                    .query(&[("alt", "media")])
                    .timeout(oauth::TRANSFER_TIMEOUT);
                match range {
                    Some((start, end)) => {
                        req.header(reqwest::header::RANGE, format!("bytes={start}-{end}"))
                    }
                    None => req,
                }
            })
            .await?;
        let whole = response.status() != reqwest::StatusCode::PARTIAL_CONTENT;
        let length = response.content_length();
        let body = response
            .bytes_stream()
            .map(|c| c.map_err(std::io::Error::other))
            .boxed();
        match range {
            // Drive answered with the whole file after all: cut the range out of it.
            Some((start, end)) if whole => Ok(transfer::Download {
                body: window(body, start, end - start + 1),
                length: Some(end - start + 1),
            }),
            _ => Ok(transfer::Download { body, length }),
        }
    }

    async fn plan_upload(
        &self,
        parent: &ItemPath,
        name: &str,
        overwrite: bool,
    ) -> Result<TransferPlan, ApiError> {
        let path = parent.join(name)?;
        let folder = self.folder(parent).await?;
        let mime = mime_of(name);
        let existing = match overwrite {
            true => self.child(&folder.id, name).await?,
            false => None,
        };
        let target = match existing {
            Some(found) if found.is_folder() => {
                return Err(ApiError::naming_conflict(
                    "A folder has this name.",
                    path.id(),
                ))
            }
            // Google Docs cannot take bytes: replaced at commit instead.
            Some(found) if !found.is_native() => Target::Replace {
                file: found.id,
                mime,
            },
            _ => Target::New {
                parent: folder.id,
                temp: format!("{UPLOAD_PREFIX}{}", uuid::Uuid::new_v4().simple()),
                mime,
            },
        };
        let encoded = target.encode();
        Ok(TransferPlan::Service {
            path: encoded.clone(),
            staged: Some(encoded),
        })
    }

    async fn upload(
        &self,
        plan_path: &str,
        _staged: Option<&str>,
        body: transfer::ByteStream,
        length: Option<u64>,
    ) -> Result<u64, ApiError> {
        let target = Target::decode(plan_path).ok_or_else(|| ApiError::internal("bad plan"))?;
        upload::send(&self.drive, &target, body, length).await
    }

    async fn commit_upload(
        &self,
        staged: &str,
        parent: &ItemPath,
        name: &str,
        overwrite: bool,
    ) -> Result<Entry, ApiError> {
        let unknown = || ApiError::bad_request("Unknown upload.");
        let target = Target::decode(staged).ok_or_else(unknown)?;
        let folder = self.folder(parent).await?;
        let (parent_id, temp) = match target {
            Target::Replace { file, .. } => {
                let file = self.drive.get(&file).await?;
                return Ok(entry(parent.join(name)?, &file));
            }
            Target::New { parent, temp, .. } => (parent, temp),
        };
        if parent_id != folder.id {
            return Err(unknown());
        }
        let Some(uploaded) = self.child(&parent_id, &temp).await? else {
            return Err(ApiError::bad_request(
                "The upload was not received completely.",
            ));
        };
        let final_name = if overwrite {
            match self.child(&parent_id, name).await? {
                Some(found) if found.is_folder() => {
                    return Err(ApiError::naming_conflict(
                        "A folder has this name.",
                        parent.join(name)?.id(),
                    ))
                }
                Some(found) => self.drive.trash(&found.id).await?,
                None => {}
            }
            name.to_string()
        } else {
            self.free_name(&parent_id, name).await?
        };
        let renamed = self
            .drive
            .update(&uploaded.id, Some(&final_name), None)
            .await?;
        Ok(entry(parent.join(&final_name)?, &renamed))
    }

    async fn quota(&self) -> Result<Quota, ApiError> {
        self.storage_quota().await
    }

    async fn thumbnail(
        &self,
        file: &Entry,
        spec: &ThumbnailSpec,
    ) -> Result<ThumbnailPlan, ApiError> {
        self.thumbnail_link(file, spec).await
    }

    async fn thumbnail_image(&self, plan_path: &str) -> Result<transfer::Image, ApiError> {
        self.fetch_thumbnail(plan_path).await
    }

    async fn abort_upload(&self, staged: &str) -> Result<(), ApiError> {
        // An unfinished upload leaves nothing on Drive; a finished, uncommitted one
        // leaves its temporary file, deleted for good here.
        if let Some(Target::New { parent, temp, .. }) = Target::decode(staged) {
            if let Some(file) = self.child(&parent, &temp).await? {
                match self.drive.delete(&file.id).await {
                    Err(e) if e.status != 404 => return Err(e),
                    _ => {}
                }
            }
        }
        Ok(())
    }
}

/// `len` bytes from offset `start` of `body`.
fn window(body: transfer::ByteStream, start: u64, len: u64) -> transfer::ByteStream {
    body.scan((start, len), |(skip, left), chunk| {
        let chunk = match chunk {
            Ok(chunk) => chunk,
            Err(e) => return futures::future::ready(Some(Err(e))),
        };
        if *left == 0 {
            return futures::future::ready(None);
        }
        let n = chunk.len() as u64;
        if *skip >= n {
            *skip -= n;
            return futures::future::ready(Some(Ok(Bytes::new())));
        }
        let from = *skip as usize;
        let take = (n - *skip).min(*left) as usize;
        *skip = 0;
        *left -= take as u64;
        futures::future::ready(Some(Ok(chunk.slice(from..from + take))))
    })
    .filter(|c| futures::future::ready(!matches!(c, Ok(b) if b.is_empty())))
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_window_cuts_a_range_out_of_a_whole_body() {
        let chunks = ["abc", "defg", "hij"].map(|s| Ok(Bytes::from(s)));
        let body = futures::stream::iter(chunks).boxed();
        let got: Vec<Bytes> = window(body, 2, 6).map(|c| c.unwrap()).collect().await;
        assert_eq!(got.concat(), b"cdefgh");
    }

    #[test]
    fn upload_temporaries_and_unrepresentable_names_are_not_listed() {
        assert!(listable("report.pdf"));
        assert!(!listable(".cloudbridge-upload-1234"));
        assert!(!listable("a/b"));
    }
}
