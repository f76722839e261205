//! Connectors: one trait for what a storage service can do, one module per service.
//!
//! Workers call [`Storage`] methods (the control plane); the API tier uses [`transfer`]
//! to stream bytes along the [`TransferPlan`](cloudbridge_shared::protocol::TransferPlan)
//! a worker returned, so file contents never pass through Redis.
//!
//! # Layout
//! - [`Storage`]: the trait; [`open`] picks the implementation for an account.
//! - [`service`]: one [`Service`] descriptor per service (each exported by its module)
//!   and [`service::ALL`], the one list of them.
//! - [`local`]: the embedded `local` service, one folder per account (by id) under a data root.
//! - [`guard`]: connections to account hosts reach only what the address policy permits.
//! - [`dal`]: storage on Apache OpenDAL (presigned or proxied transfers).
//! - [`s3`]: `s3` and `s3_compatible` settings and operator.
//! - [`webdav`]: `webdav` settings and operator.
//! - [`caldav`]: `caldav` accounts: calendars on a CalDAV server (the Calendar API only).
//! - [`calendar`]: calendars of calendar accounts: what a calendar service provides.
//! - [`sftp`]: `sftp` accounts on an SSH server (password or private key), own store.
//! - [`gdrive`]: Google Drive (Drive API v3), first-party on reqwest.
//! - [`onedrive`]: `onedrive` and `onedrivebiz` on Microsoft Graph.
//! - [`dropbox`]: `dropbox` accounts through Dropbox API v2.
//! - [`oauth`]: tokens of OAuth services and the HTTP discipline of their connectors.
//! - [`boxcom`]: `box` accounts through Box API 2.0.
//! - [`feed`]: change feeds (native ones; the others are collected by diffing listings).
//! - [`ids`]: paths to the ids of Drive, OneDrive and Box, remembered but always checked.
//! - [`paging`]: folder pages cut from the services' own paging.
//! - [`search`]: search by name in the services' own indexes.
//! - [`sharing`]: sharing permissions: what a service provides, and how a change is applied.
//! - [`team`]: the Team API of admin accounts: what a service provides, and how a page is read.
//! - [`thumbnails`]: thumbnails of `local` images, made by the workers and cached on disk.
//! - [`transfer`]: byte streaming for the API tier.

use std::{path::PathBuf, sync::Arc};

use async_trait::async_trait;
use cloudbridge_shared::{
    config::ProvidersSettings,
    crypto::Cipher,
    permissions::{Change, Permission},
    protocol::{AccountRef, TransferPlan},
    quota::Quota,
    storage::{Batch, Capabilities, ItemKind, Page},
    thumbnail::{ThumbnailPlan, ThumbnailSpec},
    ApiError, Entry, ItemPath, ItemRef,
};
pub use service::{Identity, Service};

pub mod boxcom;
pub mod cache;
pub mod caldav;
pub mod calendar;
pub mod dal;
pub mod dropbox;
pub mod feed;
pub mod gdrive;
pub mod guard;
pub mod ids;
pub mod local;
pub mod oauth;
pub mod onedrive;
pub mod paging;
pub mod parts;
pub mod s3;
pub mod search;
pub mod service;
pub mod sftp;
pub mod sharing;
pub mod team;
pub mod thumbnails;
pub mod transfer;
pub mod webdav;

/// Operations of a storage service, as the workers use them.
#[async_trait]
pub trait Storage: Send + Sync {
    /// What this service supports.
    fn capabilities(&self) -> Capabilities;
    /// Checks that the account is reachable and usable.
    async fn validate(&self) -> Result<(), ApiError>;
    /// Metadata of one item.
    async fn metadata(&self, path: &ItemPath) -> Result<Entry, ApiError>;

    /// Where the item `item` names is now: 404 when nothing is, or when it is not of the
    /// kind its id says. Services that name items by id find it by that id; the others
    /// know items only by path and never issue ids of their own (the default).
    async fn locate(&self, item: &ItemRef) -> Result<ItemPath, ApiError> {
        match item {
            ItemRef::Path(path) => Ok(path.clone()),
            ItemRef::Native { .. } => Err(ApiError::not_found(
                "No file or folder has this id (this service names items by path).",
            )),
        }
    }

    /// Metadata of the item `item` names ([`Storage::locate`], then
    /// [`Storage::metadata`]; services that name items by id do it in one step).
    async fn lookup(&self, item: &ItemRef) -> Result<Entry, ApiError> {
        let path = self.locate(item).await?;
        self.metadata(&path).await
    }
    /// One page of a folder, in a stable order. This default cuts it from the service's
    /// own paging ([`Storage::batch`]); services without one list their folders here.
    async fn list(&self, path: &ItemPath, page: u32, page_size: u32) -> Result<Page, ApiError> {
        paging::numbered(self, path, page, page_size).await
    }

    /// One batch of the folder's entries in the service's own paging, starting at
    /// `cursor` (the first batch when `None`), of about `limit` entries (a service may
    /// give a few more or fewer). `None` (the default) for services without paging of
    /// their own, whose folders [`Storage::list`] pages; see [`paging`].
    async fn batch(
        &self,
        path: &ItemPath,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Option<Batch>, ApiError> {
        let _ = (path, cursor, limit);
        Ok(None)
    }

    /// One batch of everything below the folder at `path`, at any depth, in the
    /// service's own recursive listing (as [`Storage::batch`] for one folder). `None`
    /// (the default) for services that list no subtree in one paged listing, where
    /// `recursive=true` answers 501; a service implementing it declares
    /// [`service::RECURSIVE_LISTING`].
    async fn subtree_batch(
        &self,
        path: &ItemPath,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Option<Batch>, ApiError> {
        let _ = (path, cursor, limit);
        Ok(None)
    }

    /// One batch of the items whose names match `query`, from the service's own search
    /// index in its own paging, starting at `cursor` (the first batch when `None`), of
    /// about `limit` items. `None` (the default) for services without an index: their
    /// searches crawl ([`Storage::walk`]). See [`search`].
    async fn search_batch(
        &self,
        query: &search::Query,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Option<Batch>, ApiError> {
        let _ = (query, cursor, limit);
        Ok(None)
    }

    /// Every entry of a folder, in no particular order (the collector's walk). This
    /// default reads it page by page; services that read a folder whole do it once.
    async fn list_all(&self, path: &ItemPath) -> Result<Vec<Entry>, ApiError> {
        let mut entries = Vec::new();
        let (mut page, mut from) = (1, None);
        loop {
            let listed = paging::list(self, path, page, WALK_PAGE, from.as_ref()).await?;
            entries.extend(listed.entries);
            match listed.next_page {
                Some(next) => (page, from) = (next, listed.next_from),
                None => return Ok(entries),
            }
        }
    }
    /// Creates a folder; returns it and whether it was created now.
    async fn create_folder(
        &self,
        parent: &ItemPath,
        name: &str,
        conflict_if_exists: bool,
    ) -> Result<(Entry, bool), ApiError>;

    /// The item at `path`, or `None` when nothing is there.
    async fn try_metadata(&self, path: &ItemPath) -> Result<Option<Entry>, ApiError> {
        match self.metadata(path).await {
            Ok(entry) => Ok(Some(entry)),
            Err(e) if e.status == 404 => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Deletes the file or folder `item` names, which must be of `kind`, and answers what
    /// it was. What every service shares is checked here: the root cannot be deleted
    /// (403) and an item of the other kind is not found (404); [`Storage::remove`] does
    /// the rest.
    async fn delete(
        &self,
        item: &ItemRef,
        kind: ItemKind,
        recursive: bool,
    ) -> Result<Entry, ApiError> {
        let root = || ApiError::forbidden("The root folder cannot be deleted.");
        if item.is_root() {
            return Err(root());
        }
        let found = self.lookup(item).await?;
        if found.path.is_root() {
            return Err(root());
        }
        if found.kind != kind {
            return Err(ApiError::not_found("No such file or folder."));
        }
        self.remove(&found, recursive).await?;
        Ok(found)
    }

    /// Deletes `item`, an existing file or folder other than the root as
    /// [`Storage::lookup`] found it; a folder with contents only when `recursive`
    /// (else 403 `folder_not_empty`).
    async fn remove(&self, item: &Entry, recursive: bool) -> Result<(), ApiError>;

    /// Moves (`copy = false`) or copies `source` (as [`Storage::lookup`] found it, which
    /// must be of `kind`) to `to`. What every service shares is checked here: the root
    /// cannot be moved or copied (403), a folder cannot go inside itself (400), an item
    /// of the other kind is not found (404) and `to` must be free (409);
    /// [`Storage::relocate_to`] does the rest.
    async fn relocate(
        &self,
        source: &Entry,
        kind: ItemKind,
        to: &ItemPath,
        copy: bool,
    ) -> Result<Entry, ApiError> {
        check_relocation(&source.path, kind, to)?;
        if source.kind != kind {
            return Err(ApiError::not_found("No such file or folder."));
        }
        if self.try_metadata(to).await?.is_some() {
            return Err(taken(to));
        }
        self.relocate_to(source, to, copy).await
    }

    /// Moves or copies `source` (an existing item other than the root) to `to`, where
    /// nothing was a moment ago and which is not inside it; 409 when something got
    /// there meanwhile.
    async fn relocate_to(
        &self,
        source: &Entry,
        to: &ItemPath,
        copy: bool,
    ) -> Result<Entry, ApiError>;
    /// Where the API tier reads a file from.
    async fn plan_download(&self, path: &ItemPath) -> Result<(TransferPlan, Entry), ApiError>;
    /// Where the API tier stages an upload (`overwrite` as in the commit, for services
    /// that settle the final name up front).
    async fn plan_upload(
        &self,
        parent: &ItemPath,
        name: &str,
        overwrite: bool,
    ) -> Result<TransferPlan, ApiError>;
    /// Makes a staged upload visible.
    async fn commit_upload(
        &self,
        staged: &str,
        parent: &ItemPath,
        name: &str,
        overwrite: bool,
    ) -> Result<Entry, ApiError>;
    /// Discards a staged upload.
    async fn abort_upload(&self, staged: &str) -> Result<(), ApiError>;

    /// Streams a file for a `Service` plan this connector made (first-party HTTP
    /// connectors; the others are streamed by [`transfer`] itself). `range` is inclusive
    /// and already checked against the file's size.
    async fn download(
        &self,
        plan_path: &str,
        range: Option<(u64, u64)>,
    ) -> Result<transfer::Download, ApiError> {
        let _ = (plan_path, range);
        Err(ApiError::not_implemented(
            "This service does not stream downloads this way.",
        ))
    }

    /// Writes the body of a `Service` upload plan this connector made; returns the
    /// number of bytes written. [`transfer`] enforces the size limit on `body`.
    async fn upload(
        &self,
        plan_path: &str,
        staged: Option<&str>,
        body: transfer::ByteStream,
        length: Option<u64>,
    ) -> Result<u64, ApiError> {
        let _ = (plan_path, staged, body, length);
        Err(ApiError::not_implemented(
            "This service does not stream uploads this way.",
        ))
    }

    /// The account's storage use, where the service reports it.
    async fn quota(&self) -> Result<Quota, ApiError> {
        Err(ApiError::not_implemented(
            "This service does not report its storage quota.",
        ))
    }

    /// Plans a thumbnail of `file` (a file, as [`Storage::lookup`] found it) as `spec`
    /// asks, for the API tier to stream. Services that make thumbnails answer 415 for a
    /// file they make none of; the others keep this default.
    async fn thumbnail(
        &self,
        file: &Entry,
        spec: &ThumbnailSpec,
    ) -> Result<ThumbnailPlan, ApiError> {
        let _ = (file, spec);
        Err(ApiError::not_implemented(
            "This service makes no thumbnails.",
        ))
    }

    /// Opens the image of a `Service` thumbnail plan this connector made (the API tier
    /// streams it).
    async fn thumbnail_image(&self, plan_path: &str) -> Result<transfer::Image, ApiError> {
        let _ = plan_path;
        Err(ApiError::not_implemented(
            "This service makes no thumbnails.",
        ))
    }

    /// The change feed's position now, for services with a native change feed; `None`
    /// (the default) for services whose changes are found by diffing listings.
    async fn feed_start(&self) -> Result<Option<String>, ApiError> {
        Ok(None)
    }

    /// One page of changes after `cursor` (a position [`Storage::feed_start`] or an
    /// earlier page gave).
    async fn changes(&self, cursor: &str) -> Result<feed::FeedPage, ApiError> {
        let _ = cursor;
        Err(ApiError::not_implemented(
            "This service has no change feed; its changes are found by listing.",
        ))
    }

    /// The service's sharing permissions, where it has them (`None`, the default: it has
    /// none).
    fn sharing(&self) -> Option<&dyn sharing::Sharing> {
        None
    }

    /// Who has access to `item` (an existing file or folder), after applying `change`
    /// when there is one ([`sharing::apply`]); 501 on services without sharing.
    async fn permissions(
        &self,
        item: &Entry,
        change: Option<&Change>,
    ) -> Result<Vec<Permission>, ApiError> {
        match self.sharing() {
            Some(sharing) => sharing::apply(sharing, item, change).await,
            None => Err(ApiError::not_implemented(
                "This service keeps no sharing permissions (Google Drive, OneDrive, Dropbox and Box do).",
            )),
        }
    }

    /// The service's organisation, read by an admin account (`None`, the default: the
    /// service has no team; the Team API answers 501).
    fn team(&self) -> Option<&dyn team::Team> {
        None
    }

    /// The account's calendars (`None`, the default: the service has none; the Calendar
    /// API answers 501).
    fn calendar(&self) -> Option<&dyn calendar::Calendar> {
        None
    }

    /// The key the collector tracks an item by: the service's own id where it has one
    /// (what [`feed::Change::key`] carries), else the path.
    fn change_key(&self, entry: &Entry) -> String {
        entry.path.as_str().to_string()
    }

    /// Every item below `under` for which `keep` holds, looking at no more than `limit`
    /// items; also says whether the crawl stopped at the limit. This default walks the
    /// folders breadth-first, page by page; services with a recursive listing do better.
    async fn walk(&self, under: &ItemPath, keep: &Filter, limit: usize) -> Result<Walk, ApiError> {
        let mut walk = Walk::default();
        let mut folders = std::collections::VecDeque::from([under.clone()]);
        while let Some(folder) = folders.pop_front() {
            let (mut page, mut from) = (1, None);
            loop {
                let listed = match paging::list(self, &folder, page, WALK_PAGE, from.as_ref()).await
                {
                    Ok(listed) => listed,
                    // Deleted while we walked: nothing more below it.
                    Err(e) if e.status == 404 => break,
                    Err(e) => return Err(e),
                };
                for entry in listed.entries {
                    if walk.visited == limit {
                        walk.truncated = true;
                        return Ok(walk);
                    }
                    walk.visited += 1;
                    if entry.kind == ItemKind::Folder {
                        folders.push_back(entry.path.clone());
                    }
                    if keep(&entry) {
                        walk.found.push(entry);
                    }
                }
                match listed.next_page {
                    Some(next) => (page, from) = (next, listed.next_from),
                    None => break,
                }
            }
        }
        Ok(walk)
    }
}

/// Which walked items to keep.
pub type Filter = dyn Fn(&Entry) -> bool + Send + Sync;

/// Page size of the default [`Storage::walk`].
const WALK_PAGE: u32 = 1000;

/// What a [`Storage::walk`] found.
#[derive(Debug, Default)]
pub struct Walk {
    /// The items kept, in no particular order.
    pub found: Vec<Entry>,
    /// How many items were looked at.
    pub visited: usize,
    /// True when the walk stopped at its limit (the answer is partial).
    pub truncated: bool,
}

/// What a process needs to open the connector of any account.
#[derive(Clone)]
pub struct Context {
    /// Root of the `local` service's data.
    pub data_root: PathBuf,
    /// Opens sealed credentials.
    pub cipher: Option<Arc<Cipher>>,
    /// Where the OAuth services are.
    pub providers: Arc<ProvidersSettings>,
    /// Shared HTTP client of the first-party connectors (operator-configured hosts).
    pub http: reqwest::Client,
    /// Connections to the hosts of imported accounts (S3, WebDAV, SFTP), which clients
    /// chose: `network.account_allow` applies.
    pub guard: guard::Guard,
    /// Tokens of stored OAuth accounts (`None` where no database is at hand).
    pub tokens: Option<Arc<oauth::Keeper>>,
    /// Makes and caches the thumbnails of `local` images.
    pub thumbnails: Arc<thumbnails::Thumbnailer>,
}

impl Context {
    /// A context without OAuth accounts (tests, tools), reaching account hosts that
    /// `policy` permits.
    pub fn basic(
        data_root: PathBuf,
        cipher: Option<Arc<Cipher>>,
        policy: cloudbridge_shared::netguard::Policy,
    ) -> anyhow::Result<Self> {
        let defaults = cloudbridge_shared::config::Settings::default();
        Ok(Self {
            data_root,
            cipher,
            providers: Arc::new(defaults.providers),
            http: reqwest::Client::new(),
            guard: guard::Guard::new(policy)?,
            tokens: None,
            thumbnails: Arc::new(thumbnails::Thumbnailer::new(defaults.local.thumbnails)),
        })
    }

    /// The context of a Cloudbridge process: keys from `settings`, tokens kept in `db`.
    pub fn for_process(
        settings: &cloudbridge_shared::config::Settings,
        db: sqlx::PgPool,
        http: reqwest::Client,
    ) -> anyhow::Result<Self> {
        let cipher = Cipher::from_settings(&settings.secrets)?.map(Arc::new);
        let providers = Arc::new(settings.providers.clone());
        let tokens = cipher.as_ref().map(|cipher| {
            oauth::Keeper::new(
                db,
                cipher.clone(),
                providers.clone(),
                settings.oauth.clone(),
                http.clone(),
            )
        });
        Ok(Self {
            data_root: settings.local.data_root.clone(),
            cipher,
            providers,
            http,
            guard: guard::Guard::new(settings.network.accounts())?,
            tokens,
            thumbnails: Arc::new(thumbnails::Thumbnailer::new(
                settings.local.thumbnails.clone(),
            )),
        })
    }

    /// The time limit of one call to `service`'s API.
    fn call_timeout(&self, service: &str) -> std::time::Duration {
        let ms = service::find(service)
            .and_then(|s| s.provider(&self.providers))
            .map_or(60_000, |p| p.call_timeout_ms);
        std::time::Duration::from_millis(ms)
    }

    /// How an OAuth account's connector calls its service: with the stored, refreshed
    /// tokens; an account being imported (id 0) uses the token it brought.
    pub fn api(&self, account: &AccountRef) -> Result<oauth::Api, ApiError> {
        let tokens: Arc<dyn oauth::TokenSource> = if account.id == 0 {
            let secrets: oauth::OAuthSecrets = open_secrets(account, self.cipher.as_deref())?;
            Arc::new(oauth::FixedToken(oauth::Token {
                access: cloudbridge_shared::secret::Secret::new(secrets.access_token),
                version: 0,
            }))
        } else {
            self.tokens
                .as_ref()
                .ok_or_else(|| ApiError::internal("no token keeper in this process"))?
                .source(account.id)
        };
        Ok(oauth::Api {
            http: self.http.clone(),
            tokens,
            call_timeout: self.call_timeout(&account.service),
            headers: Vec::new(),
        })
    }
}

/// Asks `service` who holds `access_token` (the connect flow names accounts this way, so
/// that reconnecting the same user updates the same account).
pub async fn identity(
    ctx: &Context,
    service: &str,
    access_token: &str,
) -> Result<Identity, ApiError> {
    let not_oauth = || ApiError::not_implemented(format!("`{service}` is not an OAuth service."));
    let described = service::find(service).ok_or_else(not_oauth)?;
    let (facts, provider) = described
        .oauth()
        .zip(described.provider(&ctx.providers))
        .ok_or_else(not_oauth)?;
    let api = oauth::Api {
        http: ctx.http.clone(),
        tokens: Arc::new(oauth::FixedToken(oauth::Token {
            access: cloudbridge_shared::secret::Secret::new(access_token),
            version: 0,
        })),
        call_timeout: std::time::Duration::from_millis(provider.call_timeout_ms),
        headers: Vec::new(),
    };
    (facts.identity)(&api, provider).await
}

/// The connector for an account.
pub fn open(ctx: &Context, account: &AccountRef) -> Result<Box<dyn Storage>, ApiError> {
    let service = service::find(&account.service).ok_or_else(|| {
        ApiError::not_implemented(format!(
            "The service `{}` is not supported.",
            account.service
        ))
    })?;
    (service.open)(ctx, account)
}

/// The OpenDAL operator of an account of an OpenDAL-served service, and how its bytes move;
/// it connects only where `guard` permits.
pub fn operator(
    account: &AccountRef,
    cipher: Option<&Cipher>,
    guard: &guard::Guard,
) -> Result<(opendal::Operator, dal::Transfers), ApiError> {
    // Building one parses settings, opens sealed credentials and sets up HTTP signing:
    // worth keeping between the jobs of an account.
    static OPERATORS: std::sync::LazyLock<cache::IdleCache<(opendal::Operator, dal::Transfers)>> =
        std::sync::LazyLock::new(|| {
            cache::IdleCache::new(std::time::Duration::from_secs(300), 4096)
        });
    if account.id == 0 {
        // An account being imported: checked once, not kept.
        return build_operator(account, cipher, guard);
    }
    // Keyed by the policy too: processes (and tests) with other policies never share one.
    let key = cache::guarded_key(account, guard.policy());
    if let Some(found) = OPERATORS.get(&key) {
        return Ok(found);
    }
    let built = build_operator(account, cipher, guard)?;
    OPERATORS.insert(key, built.clone());
    Ok(built)
}

fn build_operator(
    account: &AccountRef,
    cipher: Option<&Cipher>,
    guard: &guard::Guard,
) -> Result<(opendal::Operator, dal::Transfers), ApiError> {
    let stored = |e: serde_json::Error| ApiError::internal(format_args!("stored settings: {e}"));
    match account.service.as_str() {
        "s3" | "s3_compatible" => {
            let config: s3::S3Config =
                serde_json::from_value(account.config.clone()).map_err(stored)?;
            let op = s3::operator(&config, &open_secrets(account, cipher)?, guard)?;
            Ok((op, dal::Transfers::Presigned))
        }
        "webdav" => {
            let config: webdav::WebdavConfig =
                serde_json::from_value(account.config.clone()).map_err(stored)?;
            let op = webdav::operator(&config, &open_secrets(account, cipher)?, guard)?;
            Ok((op, dal::Transfers::Proxied))
        }
        other => Err(ApiError::internal(format_args!(
            "`{other}` is not an OpenDAL service"
        ))),
    }
}

/// The answer for a destination something already has (409 naming it).
pub(crate) fn taken(to: &ItemPath) -> ApiError {
    ApiError::naming_conflict("An item with this name already exists.", to.id())
}

/// Creating a folder at `path` where an item of kind `found` already is: the folder there
/// is the answer (not made now) unless it is a file or the caller asked for a conflict
/// (409).
pub(crate) fn reuse_folder(
    found: ItemKind,
    conflict_if_exists: bool,
    path: &ItemPath,
) -> Result<(), ApiError> {
    match found {
        ItemKind::Folder if !conflict_if_exists => Ok(()),
        _ => Err(taken(path)),
    }
}

/// Checks a move or copy of `from` to `to` before touching anything.
fn check_relocation(from: &ItemPath, kind: ItemKind, to: &ItemPath) -> Result<(), ApiError> {
    if from.is_root() {
        return Err(ApiError::forbidden(
            "The root folder cannot be moved or copied.",
        ));
    }
    let inside = to.as_str().starts_with(&format!("{}/", from.as_str()));
    if kind == ItemKind::Folder && (inside || to == from) {
        return Err(ApiError::invalid_parameters(
            "A folder cannot be moved or copied into itself.",
        ));
    }
    Ok(())
}

/// Installs OpenDAL's process-wide HTTP transport (reqwest) once.
pub(crate) fn install_transport() {
    static TRANSPORT: std::sync::Once = std::sync::Once::new();
    TRANSPORT.call_once(opendal::install_default);
}

/// Opens an account's sealed credentials.
pub(crate) fn open_secrets<T: serde::de::DeserializeOwned>(
    account: &AccountRef,
    cipher: Option<&Cipher>,
) -> Result<T, ApiError> {
    use base64::{engine::general_purpose::STANDARD, Engine};
    let cipher = cipher.ok_or_else(|| ApiError::internal("secrets.keys is not configured"))?;
    let sealed = account
        .sealed
        .as_deref()
        .ok_or_else(|| ApiError::internal("account without credentials"))?;
    let bytes = STANDARD.decode(sealed).map_err(ApiError::internal)?;
    serde_json::from_slice(&cipher.open(&bytes)?).map_err(ApiError::internal)
}

/// Seals credentials for storage (and, base64-encoded, for jobs).
pub fn seal_secrets<T: serde::Serialize>(secrets: &T, cipher: &Cipher) -> Vec<u8> {
    let json = serde_json::to_vec(secrets).expect("credentials serialize");
    cipher.seal(&json)
}

/// An item's identity at its service beyond its path, which tells the file a shared link
/// was made for from a later one at the same path: the service's own id (the OAuth
/// services: kept by moves and new versions, new for a new file), a local file's inode
/// and birth time; `None` where the path is all a service has (object stores, WebDAV,
/// SFTP) and for unknown services.
pub fn item_key(service: &str, entry: &Entry) -> Option<String> {
    (service::find(service)?.item_key)(entry)
}

/// The service's own id of `file`, which the services naming items by id report for
/// every item (404 for an entry without one).
pub(crate) fn own_id(file: &Entry) -> Result<&str, ApiError> {
    file.id
        .as_deref()
        .ok_or_else(|| ApiError::not_found("No file has this id."))
}

/// True for services whose items are named by their own ids (their Kloudless ids are
/// made of them, see [`Storage::locate`]).
pub fn names_items_by_id(service: &str) -> bool {
    service::find(service).is_some_and(|s| s.names_by_id)
}

pub(crate) use local::{numbered, upload_target};
