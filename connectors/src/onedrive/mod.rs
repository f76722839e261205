//! `onedrive` and `onedrivebiz`: the signed-in user's drive on Microsoft Graph
//! (`/v1.0/me/drive`), on reqwest through the account's [`Api`] (token refresh, throttling).
//! Both services make the same calls; only their names and tokens differ.
//!
//! Items are addressed by path on Cloudbridge's side and by id on Graph's, resolved by
//! [`paths`]. Downloads and uploads are [`TransferPlan::Service`] plans: the API tier
//! streams through [`OneDrive::download`] (Graph's `/content`, which redirects to a
//! pre-authorised URL) and [`OneDrive::upload`] (see [`upload`]). Graph creates an
//! uploaded file only when all of it has arrived, so the final name is settled when the
//! upload is planned and nothing is staged.
//!
//! # Layout
//! - [`graph`]: URLs, requests, Graph errors and `driveItem`s as entries.
//! - [`paths`]: paths to item ids (Graph as a [`crate::ids::Tree`]).
//! - [`upload`]: simple uploads and upload sessions.
//! - [`copy`]: following an asynchronous copy to its end.
//! - [`feed`]: the delta query as the change feed.
//! - [`permissions`]: sharing, through the item's Graph permissions, invitations and links.
//! - `media`: the drive's quota and thumbnails.
//! - `search`: search in the drive's index.
//! - `team`: the organisation's users and groups on Graph (Team API, OneDrive for
//!   Business); an admin acts as a member through `/users/{id}/drive`.

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
use futures::{future::BoxFuture, StreamExt, TryStreamExt};
use reqwest::{header, Method, StatusCode};
use serde_json::{json, Value};

use crate::{
    feed::FeedPage,
    oauth::Api,
    service::{self, Category, Connect, Identity, OAuth, Service, Staging},
    transfer::{ByteStream, Download},
    Storage,
};

pub mod copy;
pub mod feed;
pub mod graph;
mod media;
pub mod paths;
pub mod permissions;
mod search;
mod team;
pub mod upload;

use graph::Graph;
use paths::Paths;

/// `onedrive`: OneDrive (personal), Kloudless' `skydrive`.
pub static SERVICE: Service = Service {
    aliases: &["skydrive"],
    ..ONEDRIVE
};

/// `onedrivebiz`: OneDrive for Business, the same Graph calls with OneDrive's settings
/// and client keys.
pub static BUSINESS: Service = Service {
    name: "onedrivebiz",
    display_name: "OneDrive for Business",
    ..ONEDRIVE
};

/// What the two services share.
const ONEDRIVE: Service = Service {
    name: "onedrive",
    aliases: &[],
    display_name: "OneDrive",
    apis: &[service::Api::Storage],
    category: Category::FileStore,
    connect: Connect::OAuth(OAuth {
        provider: "onedrive",
        pkce: true,
        offline_access: &[],
        identity: who,
    }),
    capabilities: service::CLOUD_CAPABILITIES,
    staging: Staging::NotOnService,
    colour: "#0078d4",
    open,
    item_key: service::raw_id_key,
    names_by_id: true,
};

fn open(ctx: &crate::Context, account: &AccountRef) -> Result<Box<dyn Storage>, ApiError> {
    let business = account.service == BUSINESS.name;
    let Some(user) = account.as_user.as_deref() else {
        let mut drive = OneDrive::new(ctx.api(account)?, &ctx.providers.onedrive, account.id);
        drive.business = business;
        return Ok(Box::new(drive));
    };
    if !business {
        return Err(ApiError::not_implemented(
            "A personal OneDrive has no team to act as a member of.",
        ));
    }
    // An admin acting as a member: that user's drive, and no id memory (the memory is
    // per account, and the member's paths are not the admin's).
    let graph = Graph::new(ctx.api(account)?, &ctx.providers.onedrive);
    Ok(Box::new(OneDrive {
        paths: Paths::new(graph.clone().acting_as(Some(user)), 0),
        graph: graph.clone().acting_as(Some(user)),
        business,
        team: graph,
    }))
}

/// The account is named by the owner's e-mail address, else their stable id.
fn who<'a>(
    api: &'a Api,
    provider: &'a ProviderSettings,
) -> BoxFuture<'a, Result<Identity, ApiError>> {
    Box::pin(async move {
        let (id, display) = identity(api, provider).await?;
        Ok(Identity::by_login(id, display))
    })
}

/// Who an access token belongs to: `(stable user id, name)`, from the owner of the user's
/// drive (`GET /v1.0/me/drive`, allowed by the `Files.*` scopes alone). The name is the
/// owner's e-mail address, as other services' accounts are named, else their display
/// name, else the id.
pub async fn identity(
    api: &Api,
    settings: &ProviderSettings,
) -> Result<(String, String), ApiError> {
    let graph = Graph::new(api.clone(), settings);
    let drive = graph.get(&graph.drive("")).await?;
    let owner = &drive["owner"]["user"];
    let id = owner["id"]
        .as_str()
        .filter(|id| !id.is_empty())
        .ok_or_else(|| graph::bad_gateway("The drive does not name its owner."))?;
    let name = [&owner["email"], &owner["displayName"]]
        .into_iter()
        .find_map(|v| v.as_str().filter(|s| !s.is_empty()))
        .unwrap_or(id);
    Ok((id.to_string(), name.to_string()))
}

/// A OneDrive (personal or business) account.
pub struct OneDrive {
    graph: Graph,
    paths: Paths,
    /// OneDrive for Business: the organisation's users and groups are on Graph too.
    business: bool,
    /// The Team API's Graph (never acting as a member).
    team: Graph,
}

impl OneDrive {
    /// The drive of account `account_id` (0 while it is being imported), reached with
    /// `api` at the service `settings` point to.
    pub fn new(api: Api, settings: &ProviderSettings, account_id: i64) -> Self {
        let graph = Graph::new(api, settings);
        Self {
            paths: Paths::new(graph.clone(), account_id),
            team: graph.clone(),
            graph,
            business: false,
        }
    }

    /// The folder id of `parent` for something made in it: 400 when it is no folder.
    async fn child_of_parent(
        &self,
        parent: &ItemPath,
        name: &str,
    ) -> Result<(String, Option<Value>), ApiError> {
        self.paths.child(parent, name).await.map_err(|e| {
            if e.status == 404 {
                ApiError::new(
                    400,
                    "invalid_parent_folder",
                    "The parent folder does not exist.",
                )
            } else {
                e
            }
        })
    }

    /// The item at `path`, which must be of `kind`.
    async fn item_of_kind(&self, path: &ItemPath, kind: ItemKind) -> Result<Value, ApiError> {
        let item = self.paths.item(path).await?;
        if graph::kind_of(&item) != kind {
            return Err(ApiError::not_found("No such file or folder."));
        }
        Ok(item)
    }

    /// Every entry of the folder at `path`, all of Graph's pages read once.
    async fn read_folder(&self, path: &ItemPath) -> Result<Vec<Entry>, ApiError> {
        let missing = |e: ApiError| match e.status {
            404 => ApiError::not_found("No folder has this id."),
            _ => e,
        };
        let id = self.paths.folder(path).await.map_err(missing)?;
        let children = self.graph.children(&id).await.map_err(missing)?;
        Ok(self.entries_of(path, &id, children))
    }

    /// The entries of folder `path` (Graph id `id`) among its `children`.
    fn entries_of(&self, path: &ItemPath, id: &str, children: Vec<Value>) -> Vec<Entry> {
        let mut entries = Vec::with_capacity(children.len());
        for item in children {
            let Some(name) = item["name"].as_str() else {
                continue;
            };
            // An emulator lists its root as a child of itself.
            if item["id"].as_str() == Some(id) {
                continue;
            }
            // Names Cloudbridge cannot address are left out, as on the other services.
            let Ok(child) = path.join(name) else {
                continue;
            };
            if graph::kind_of(&item) == ItemKind::Folder {
                if let Ok(id) = graph::id_of(&item) {
                    self.paths.remember(&child, &id);
                }
            }
            entries.push(graph::entry(child, &item));
        }
        entries
    }

    /// Graph's own id for `id`, where the `root` alias is not accepted (parent references).
    async fn real_id(&self, id: String) -> Result<String, ApiError> {
        if id != "root" {
            return Ok(id);
        }
        graph::id_of(&self.graph.get(&self.graph.drive("/root")).await?)
    }
}

#[async_trait]
impl Storage for OneDrive {
    fn capabilities(&self) -> Capabilities {
        SERVICE.capabilities.to_vec()
    }

    async fn feed_start(&self) -> Result<Option<String>, ApiError> {
        self.delta_now().await.map(Some)
    }

    async fn changes(&self, cursor: &str) -> Result<FeedPage, ApiError> {
        self.delta(cursor).await
    }

    fn change_key(&self, entry: &Entry) -> String {
        crate::feed::raw_id_key(entry)
    }

    async fn validate(&self) -> Result<(), ApiError> {
        let drive = self.graph.get(&self.graph.drive("")).await?;
        graph::id_of(&drive).map(drop)
    }

    fn team(&self) -> Option<&dyn crate::team::Team> {
        self.business.then_some(self as &dyn crate::team::Team)
    }

    fn sharing(&self) -> Option<&dyn crate::sharing::Sharing> {
        Some(self)
    }

    async fn locate(&self, item: &ItemRef) -> Result<ItemPath, ApiError> {
        match item {
            ItemRef::Path(path) => Ok(path.clone()),
            ItemRef::Native { id, kind } => Ok(self.paths.locate(id, *kind).await?.1),
        }
    }

    async fn lookup(&self, item: &ItemRef) -> Result<Entry, ApiError> {
        match item {
            ItemRef::Path(path) => self.metadata(path).await,
            ItemRef::Native { id, kind } => {
                let (found, path) = self.paths.locate(id, *kind).await?;
                Ok(graph::entry(path, &found))
            }
        }
    }

    async fn metadata(&self, path: &ItemPath) -> Result<Entry, ApiError> {
        Ok(graph::entry(path.clone(), &self.paths.item(path).await?))
    }

    async fn batch(
        &self,
        path: &ItemPath,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Option<Batch>, ApiError> {
        let missing = |e: ApiError| match e.status {
            404 => ApiError::not_found("No folder has this id."),
            _ => e,
        };
        let id = self.paths.folder(path).await.map_err(missing)?;
        let (children, next) = self
            .graph
            .children_page(&id, cursor, limit)
            .await
            .map_err(missing)?;
        let entries = self.entries_of(path, &id, children);
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
        let existing = |item: Value| {
            crate::reuse_folder(graph::kind_of(&item), conflict_if_exists, &path)?;
            Ok((graph::entry(path.clone(), &item), false))
        };
        let (parent_id, found) = self.child_of_parent(parent, name).await?;
        if let Some(item) = found {
            return existing(item);
        }
        let body = json!({
            "name": name,
            "folder": {},
            "@microsoft.graph.conflictBehavior": "fail",
        });
        let url = self.graph.item(&parent_id, "/children");
        match self.graph.call(Method::POST, &url, Some(&body)).await {
            Ok(response) => {
                let item = graph::json(response).await?;
                self.paths.remember(&path, &graph::id_of(&item)?);
                Ok((graph::entry(path, &item), true))
            }
            // Made by someone else meanwhile.
            Err(e) if e.status == 409 => match self.paths.child(parent, name).await? {
                (_, Some(item)) => existing(item),
                (_, None) => Err(e),
            },
            Err(e) => Err(e),
        }
    }

    async fn remove(&self, item: &Entry, recursive: bool) -> Result<(), ApiError> {
        let id = crate::own_id(item)?;
        if item.kind == ItemKind::Folder && !recursive && self.graph.has_children(id).await? {
            return Err(ApiError::new(
                403,
                "folder_not_empty",
                "The folder is not empty.",
            ));
        }
        self.paths.forget(&item.path);
        self.graph
            .call(Method::DELETE, &self.graph.item(id, ""), None)
            .await
            .map(drop)
    }

    async fn relocate_to(
        &self,
        source: &Entry,
        to: &ItemPath,
        copy: bool,
    ) -> Result<Entry, ApiError> {
        let (from, id) = (&source.path, crate::own_id(source)?);
        let parent = to.parent().expect("a destination has a parent");
        let parent_id = self.paths.folder(&parent).await?;
        let mut reference = json!({"id": self.real_id(parent_id).await?});
        let raw = source.raw.as_ref().unwrap_or(&Value::Null);
        if let Some(drive) = raw["parentReference"]["driveId"].as_str() {
            reference["driveId"] = drive.into();
        }
        let body = json!({"parentReference": reference, "name": to.name()});
        if !copy {
            self.paths.forget(from);
            let url = self.graph.item(id, "");
            let moved = graph::json(self.graph.call(Method::PATCH, &url, Some(&body)).await?);
            return Ok(graph::entry(to.clone(), &moved.await?));
        }
        let url = self.graph.item(id, "/copy");
        let response = self.graph.call(Method::POST, &url, Some(&body)).await?;
        let monitor = response
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        // Small copies may be done at once (201 with the item).
        if response.status() != StatusCode::ACCEPTED || monitor.is_none() {
            return self.metadata(to).await;
        }
        match copy::wait(&monitor.unwrap_or_default()).await? {
            Some(new_id) => {
                let item = self.graph.get(&self.graph.item(&new_id, "")).await?;
                Ok(graph::entry(to.clone(), &item))
            }
            None => self.metadata(to).await,
        }
    }

    async fn plan_download(&self, path: &ItemPath) -> Result<(TransferPlan, Entry), ApiError> {
        let item = self.item_of_kind(path, ItemKind::File).await?;
        let plan = TransferPlan::Service {
            path: graph::id_of(&item)?,
            staged: None,
        };
        Ok((plan, graph::entry(path.clone(), &item)))
    }

    async fn plan_upload(
        &self,
        parent: &ItemPath,
        name: &str,
        overwrite: bool,
    ) -> Result<TransferPlan, ApiError> {
        let target = parent.join(name)?;
        let (parent_id, mut found) = self.child_of_parent(parent, name).await?;
        let mut chosen = name.to_string();
        if overwrite {
            if found.as_ref().map(graph::kind_of) == Some(ItemKind::Folder) {
                return Err(ApiError::naming_conflict(
                    "A folder has this name.",
                    target.id(),
                ));
            }
        } else {
            let mut n = 0;
            while found.is_some() {
                n += 1;
                if n == 1000 {
                    return Err(ApiError::naming_conflict(
                        "Too many files with this name.",
                        target.id(),
                    ));
                }
                chosen = crate::numbered(name, n);
                found = self
                    .graph
                    .find(&self.graph.child(&parent_id, &chosen, ""))
                    .await?;
            }
        }
        let plan = upload::Target {
            parent: parent_id,
            name: chosen.clone(),
            replace: overwrite,
        };
        Ok(TransferPlan::Service {
            path: serde_json::to_string(&plan).map_err(ApiError::internal)?,
            staged: Some(parent.join(&chosen)?.id()),
        })
    }

    async fn commit_upload(
        &self,
        staged: &str,
        parent: &ItemPath,
        _name: &str,
        _overwrite: bool,
    ) -> Result<Entry, ApiError> {
        let target = ItemPath::from_id(staged)?;
        if target.parent().as_ref() != Some(parent) {
            return Err(ApiError::bad_request("Unknown upload."));
        }
        match self.paths.item(&target).await {
            Ok(item) if graph::kind_of(&item) == ItemKind::File => Ok(graph::entry(target, &item)),
            Ok(_) => Err(ApiError::naming_conflict(
                "A folder has this name.",
                target.id(),
            )),
            Err(e) if e.status == 404 => Err(ApiError::bad_request(
                "The upload was not received completely.",
            )),
            Err(e) => Err(e),
        }
    }

    async fn abort_upload(&self, _staged: &str) -> Result<(), ApiError> {
        // Nothing is staged: an unfinished upload never shows (see `upload`).
        Ok(())
    }

    async fn download(
        &self,
        plan_path: &str,
        range: Option<(u64, u64)>,
    ) -> Result<Download, ApiError> {
        let url = self.graph.content(plan_path);
        let response = self
            .graph
            .api
            .send(|client| {
                let request = client.get(&url).timeout(crate::oauth::TRANSFER_TIMEOUT);
                match range {
                    Some((start, end)) => {
                        request.header(header::RANGE, format!("bytes={start}-{end}"))
                    }
                    None => request,
                }
            })
            .await?;
        let response = graph::checked(response).await?;
        let whole = response.status() != StatusCode::PARTIAL_CONTENT;
        let length = response.content_length();
        let body = response
            .bytes_stream()
            .map_err(std::io::Error::other)
            .boxed();
        match range {
            // A server that ignores the range sends everything: cut it here.
            Some((start, end)) if whole => Ok(Download {
                body: slice(body, start, end - start + 1),
                length: Some(end - start + 1),
            }),
            _ => Ok(Download { body, length }),
        }
    }

    async fn quota(&self) -> Result<Quota, ApiError> {
        self.drive_quota().await
    }

    async fn thumbnail(
        &self,
        file: &Entry,
        spec: &ThumbnailSpec,
    ) -> Result<ThumbnailPlan, ApiError> {
        self.thumbnail_url(file, spec).await
    }

    async fn upload(
        &self,
        plan_path: &str,
        _staged: Option<&str>,
        body: ByteStream,
        length: Option<u64>,
    ) -> Result<u64, ApiError> {
        let target: upload::Target =
            serde_json::from_str(plan_path).map_err(|_| ApiError::internal("bad upload plan"))?;
        upload::write(&self.graph, &target, body, length).await
    }
}

/// `len` bytes of `body` from offset `start`.
fn slice(body: ByteStream, start: u64, len: u64) -> ByteStream {
    use futures::future::ready;
    body.scan((start, len), |(skip, left), chunk| {
        if *left == 0 {
            return ready(None);
        }
        ready(Some(chunk.map(|chunk: Bytes| {
            let cut = (*skip).min(chunk.len() as u64) as usize;
            *skip -= cut as u64;
            let mut chunk = chunk.slice(cut..);
            chunk.truncate((*left).min(chunk.len() as u64) as usize);
            *left -= chunk.len() as u64;
            chunk
        })))
    })
    .try_filter(|chunk| ready(!chunk.is_empty()))
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn slices_cut_whole_bodies_to_the_range() {
        let chunks = ["0123", "4567", "89"].map(|c| Ok(Bytes::from_static(c.as_bytes())));
        let body = futures::stream::iter(chunks).boxed();
        let got: Vec<Bytes> = slice(body, 3, 6).try_collect().await.unwrap();
        assert_eq!(got.concat(), b"345678");
    }
}
