//! `box`: a Box account through Box API 2.0 (first-party, on reqwest through
//! [`oauth::Api`]). Box addresses items by numeric id; the connector resolves the
//! Kloudless paths to ids from the root folder `0` down ([`paths`]). Box keeps names
//! unique per folder without regard to case and says so with 409 `item_name_in_use`:
//! an upload that may not overwrite takes the first free `name (n)`, one that may
//! becomes a new version of the file holding the name (same Box id, history kept).
//!
//! Transfers are `Service` plans the API tier streams through this connector: downloads
//! follow Box's redirect to its download host (with `Range`), uploads go in one request
//! or through a chunked upload session ([`upload`]). Both run in the API tier with plans
//! naming Box ids, so they need no path resolution there.
//!
//! # Layout
//! - [`wire`]: Box's items and errors as the connector reads them.
//! - [`paths`]: path → id resolution (Box as a [`crate::ids::Tree`]).
//! - [`upload`]: one-request and chunked uploads.
//! - [`feed`]: the user event stream as the change feed.
//! - [`permissions`]: sharing, through Box collaborations.
//! - `team`: the enterprise's users and groups (Team API); an admin acts as a member
//!   through `As-User`.
//! - `media`: the user's space and thumbnails.
//! - `search`: search in Box's index.

use async_trait::async_trait;
use cloudbridge_shared::{
    config::ProviderSettings,
    protocol::{AccountRef, TransferPlan},
    quota::Quota,
    storage::{Batch, Capabilities, ItemKind},
    thumbnail::{ThumbnailPlan, ThumbnailSpec},
    ApiError, Entry, ItemPath, ItemRef,
};
use futures::{future::BoxFuture, StreamExt, TryStreamExt};
use serde_json::json;

use crate::{
    feed::FeedPage,
    ids::Ids,
    oauth,
    service::{self, Api, Category, Connect, Identity, OAuth, Service, Staging},
    transfer, Filter, Storage, Walk,
};

pub mod feed;
mod media;
pub mod paths;
pub mod permissions;
mod search;
mod team;
pub mod upload;
pub mod wire;

pub use upload::{chunked_above, set_chunked_above, CHUNKED_ABOVE};

use paths::plural;
use wire::{Item, FIELDS};

/// `box`: Box.
pub static SERVICE: Service = Service {
    name: "box",
    aliases: &[],
    display_name: "Box",
    apis: &[Api::Storage],
    category: Category::FileStore,
    connect: Connect::OAuth(OAuth {
        provider: "box",
        pkce: false,
        offline_access: &[],
        identity: who,
    }),
    capabilities: service::CLOUD_CAPABILITIES,
    staging: Staging::NotOnService,
    colour: "#0061d5",
    open,
    item_key: service::raw_id_key,
    names_by_id: true,
};

fn open(ctx: &crate::Context, account: &AccountRef) -> Result<Box<dyn Storage>, ApiError> {
    let api = ctx.api(account)?;
    let Some(user) = &account.as_user else {
        return Ok(Box::new(BoxStore::new(
            api,
            &ctx.providers.box_,
            account.id,
        )));
    };
    // An admin acting as a member: Box's `As-User`, and no id memory (the admin's paths
    // are not the member's; the memory is per account).
    let mut store = BoxStore::new(
        api.clone().with_header("As-User", user),
        &ctx.providers.box_,
        0,
    );
    store.team_api = api;
    Ok(Box::new(store))
}

/// The account is named by the user's login when it is an e-mail address, else their id.
fn who<'a>(
    api: &'a oauth::Api,
    provider: &'a ProviderSettings,
) -> BoxFuture<'a, Result<Identity, ApiError>> {
    Box::pin(async move {
        let (id, login) = identity(api, provider).await?;
        Ok(Identity::by_login(id, login))
    })
}

/// The id of the root folder ("All Files").
pub const ROOT: &str = "0";

/// Names tried for an upload that may not overwrite (`name`, `name (1)`, …).
const FREE_NAME_TRIES: u32 = 1000;

/// The Box user the account's tokens act for: `(user id, login)`. Used by the OAuth
/// flow to tell accounts apart.
pub async fn identity(
    api: &oauth::Api,
    provider: &ProviderSettings,
) -> Result<(String, String), ApiError> {
    let url = format!("{}/2.0/users/me", provider.api_url.trim_end_matches('/'));
    let response = api.send(|c| c.get(&url)).await?;
    let me = wire::json(response).await?;
    match (me["id"].as_str(), me["login"].as_str()) {
        (Some(id), Some(login)) => Ok((id.to_string(), login.to_string())),
        _ => Err(ApiError::new(
            502,
            "bad_gateway",
            "Box did not say who the user is.",
        )),
    }
}

/// An account at Box.
pub struct BoxStore {
    api: oauth::Api,
    /// The Team API's access (never acting as a member).
    team_api: oauth::Api,
    /// `https://api.box.com/2.0`
    api_base: String,
    /// `https://upload.box.com/api/2.0`
    upload_base: String,
    ids: Ids,
}

impl BoxStore {
    /// The store of account `account`, reached with `api` at the hosts `provider` names.
    pub fn new(api: oauth::Api, provider: &ProviderSettings, account: i64) -> Self {
        Self {
            team_api: api.clone(),
            api,
            api_base: format!("{}/2.0", provider.api_url.trim_end_matches('/')),
            upload_base: format!("{}/api/2.0", provider.content_url.trim_end_matches('/')),
            ids: Ids::of(account),
        }
    }

    fn api_url(&self, path: &str) -> String {
        format!("{}/{path}", self.api_base)
    }

    fn upload_url(&self, path: &str) -> String {
        format!("{}/{path}", self.upload_base)
    }

    /// Would Box take a file `name` in `folder`? `None` if so, else what holds the name.
    async fn holder(&self, folder: &str, name: &str) -> Result<Option<Item>, ApiError> {
        let url = self.api_url("files/content");
        let body = json!({"name": name, "parent": {"id": folder}});
        let response = self
            .api
            .send(|c| c.request(reqwest::Method::OPTIONS, &url).json(&body))
            .await?;
        match wire::json(response).await {
            Ok(_) => Ok(None),
            Err(f) if f.name_in_use() => Ok(f.holder()),
            Err(f) => Err(f.into()),
        }
    }

    /// Where an upload of `name` into `folder` (at `parent`) goes.
    async fn upload_target(
        &self,
        folder: &Item,
        parent: &ItemPath,
        name: &str,
        overwrite: bool,
    ) -> Result<upload::Target, ApiError> {
        let target = |name: &str, file: Option<String>| upload::Target {
            folder: folder.id().to_string(),
            name: name.to_string(),
            file,
        };
        if overwrite {
            return match self.holder(folder.id(), name).await? {
                None => Ok(target(name, None)),
                Some(file) if file.kind() == Some(ItemKind::File) => {
                    Ok(target(file.name(), Some(file.id().to_string())))
                }
                Some(other) => Err(ApiError::naming_conflict(
                    "A folder has this name.",
                    parent.join(other.name())?.id(),
                )),
            };
        }
        for n in 0..FREE_NAME_TRIES {
            let candidate = if n == 0 {
                name.to_string()
            } else {
                crate::numbered(name, n)
            };
            if self.holder(folder.id(), &candidate).await?.is_none() {
                return Ok(target(&candidate, None));
            }
        }
        Err(ApiError::naming_conflict(
            "Too many files with this name.",
            parent.join(name)?.id(),
        ))
    }

    /// Every entry of the folder at `path`, all of Box's pages read once.
    async fn read_folder(&self, path: &ItemPath) -> Result<Vec<Entry>, ApiError> {
        let folder = self.item_at(path).await?;
        if folder.kind() != Some(ItemKind::Folder) {
            return Err(ApiError::not_found("No folder has this id."));
        }
        Ok(self
            .children(folder.id(), path)
            .await?
            .into_iter()
            .map(|(path, item)| item.entry(path))
            .collect())
    }
}

#[async_trait]
impl Storage for BoxStore {
    fn capabilities(&self) -> Capabilities {
        SERVICE.capabilities.to_vec()
    }

    async fn feed_start(&self) -> Result<Option<String>, ApiError> {
        self.stream_now().await.map(Some)
    }

    async fn changes(&self, cursor: &str) -> Result<FeedPage, ApiError> {
        self.events(cursor).await
    }

    fn change_key(&self, entry: &Entry) -> String {
        crate::feed::raw_id_key(entry)
    }

    async fn validate(&self) -> Result<(), ApiError> {
        let url = self.api_url("users/me");
        let response = self.api.send(|c| c.get(&url)).await?;
        wire::json(response).await?;
        Ok(())
    }

    fn sharing(&self) -> Option<&dyn crate::sharing::Sharing> {
        Some(self)
    }

    fn team(&self) -> Option<&dyn crate::team::Team> {
        Some(self)
    }

    async fn locate(&self, item: &ItemRef) -> Result<ItemPath, ApiError> {
        crate::ids::place_of(self, &self.ids, item).await
    }

    async fn lookup(&self, item: &ItemRef) -> Result<Entry, ApiError> {
        match item {
            ItemRef::Path(path) => self.metadata(path).await,
            ItemRef::Native { id, kind } => {
                let (found, path) = crate::ids::locate(self, &self.ids, id, *kind).await?;
                Ok(found.entry(path))
            }
        }
    }

    async fn metadata(&self, path: &ItemPath) -> Result<Entry, ApiError> {
        Ok(self.item_at(path).await?.entry(path.clone()))
    }

    async fn batch(
        &self,
        path: &ItemPath,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Option<Batch>, ApiError> {
        let folder = crate::ids::folder_id(self, &self.ids, path).await?;
        let (items, next) = self.children_page(&folder, path, cursor, limit).await?;
        let entries = items
            .into_iter()
            .map(|(path, item)| item.entry(path))
            .collect();
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
        let folder = self.folder(parent).await?;
        let url = self.api_url("folders");
        let body = json!({"name": name, "parent": {"id": folder.id()}});
        let response = self
            .api
            .send(|c| c.post(&url).query(&[("fields", FIELDS)]).json(&body))
            .await?;
        match wire::json(response).await {
            Ok(created) => {
                let item = Item(created);
                self.ids.put(&path, item.id(), ItemKind::Folder);
                Ok((item.entry(path), true))
            }
            Err(f) if f.name_in_use() => {
                let holder = f.holder().map(|h| (h.kind(), h.name().to_string()));
                let existing = match &holder {
                    Some((_, name)) => parent.join(name)?,
                    None => path,
                };
                let found = holder.and_then(|(kind, _)| kind).unwrap_or(ItemKind::File);
                crate::reuse_folder(found, conflict_if_exists, &existing)?;
                Ok((self.metadata(&existing).await?, false))
            }
            Err(f) => Err(f.into()),
        }
    }

    async fn remove(&self, item: &Entry, recursive: bool) -> Result<(), ApiError> {
        let (kind, id) = (item.kind, crate::own_id(item)?);
        let url = self.api_url(&format!("{}/{id}", plural(kind)));
        let response = self
            .api
            .send(|c| {
                let request = c.delete(&url);
                match kind {
                    ItemKind::Folder => request.query(&[("recursive", recursive)]),
                    ItemKind::File => request,
                }
            })
            .await?;
        self.ids.forget(&item.path);
        if response.status().is_success() {
            return Ok(());
        }
        Err(wire::Failure::read(response).await.into())
    }

    async fn relocate_to(
        &self,
        source: &Entry,
        to: &ItemPath,
        copy: bool,
    ) -> Result<Entry, ApiError> {
        let (from, kind, id) = (&source.path, source.kind, crate::own_id(source)?);
        let parent = to.parent().expect("a destination has a parent");
        let folder = self.folder(&parent).await?;
        let body = json!({"name": to.name(), "parent": {"id": folder.id()}});
        let url = self.api_url(&format!("{}/{id}", plural(kind)));
        let response = if copy {
            let url = format!("{url}/copy");
            self.api
                .send(|c| c.post(&url).query(&[("fields", FIELDS)]).json(&body))
                .await?
        } else {
            self.api
                .send(|c| c.put(&url).query(&[("fields", FIELDS)]).json(&body))
                .await?
        };
        if !copy {
            self.ids.forget(from);
        }
        match wire::json(response).await {
            Ok(moved) => {
                let item = Item(moved);
                self.ids.forget(to);
                self.ids.put(to, item.id(), kind);
                Ok(item.entry(to.clone()))
            }
            Err(f) if f.name_in_use() => Err(crate::taken(to)),
            Err(f) => Err(f.into()),
        }
    }

    async fn plan_download(&self, path: &ItemPath) -> Result<(TransferPlan, Entry), ApiError> {
        let item = self.item_at(path).await?;
        if item.kind() != Some(ItemKind::File) {
            return Err(ApiError::not_found("No file has this id."));
        }
        let plan = TransferPlan::Service {
            path: item.id().to_string(),
            staged: None,
        };
        Ok((plan, item.entry(path.clone())))
    }

    async fn plan_upload(
        &self,
        parent: &ItemPath,
        name: &str,
        overwrite: bool,
    ) -> Result<TransferPlan, ApiError> {
        parent.join(name)?;
        let folder = self.folder(parent).await?;
        let target = self.upload_target(&folder, parent, name, overwrite).await?;
        let landing = parent.join(&target.name)?;
        Ok(TransferPlan::Service {
            path: serde_json::to_string(&target).map_err(ApiError::internal)?,
            staged: Some(landing.id()),
        })
    }

    /// The upload went straight to its place (Box shows nothing until it completes):
    /// this reports the file.
    async fn commit_upload(
        &self,
        staged: &str,
        parent: &ItemPath,
        _name: &str,
        _overwrite: bool,
    ) -> Result<Entry, ApiError> {
        let landing = ItemPath::from_id(staged)?;
        if landing.parent().as_ref() != Some(parent) {
            return Err(ApiError::bad_request("Unknown upload."));
        }
        match self.item_at(&landing).await {
            Ok(item) if item.kind() == Some(ItemKind::File) => Ok(item.entry(landing)),
            Ok(_) => Err(ApiError::bad_request(
                "The upload was not received completely.",
            )),
            Err(e) if e.status == 404 => Err(ApiError::bad_request(
                "The upload was not received completely.",
            )),
            Err(e) => Err(e),
        }
    }

    /// Nothing is staged at Box: an upload appears whole or not at all, and a session
    /// left open is aborted by the upload itself.
    async fn abort_upload(&self, _staged: &str) -> Result<(), ApiError> {
        Ok(())
    }

    async fn download(
        &self,
        plan_path: &str,
        range: Option<(u64, u64)>,
    ) -> Result<transfer::Download, ApiError> {
        let url = self.api_url(&format!("files/{plan_path}/content"));
        let ranged = |request: reqwest::RequestBuilder| match range {
            Some((start, end)) => {
                request.header(reqwest::header::RANGE, format!("bytes={start}-{end}"))
            }
            None => request,
        };
        let mut waits = 0;
        let response = loop {
            let response = self
                .api
                .send(|c| ranged(c.get(&url).timeout(oauth::TRANSFER_TIMEOUT)))
                .await?;
            let status = response.status();
            if status == reqwest::StatusCode::ACCEPTED && waits < 5 {
                // Just uploaded, not downloadable yet.
                waits += 1;
                let wait =
                    oauth::retry_after(&response).unwrap_or(std::time::Duration::from_secs(1));
                tokio::time::sleep(wait.min(std::time::Duration::from_secs(8))).await;
                continue;
            }
            if status.is_redirection() {
                // A client that does not follow redirects itself: fetch the download
                // URL (it carries its own authorization).
                let location = response
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .ok_or_else(|| {
                        ApiError::new(502, "bad_gateway", "Box's redirect has no location.")
                    })?
                    .to_string();
                break ranged(self.api.http.get(location))
                    .send()
                    .await
                    .map_err(oauth::unreachable)?;
            }
            break response;
        };
        let status = response.status();
        if !status.is_success() {
            return Err(wire::Failure::read(response).await.into());
        }
        if range.is_some() && status != reqwest::StatusCode::PARTIAL_CONTENT {
            return Err(ApiError::new(
                502,
                "bad_gateway",
                "Box ignored the byte range.",
            ));
        }
        let length = response.content_length();
        let body = response
            .bytes_stream()
            .map_err(std::io::Error::other)
            .boxed();
        Ok(transfer::Download { body, length })
    }

    async fn quota(&self) -> Result<Quota, ApiError> {
        self.space().await
    }

    async fn thumbnail(
        &self,
        file: &Entry,
        spec: &ThumbnailSpec,
    ) -> Result<ThumbnailPlan, ApiError> {
        self.thumbnail_target(file, spec)
    }

    async fn thumbnail_image(&self, plan_path: &str) -> Result<transfer::Image, ApiError> {
        self.fetch_thumbnail(plan_path).await
    }

    async fn upload(
        &self,
        plan_path: &str,
        staged: Option<&str>,
        body: transfer::ByteStream,
        length: Option<u64>,
    ) -> Result<u64, ApiError> {
        let target: upload::Target = serde_json::from_str(plan_path)
            .map_err(|_| ApiError::bad_request("Unknown upload."))?;
        let (_, written) = self
            .send_body(&target, body, length, staged.unwrap_or_default())
            .await?;
        Ok(written)
    }

    /// Lists every folder once (Box pages are read whole; the default walk would list a
    /// folder again for each of its pages).
    async fn walk(&self, under: &ItemPath, keep: &Filter, limit: usize) -> Result<Walk, ApiError> {
        let mut walk = Walk::default();
        let top = self.item_at(under).await?;
        let mut folders = std::collections::VecDeque::from([(under.clone(), top.id().to_string())]);
        while let Some((path, id)) = folders.pop_front() {
            let children = match self.children(&id, &path).await {
                Ok(children) => children,
                // Deleted while we walked: nothing more below it.
                Err(e) if e.status == 404 => continue,
                Err(e) => return Err(e),
            };
            for (child, item) in children {
                if walk.visited == limit {
                    walk.truncated = true;
                    return Ok(walk);
                }
                walk.visited += 1;
                if item.kind() == Some(ItemKind::Folder) {
                    folders.push_back((child.clone(), item.id().to_string()));
                }
                let entry = item.entry(child);
                if keep(&entry) {
                    walk.found.push(entry);
                }
            }
        }
        Ok(walk)
    }
}
