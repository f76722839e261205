//! `dropbox`: a Dropbox account through Dropbox API v2, with OAuth 2.0 tokens.
//!
//! Dropbox addresses items by path, so our paths are Dropbox paths (case-insensitive
//! there: `Docs/a.txt` and `docs/A.TXT` are one item). Transfers are `Service` plans
//! streamed by the API tier through [`Storage::download`] and [`Storage::upload`]. An
//! upload's final name is settled when it is planned (the first free `name (n)` unless
//! overwriting), and the bytes are committed there by Dropbox itself at the end of the
//! body (`files/upload`, or `upload_session/finish` with the commit), atomically and
//! without autorename: a name taken meanwhile is a 409. Nothing partial is ever visible,
//! so discarding an upload has nothing to remove (an unfinished upload session is
//! dropped by Dropbox after 7 days).
//!
//! # Layout
//! - [`client`]: calls (RPC, content upload, download), Dropbox errors as tags, write
//!   contention waited out.
//! - [`paths`]: our paths as Dropbox paths, Dropbox metadata as entries.
//! - [`upload`]: one request or an upload session, in bounded pieces.
//! - [`permissions`]: sharing, through the members of files and shared folders.
//! - `team`: a Dropbox Business team's members and groups (Team API); an admin's calls
//!   act as a member through `Dropbox-API-Select-User`.
//! - `media`: space usage and thumbnails.
//! - `search`: search in Dropbox's index, and recursive listings.

use async_trait::async_trait;
use cloudbridge_shared::{
    config::ProviderSettings,
    protocol::{AccountRef, TransferPlan},
    quota::Quota,
    storage::{Batch, Capabilities, ItemKind},
    thumbnail::{ThumbnailPlan, ThumbnailSpec},
    ApiError, Entry, ItemPath, ItemRef,
};
use futures::{future::BoxFuture, TryStreamExt};
use serde_json::{json, Value};

use crate::{
    feed::{Change, FeedPage},
    oauth::Api,
    service::{self, Category, Connect, Identity, OAuth, Service, Staging},
    transfer, Filter, Storage, Walk,
};

pub mod client;
mod media;
pub mod paths;
pub mod permissions;
mod search;
mod team;
pub mod upload;

pub use upload::UPLOAD_CHUNK;

use client::{Client, Error};
use paths::dropbox_path;
use upload::Mode;

/// `dropbox`.
pub static SERVICE: Service = Service {
    name: "dropbox",
    aliases: &[],
    display_name: "Dropbox",
    apis: &[service::Api::Storage],
    category: Category::FileStore,
    connect: Connect::OAuth(OAuth {
        provider: "dropbox",
        pkce: true,
        offline_access: &[("token_access_type", "offline")],
        identity: who,
    }),
    capabilities: service::CLOUD_RECURSIVE_CAPABILITIES,
    staging: Staging::NotOnService,
    colour: "#0061fe",
    open,
    item_key: service::raw_id_key,
    names_by_id: true,
};

fn open(ctx: &crate::Context, account: &AccountRef) -> Result<Box<dyn Storage>, ApiError> {
    Ok(Box::new(DropboxStore::new(ctx, account)?))
}

/// The account is named by the user's e-mail address, else their account id.
fn who<'a>(
    api: &'a Api,
    provider: &'a ProviderSettings,
) -> BoxFuture<'a, Result<Identity, ApiError>> {
    Box::pin(async move {
        let (id, display) = identity(api, provider).await?;
        Ok(Identity::by_login(id, display))
    })
}

/// Entries asked for per `list_folder` page (Dropbox's largest).
const LIST_LIMIT: u32 = 2000;

/// The account id and a human name (e-mail, else display name) of the Dropbox user the
/// tokens of `api` belong to (`users/get_current_account`).
pub async fn identity(
    api: &Api,
    provider: &ProviderSettings,
) -> Result<(String, String), ApiError> {
    let account = Client::new(api.clone(), provider)
        .rpc("users/get_current_account", &Value::Null)
        .await?;
    let id = account["account_id"]
        .as_str()
        .filter(|id| !id.is_empty())
        .ok_or_else(|| ApiError::new(502, "bad_gateway", "Dropbox named no account."))?;
    let name = account["email"]
        .as_str()
        .filter(|e| !e.is_empty())
        .or_else(|| account["name"]["display_name"].as_str())
        .unwrap_or(id);
    Ok((id.to_string(), name.to_string()))
}

/// A listing's error: a path that is no folder is "not found".
fn no_folder(e: Error) -> ApiError {
    if e.has("not_found") || e.has("not_folder") {
        ApiError::not_found("No folder has this id.")
    } else {
        e.into()
    }
}

fn invalid_parent(message: &str) -> ApiError {
    ApiError::new(400, "invalid_parent_folder", message)
}

/// The token of a planned upload: how it writes and where (`add:<id>`,
/// `overwrite:<id>`).
fn staged_token(mode: Mode, target: &ItemPath) -> String {
    let mode = match mode {
        Mode::Add => "add",
        Mode::Overwrite => "overwrite",
    };
    format!("{mode}:{}", target.id())
}

fn parse_staged(staged: &str) -> Result<(Mode, ItemPath), ApiError> {
    let unknown = || ApiError::bad_request("Unknown upload.");
    let (mode, id) = staged.split_once(':').ok_or_else(unknown)?;
    let mode = match mode {
        "add" => Mode::Add,
        "overwrite" => Mode::Overwrite,
        _ => return Err(unknown()),
    };
    let target = ItemPath::from_id(id).map_err(|_| unknown())?;
    if target.is_root() {
        return Err(unknown());
    }
    Ok((mode, target))
}

/// A Dropbox account.
pub struct DropboxStore {
    client: Client,
    /// The team routes' client (never acting as a member).
    team: Client,
}

impl DropboxStore {
    /// The store of `account`, calling Dropbox with the account's tokens (as the team
    /// member `X-Kloudless-As-User` named, if any).
    pub fn new(ctx: &crate::Context, account: &AccountRef) -> Result<Self, ApiError> {
        let team = Client::new(ctx.api(account)?, &ctx.providers.dropbox);
        Ok(Self {
            client: team.clone().acting_as(account.as_user.clone()),
            team,
        })
    }

    /// The store of the Dropbox account `api` calls as, at the hosts `provider` names
    /// (tools and tests; workers use [`DropboxStore::new`]).
    pub fn with_api(api: Api, provider: &ProviderSettings) -> Self {
        let team = Client::new(api, provider);
        Self {
            client: team.clone(),
            team,
        }
    }

    /// Metadata of an item (never the root), or `None` when nothing is there.
    async fn find(&self, path: &ItemPath) -> Result<Option<Entry>, ApiError> {
        let arg = json!({ "path": dropbox_path(path) });
        match self.client.rpc("files/get_metadata", &arg).await {
            Ok(metadata) => paths::at(path, metadata).map(Some),
            Err(e) if e.has("not_found") => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// The item Dropbox calls `id` (`id:…`, kept by renames and moves), at the path
    /// Dropbox displays for it; 404 when it is gone or not of `kind`.
    async fn by_id(&self, id: &str, kind: ItemKind) -> Result<Entry, ApiError> {
        let gone = || ApiError::not_found("No file or folder has this id.");
        if !id.starts_with("id:") {
            return Err(gone());
        }
        let arg = json!({ "path": id });
        let found = match self.client.rpc("files/get_metadata", &arg).await {
            Ok(metadata) => paths::listed(metadata),
            Err(e) if e.has("not_found") || e.has("malformed_path") => None,
            Err(e) => return Err(e.into()),
        };
        found.filter(|e| e.kind == kind).ok_or_else(gone)
    }

    async fn kind_of(&self, path: &ItemPath) -> Result<Option<ItemKind>, ApiError> {
        if path.is_root() {
            return Ok(Some(ItemKind::Folder));
        }
        Ok(self.find(path).await?.map(|e| e.kind))
    }

    /// Checks that `parent` is a folder (400 `invalid_parent_folder` otherwise).
    async fn folder(&self, parent: &ItemPath) -> Result<(), ApiError> {
        match self.kind_of(parent).await? {
            Some(ItemKind::Folder) => Ok(()),
            Some(ItemKind::File) => Err(invalid_parent("The parent is not a folder.")),
            None => Err(invalid_parent("The parent folder does not exist.")),
        }
    }

    /// Where an upload of `name` lands (see [`crate::upload_target`]).
    async fn target(
        &self,
        parent: &ItemPath,
        name: &str,
        overwrite: bool,
    ) -> Result<ItemPath, ApiError> {
        crate::upload_target(parent, name, overwrite, |p| async move {
            self.kind_of(&p).await
        })
        .await
    }
}

#[async_trait]
impl Storage for DropboxStore {
    fn capabilities(&self) -> Capabilities {
        SERVICE.capabilities.to_vec()
    }

    async fn validate(&self) -> Result<(), ApiError> {
        self.client
            .rpc("users/get_current_account", &Value::Null)
            .await?;
        Ok(())
    }

    fn sharing(&self) -> Option<&dyn crate::sharing::Sharing> {
        Some(self)
    }

    fn team(&self) -> Option<&dyn crate::team::Team> {
        Some(self)
    }

    async fn locate(&self, item: &ItemRef) -> Result<ItemPath, ApiError> {
        match item {
            ItemRef::Path(path) => Ok(path.clone()),
            ItemRef::Native { id, kind } => Ok(self.by_id(id, *kind).await?.path),
        }
    }

    async fn lookup(&self, item: &ItemRef) -> Result<Entry, ApiError> {
        match item {
            ItemRef::Path(path) => self.metadata(path).await,
            ItemRef::Native { id, kind } => self.by_id(id, *kind).await,
        }
    }

    async fn metadata(&self, path: &ItemPath) -> Result<Entry, ApiError> {
        if path.is_root() {
            // Dropbox has no metadata for the root folder.
            return Ok(Entry {
                path: ItemPath::root(),
                kind: ItemKind::Folder,
                size: None,
                created: None,
                modified: None,
                mime_type: None,
                raw: None,
                id: None,
                parent_id: None,
            });
        }
        self.find(path)
            .await?
            .ok_or_else(|| ApiError::not_found("No such file or folder."))
    }

    async fn batch(
        &self,
        path: &ItemPath,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Option<Batch>, ApiError> {
        let mut page = match cursor {
            None => {
                let limit = limit.clamp(1, 2000);
                let arg = json!({ "path": dropbox_path(path), "limit": limit });
                self.client.rpc("files/list_folder", &arg).await
            }
            Some(cursor) => {
                let arg = json!({ "cursor": cursor });
                self.client.rpc("files/list_folder/continue", &arg).await
            }
        }
        .map_err(|e| {
            if e.has("reset") {
                ApiError::invalid_parameters(
                    "Dropbox no longer takes this `next_page`: list the folder from page 1.",
                )
            } else {
                no_folder(e)
            }
        })?;
        let entries = match page["entries"].take() {
            Value::Array(found) => found
                .into_iter()
                .filter_map(|m| paths::child(path, m))
                .collect(),
            _ => Vec::new(),
        };
        let next = (page["has_more"] == true)
            .then(|| page["cursor"].as_str().map(str::to_string))
            .flatten();
        Ok(Some(Batch { entries, next }))
    }

    async fn subtree_batch(
        &self,
        path: &ItemPath,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Option<Batch>, ApiError> {
        self.subtree(path, cursor, limit).await.map(Some)
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
        self.folder(parent).await?;
        let arg = json!({ "path": dropbox_path(&path), "autorename": false });
        match self.client.rpc("files/create_folder_v2", &arg).await {
            Ok(created) => Ok((paths::at(&path, created["metadata"].clone())?, true)),
            Err(e) if e.is(&["path", "conflict", "folder"]) && !conflict_if_exists => {
                Ok((self.metadata(&path).await?, false))
            }
            Err(e) if e.is(&["path", "conflict", "file_ancestor"]) => {
                Err(invalid_parent("The parent is not a folder."))
            }
            Err(e) if e.has("conflict") => Err(ApiError::naming_conflict(
                "An item with this name already exists.",
                path.id(),
            )),
            Err(e) => Err(e.into()),
        }
    }

    async fn remove(&self, item: &Entry, recursive: bool) -> Result<(), ApiError> {
        let path = &item.path;
        if item.kind == ItemKind::Folder && !recursive {
            // Dropbox deletes folders with their contents: look first.
            let arg = json!({ "path": dropbox_path(path), "limit": 1 });
            let page = self.client.rpc("files/list_folder", &arg).await?;
            let empty = page["entries"].as_array().is_none_or(Vec::is_empty);
            if !empty {
                return Err(ApiError::new(
                    403,
                    "folder_not_empty",
                    "The folder is not empty.",
                ));
            }
        }
        let arg = json!({ "path": dropbox_path(path) });
        self.client.rpc("files/delete_v2", &arg).await?;
        Ok(())
    }

    async fn relocate_to(
        &self,
        source: &Entry,
        to: &ItemPath,
        copy: bool,
    ) -> Result<Entry, ApiError> {
        let from = &source.path;
        self.folder(&to.parent().expect("a destination has a parent"))
            .await?;
        let route = if copy {
            "files/copy_v2"
        } else {
            "files/move_v2"
        };
        let arg = json!({
            "from_path": dropbox_path(from),
            "to_path": dropbox_path(to),
            "autorename": false,
        });
        match self.client.rpc(route, &arg).await {
            Ok(moved) => paths::at(to, moved["metadata"].clone()),
            Err(e) if e.is(&["to", "conflict"]) => Err(crate::taken(to)),
            Err(e) => Err(e.into()),
        }
    }

    async fn plan_download(&self, path: &ItemPath) -> Result<(TransferPlan, Entry), ApiError> {
        let entry = self.metadata(path).await?;
        if entry.kind != ItemKind::File {
            return Err(ApiError::not_found("No file has this id."));
        }
        let plan = TransferPlan::Service {
            path: path.as_str().to_string(),
            staged: None,
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
        let target = self.target(parent, name, overwrite).await?;
        let mode = if overwrite {
            Mode::Overwrite
        } else {
            Mode::Add
        };
        Ok(TransferPlan::Service {
            path: target.as_str().to_string(),
            staged: Some(staged_token(mode, &target)),
        })
    }

    async fn commit_upload(
        &self,
        staged: &str,
        parent: &ItemPath,
        _name: &str,
        _overwrite: bool,
    ) -> Result<Entry, ApiError> {
        // Dropbox committed the file when the body ended: look at it.
        let (_, target) = parse_staged(staged)?;
        if target.parent().as_ref() != Some(parent) {
            return Err(ApiError::bad_request("Unknown upload."));
        }
        match self.find(&target).await? {
            Some(entry) if entry.kind == ItemKind::File => Ok(entry),
            _ => Err(ApiError::bad_request(
                "The upload was not received completely.",
            )),
        }
    }

    async fn abort_upload(&self, staged: &str) -> Result<(), ApiError> {
        // Nothing was made visible before the body ended; nothing to remove.
        parse_staged(staged).map(|_| ())
    }

    async fn download(
        &self,
        plan_path: &str,
        range: Option<(u64, u64)>,
    ) -> Result<transfer::Download, ApiError> {
        let path = ItemPath::parse(plan_path).map_err(|_| ApiError::internal("bad plan"))?;
        let response = self
            .client
            .download(&dropbox_path(&path), range)
            .await
            .map_err(|e| match e {
                e if e.has("not_found") || e.has("not_file") => {
                    ApiError::not_found("No file has this id.")
                }
                e => e.into(),
            })?;
        if range.is_some() && response.status() != reqwest::StatusCode::PARTIAL_CONTENT {
            return Err(ApiError::new(
                502,
                "bad_gateway",
                "Dropbox ignored the byte range.",
            ));
        }
        let length = response.content_length();
        let body = Box::pin(response.bytes_stream().map_err(std::io::Error::other));
        Ok(transfer::Download { body, length })
    }

    async fn quota(&self) -> Result<Quota, ApiError> {
        self.space_usage().await
    }

    async fn thumbnail(
        &self,
        file: &Entry,
        spec: &ThumbnailSpec,
    ) -> Result<ThumbnailPlan, ApiError> {
        self.thumbnail_arg(file, spec)
    }

    async fn thumbnail_image(&self, plan_path: &str) -> Result<transfer::Image, ApiError> {
        self.fetch_thumbnail(plan_path).await
    }

    async fn upload(
        &self,
        plan_path: &str,
        staged: Option<&str>,
        body: transfer::ByteStream,
        _length: Option<u64>,
    ) -> Result<u64, ApiError> {
        let (mode, target) = parse_staged(staged.unwrap_or_default())?;
        if target.as_str() != plan_path {
            return Err(ApiError::internal("bad plan"));
        }
        let (written, _) = upload::write(
            &self.client,
            &dropbox_path(&target),
            mode,
            body,
            &target.id(),
        )
        .await?;
        Ok(written)
    }

    async fn feed_start(&self) -> Result<Option<String>, ApiError> {
        let arg = json!({"path": "", "recursive": true, "include_deleted": true});
        let latest = self
            .client
            .rpc("files/list_folder/get_latest_cursor", &arg)
            .await?;
        let cursor = latest["cursor"]
            .as_str()
            .filter(|c| !c.is_empty())
            .ok_or_else(|| ApiError::new(502, "bad_gateway", "Dropbox gave no cursor."))?;
        Ok(Some(cursor.to_string()))
    }

    async fn changes(&self, cursor: &str) -> Result<FeedPage, ApiError> {
        let arg = json!({ "cursor": cursor });
        let page = match self.client.rpc("files/list_folder/continue", &arg).await {
            Ok(page) => page,
            Err(e) if e.is(&["reset"]) => return Ok(FeedPage::Expired),
            Err(e) => return Err(e.into()),
        };
        let cursor = page["cursor"]
            .as_str()
            .filter(|c| !c.is_empty())
            .ok_or_else(|| ApiError::new(502, "bad_gateway", "Dropbox gave no cursor."))?;
        let changes = page["entries"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|metadata| change_of(metadata.clone()))
            .collect();
        Ok(FeedPage::Changes {
            changes,
            cursor: cursor.to_string(),
            more: page["has_more"] == true,
        })
    }

    fn change_key(&self, entry: &Entry) -> String {
        crate::feed::raw_id_key(entry)
    }

    async fn walk(&self, under: &ItemPath, keep: &Filter, limit: usize) -> Result<Walk, ApiError> {
        // One recursive listing instead of a folder-by-folder crawl.
        let arg = json!({ "path": dropbox_path(under), "recursive": true, "limit": LIST_LIMIT });
        let mut page = match self.client.rpc("files/list_folder", &arg).await {
            Ok(page) => page,
            Err(e) if e.has("not_found") || e.has("not_folder") => return Ok(Walk::default()),
            Err(e) => return Err(e.into()),
        };
        let mut walk = Walk::default();
        let below = under.as_str().to_lowercase();
        loop {
            for metadata in page["entries"].as_array().into_iter().flatten() {
                let Some(entry) = paths::listed(metadata.clone()) else {
                    continue;
                };
                // The folder itself comes first in a recursive listing of it.
                if entry.path.as_str().to_lowercase() == below {
                    continue;
                }
                if walk.visited == limit {
                    walk.truncated = true;
                    return Ok(walk);
                }
                walk.visited += 1;
                if keep(&entry) {
                    walk.found.push(entry);
                }
            }
            if page["has_more"] != true {
                return Ok(walk);
            }
            let cursor = json!({ "cursor": page["cursor"] });
            page = self
                .client
                .rpc("files/list_folder/continue", &cursor)
                .await?;
        }
    }
}

/// The change a `list_folder/continue` entry reports; `None` for the root itself.
///
/// Files and folders are keyed by their Dropbox `id`. A `deleted` entry carries no id
/// (Dropbox does not say what was there): its key is the path it names, as shown
/// (`Docs/a.txt`), meaning whatever was at that path and below it. A rename or move
/// shows as its old path deleted and the id at its new path.
fn change_of(metadata: Value) -> Option<Change> {
    let shown = metadata["path_display"]
        .as_str()
        .or_else(|| metadata["path_lower"].as_str())?
        .trim_start_matches('/')
        .to_string();
    if shown.is_empty() {
        return None;
    }
    if metadata[".tag"] == "deleted" {
        return Some(Change {
            key: shown,
            entry: None,
            hint: None,
        });
    }
    let key = metadata["id"].as_str().map(str::to_string)?;
    Some(Change {
        key,
        // A name this API cannot address is out of its view.
        entry: paths::listed(metadata),
        hint: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feed_entries_become_changes() {
        let file = json!({".tag": "file", "name": "A.txt", "path_display": "/Docs/A.txt",
            "path_lower": "/docs/a.txt", "id": "id:1", "size": 3});
        let change = change_of(file).unwrap();
        assert_eq!(change.key, "id:1");
        assert_eq!(change.entry.unwrap().path.as_str(), "Docs/A.txt");
        let deleted = json!({".tag": "deleted", "name": "a.txt", "path_display": "/Docs/a.txt",
            "path_lower": "/docs/a.txt"});
        let change = change_of(deleted).unwrap();
        assert_eq!((change.key.as_str(), change.entry), ("Docs/a.txt", None));
        let odd = json!({".tag": "file", "name": "x\\y", "path_display": "/x\\y", "id": "id:2"});
        assert_eq!(change_of(odd).unwrap().entry, None);
        assert!(change_of(json!({".tag": "folder", "path_display": "", "id": "id:0"})).is_none());
    }

    #[test]
    fn staged_tokens_carry_mode_and_target() {
        let target = ItemPath::parse("Docs/a (1).txt").unwrap();
        let token = staged_token(Mode::Overwrite, &target);
        assert_eq!(parse_staged(&token).unwrap(), (Mode::Overwrite, target));
        assert!(parse_staged("add:root").is_err());
        assert!(parse_staged("move:eA").is_err());
        assert!(parse_staged("nothing").is_err());
    }
}
