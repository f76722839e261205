//! Box API 2.0 emulator, written from Box's published API reference (developer.box.com and
//! its OpenAPI description): an axum server on a free loopback port holding one user's
//! account in memory. [`BoxFake::start`] serves all of Box's hosts from one address: point
//! `providers.box.api_url`, `content_url`, `token_url` and `authorize_url` at
//! [`BoxFake::url`] (`authorize_url` at [`BoxFake::authorize_url`], `token_url` at
//! [`BoxFake::token_url`]).
//!
//! # What it covers
//! - Files: `GET`/`PUT` (rename, move)/`DELETE /2.0/files/{id}`, `POST
//!   /2.0/files/{id}/copy`, `GET /2.0/files/{id}/content` (302 to a tokenized download
//!   URL that honours `Range`, 206/416), `OPTIONS /2.0/files/content` (preflight).
//! - Folders: `GET`/`PUT`/`DELETE /2.0/folders/{id}` (`recursive`, 400
//!   `folder_not_empty`), `POST /2.0/folders`, `POST /2.0/folders/{id}/copy`, `GET
//!   /2.0/folders/{id}/items` with offset (`offset`, `limit` ≤ 1000, `total_count`) or
//!   marker (`usemarker`, `marker`, `next_marker`) paging, folders before files, then by
//!   name; `fields` on every item answer. Folder `0` is the root ("All Files"), ids are
//!   numeric strings, names are unique per folder without regard to case and checked as
//!   Box does (≤ 255 characters, no `/` `\`, no leading or trailing spaces).
//! - Uploads on the upload host (`/api/2.0`): `POST /files/content` and `POST
//!   /files/{id}/content` (new version), multipart forms whose `attributes` part must
//!   come first (400 `metadata_after_file_contents`), `Content-MD5` (SHA-1) checked.
//!   Chunked uploads: `POST /files/upload_sessions` and `/files/{id}/upload_sessions`
//!   (400 `file_size_too_small` below [`Config::min_session_size`]; the session announces
//!   [`Config::part_size`] and its endpoints), `PUT` parts with `Content-Range` (aligned
//!   to the part size, exact sizes, 416 otherwise) and `Digest: sha=` (400
//!   `digest_mismatch`), `GET` status and parts, `DELETE` (abort), `POST …/commit` with
//!   the parts list and the whole file's SHA-1 (optionally 202 + `Retry-After` first, see
//!   [`Config::pending_commits`]).
//! - The trash: `DELETE` moves an item (with everything below it) to the trash, out of
//!   listings and lookups; `POST /2.0/files/{id}` and `POST /2.0/folders/{id}` restore it
//!   (into its old folder, or the `parent` and `name` given).
//! - Events: `GET /2.0/events` (`stream_position` with `now` and `0`, `stream_type`
//!   all/changes/sync, `limit` ≤ 500; `chunk_size`, `next_stream_position`, `entries`),
//!   logging `ITEM_CREATE`, `ITEM_UPLOAD` (new files and versions), `ITEM_RENAME`,
//!   `ITEM_MOVE`, `ITEM_COPY`, `ITEM_TRASH` and `ITEM_UNDELETE_VIA_TRASH` with the item as
//!   `source` (`path_collection` included); [`BoxFake::expire_events`] makes older
//!   positions answer 400.
//! - `GET /2.0/users/me` (with `space_amount`, 10 GiB, and `space_used`, the bytes of the
//!   user's files; `fields` picks what is shown).
//! - Thumbnails: `GET /2.0/files/{id}/thumbnail.png|jpg` in Box's sizes (32, 94, 160,
//!   320) by `min_*`/`max_*` `width`/`height`, made of images the fake decodes; 302 to a
//!   placeholder image for other files; 202 with `Retry-After` and the placeholder as
//!   `Location` while [`Config::pending_thumbnails`] lasts.
//! - Search (see `search`): `GET /2.0/search` by name, with `ancestor_folder_ids`,
//!   `type` and offset paging.
//! - Collaborations (see `collaborations`): list an item's, create one for a person by
//!   login (a user of [`Config::people`] or a pending invitation), change its role,
//!   delete it.
//! - Errors as Box sends them: `{"type": "error", "status", "code", "message",
//!   "help_url", "request_id", "context_info"?}`, 409 `item_name_in_use` with
//!   `context_info.conflicts` (an object for file uploads, an array elsewhere), 404
//!   `not_found`, and 401 with an empty body and a `WWW-Authenticate` bearer challenge
//!   for any token it did not issue or accept.
//! - Rate limits: [`BoxFake::rate_limit`] makes the next calls answer 429
//!   `rate_limit_exceeded` with `Retry-After`.
//! - OAuth 2.0: `GET /api/oauth2/authorize` redirects back to `redirect_uri` with `code`
//!   and `state` (or `error=access_denied`, see [`BoxFake::deny_next_authorization`]);
//!   `POST /oauth2/token` with the registered client id and secret for
//!   `authorization_code` (single-use codes, 30 s) and `refresh_token` grants (each
//!   refresh token works once and is replaced: rotation), answering `invalid_client` /
//!   `invalid_grant` otherwise. Access tokens expire after [`Config::token_lifetime`].
//!
//! - Enterprise (see `enterprise`): the account's user as the admin of a Box
//!   Enterprise with managed users and groups ([`Config::admin`], [`Config::members`],
//!   [`Config::groups`]): `GET /2.0/users`, `/users/{id}`, `/users/{id}/memberships`,
//!   `/groups`, `/groups/{id}`, `/groups/{id}/memberships`, and `As-User` on every
//!   authenticated call (that user's own files).
//!
//! # What it leaves out
//! Trash listings and purging, versions history, shared links, previews and
//! representations, metadata, enterprise writes (users and groups are configured),
//! events other than the item changes above (downloads, previews, comments…),
//! long polling, duplicate or out-of-order event delivery, search of contents, metadata,
//! tags or comments, locks, `If-Match` on anything but version uploads, and Box's own
//! rate-limit figures: it
//! throttles only when told to.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, MutexGuard},
};

use axum::{
    extract::{DefaultBodyLimit, Request, State},
    http::header,
    middleware::Next,
    response::{IntoResponse, Response},
    routing::{get, options, post, put},
    Router,
};
use bytes::Bytes;

mod collaborations;
mod enterprise;
mod errors;
mod events;
mod items;
mod media;
mod oauth;
mod search;
mod store;
mod uploads;

pub use enterprise::Group;
pub use errors::BoxError;
pub use store::User;

/// How the fake behaves.
#[derive(Clone, Debug)]
pub struct Config {
    /// Access tokens accepted from the start (as if issued earlier, never expiring).
    pub access_tokens: Vec<String>,
    /// The registered OAuth client.
    pub client_id: String,
    /// Its secret.
    pub client_secret: String,
    /// Part size that upload sessions announce (Box picks 8 MiB and up; tests pick less).
    pub part_size: u64,
    /// Smallest file an upload session accepts (Box: 20,000,000 bytes).
    pub min_session_size: u64,
    /// Lifetime of the access tokens the token endpoint issues, in seconds.
    pub token_lifetime: u64,
    /// How many commits of upload sessions answer 202 (`Retry-After: 1`) before one
    /// goes through.
    pub pending_commits: u32,
    /// How many thumbnail requests answer 202 (still being made) before they are served.
    pub pending_thumbnails: u32,
    /// The account's user.
    pub user: User,
    /// Other Box users (collaborations with their logins are accepted at once).
    pub people: Vec<User>,
    /// The account's user is the admin of a Box Enterprise (see `enterprise`).
    pub admin: bool,
    /// The enterprise's other managed users, each with an empty account of their own.
    pub members: Vec<User>,
    /// The enterprise's groups.
    pub groups: Vec<Group>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            access_tokens: vec!["box-access-token".into()],
            client_id: "box-client-id".into(),
            client_secret: "box-client-secret".into(),
            part_size: 8 << 20,
            min_session_size: 20_000_000,
            token_lifetime: 3600,
            pending_commits: 0,
            pending_thumbnails: 0,
            user: User {
                id: "11446498".into(),
                name: "Cloudbridge Tester".into(),
                login: "tester@example.com".into(),
            },
            people: Vec::new(),
            admin: false,
            members: Vec::new(),
            groups: Vec::new(),
        }
    }
}

/// What the fake has been asked to do, for tests to check which path a client took.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Authenticated API calls (rate-limited ones included).
    pub calls: u64,
    /// Calls answered 429.
    pub rate_limited: u64,
    /// Files uploaded in one request.
    pub uploads: u64,
    /// New versions uploaded in one request.
    pub version_uploads: u64,
    /// Upload sessions created.
    pub sessions_created: u64,
    /// Parts received.
    pub parts: u64,
    /// Sessions committed into a file.
    pub sessions_committed: u64,
    /// Sessions aborted.
    pub sessions_aborted: u64,
    /// Downloads served.
    pub downloads: u64,
    /// Pages of folder listings served (`GET /2.0/folders/{id}/items`).
    pub listing_pages: u64,
    /// Searches answered (`GET /2.0/search`).
    pub searches: u64,
}

/// Everything the fake holds, behind one lock (never held across an await).
struct World {
    store: store::Store,
    /// The accounts of the enterprise's other users, by user id (one is swapped into
    /// `store` while a call acts as that user).
    members: HashMap<String, store::Store>,
    collaborations: collaborations::Collaborations,
    sessions: HashMap<String, uploads::Session>,
    downloads: HashMap<String, Bytes>,
    auth: oauth::Auth,
    counters: Counters,
    /// Calls still to answer 429, and the `Retry-After` they carry.
    throttle: (u32, u64),
    pending_commits: u32,
    pending_thumbnails: u32,
    deny_next: bool,
}

/// State shared by the handlers.
struct Shared {
    config: Config,
    /// `http://127.0.0.1:<port>`.
    base: String,
    world: Mutex<World>,
    /// Calls acting as another user (`As-User`) run alone: they swap that user's account
    /// in for their duration.
    acting: tokio::sync::RwLock<()>,
}

impl Shared {
    fn new(config: Config, base: String) -> Self {
        let world = World {
            store: store::Store::new(config.user.clone()),
            members: config
                .members
                .iter()
                .map(|u| (u.id.clone(), store::Store::new(u.clone())))
                .collect(),
            collaborations: Default::default(),
            sessions: HashMap::new(),
            downloads: HashMap::new(),
            auth: oauth::Auth::new(&config.access_tokens),
            counters: Counters::default(),
            throttle: (0, 0),
            pending_commits: config.pending_commits,
            pending_thumbnails: config.pending_thumbnails,
            deny_next: false,
        };
        Self {
            config,
            base,
            world: Mutex::new(world),
            acting: tokio::sync::RwLock::new(()),
        }
    }

    fn world(&self) -> MutexGuard<'_, World> {
        self.world.lock().expect("fake state lock")
    }
}

type AppState = State<Arc<Shared>>;

/// A running Box emulator; stops when dropped.
pub struct BoxFake {
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

impl BoxFake {
    /// Starts the emulator on a free loopback port.
    pub async fn start(config: Config) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let base = format!("http://{}", listener.local_addr().expect("bound address"));
        let shared = Arc::new(Shared::new(config, base));
        let app = router(shared.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { shared, server }
    }

    /// Base URL of every host it serves (`http://127.0.0.1:<port>`).
    pub fn url(&self) -> &str {
        &self.shared.base
    }

    /// The token endpoint.
    pub fn token_url(&self) -> String {
        format!("{}/oauth2/token", self.shared.base)
    }

    /// The authorization endpoint (a browser is sent there).
    pub fn authorize_url(&self) -> String {
        format!("{}/api/oauth2/authorize", self.shared.base)
    }

    /// The next `calls` authenticated calls answer 429 with `Retry-After: retry_after`.
    pub fn rate_limit(&self, calls: u32, retry_after: u64) {
        self.shared.world().throttle = (calls, retry_after);
    }

    /// Accepts `token` as an access token from now on.
    pub fn accept_token(&self, token: &str) {
        self.shared.world().auth.accept(token, None);
    }

    /// Refuses `token` from now on (as if it expired or was revoked).
    pub fn revoke_token(&self, token: &str) {
        self.shared.world().auth.revoke(token);
    }

    /// Issues an access token and a refresh token to the registered client, as the
    /// authorization flow would: `(access, refresh)`.
    pub fn issue_tokens(&self) -> (String, String) {
        let lifetime = self.shared.config.token_lifetime;
        let client = self.shared.config.client_id.clone();
        self.shared.world().auth.issue(&client, lifetime)
    }

    /// The next visit to the authorization endpoint is denied by the user.
    pub fn deny_next_authorization(&self) {
        self.shared.world().deny_next = true;
    }

    /// What has been asked of it so far.
    pub fn counters(&self) -> Counters {
        self.shared.world().counters
    }

    /// The contents of the file at `path` (names from the root, `/`-separated).
    pub fn file(&self, path: &str) -> Option<Bytes> {
        let world = self.shared.world();
        let mut at = store::ROOT.to_string();
        for name in path.split('/').filter(|s| !s.is_empty()) {
            at = world
                .store
                .children(&at)
                .into_iter()
                .find(|n| n.name == name)?
                .id
                .clone();
        }
        let node = world.store.get(&at)?;
        (node.kind == store::Kind::File).then(|| node.content.clone())
    }

    /// Forgets every event so far, as Box forgets old ones: stream positions from before
    /// answer 400.
    pub fn expire_events(&self) {
        self.shared.world().store.log.expire();
    }

    /// At most `n` events per `GET /2.0/events` answer, whatever `limit` asks.
    pub fn set_event_page_limit(&self, n: usize) {
        self.shared.world().store.log.page_limit = Some(n.max(1));
    }

    /// The types of the events logged so far, oldest first.
    pub fn event_types(&self) -> Vec<String> {
        self.shared.world().store.log.types()
    }

    /// The collaborations of the item at `path` (names from the root, `/`-separated):
    /// `(login or invited address, role, status)`.
    pub fn collaborations(&self, path: &str) -> Vec<(String, String, String)> {
        let world = self.shared.world();
        let mut at = store::ROOT.to_string();
        for name in path.split('/').filter(|s| !s.is_empty()) {
            match world
                .store
                .children(&at)
                .into_iter()
                .find(|n| n.name == name)
            {
                Some(node) => at = node.id.clone(),
                None => return Vec::new(),
            }
        }
        world.collaborations.of(&at)
    }

    /// Upload sessions neither committed nor aborted.
    pub fn open_sessions(&self) -> usize {
        self.shared.world().sessions.len()
    }
}

impl Drop for BoxFake {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// The routes of every Box host the fake plays.
fn router(shared: Arc<Shared>) -> Router {
    let authenticated = Router::new()
        .route("/2.0/users/me", get(items::users_me))
        .route("/2.0/users", get(enterprise::list_users))
        .route("/2.0/users/{id}", get(enterprise::get_user))
        .route(
            "/2.0/users/{id}/memberships",
            get(enterprise::user_memberships),
        )
        .route("/2.0/groups", get(enterprise::list_groups))
        .route("/2.0/groups/{id}", get(enterprise::get_group))
        .route(
            "/2.0/groups/{id}/memberships",
            get(enterprise::group_memberships),
        )
        .route(
            "/2.0/files/{id}",
            get(items::get_file)
                .put(items::update_item::<false>)
                .post(items::restore_item::<false>)
                .delete(items::delete_file),
        )
        .route("/2.0/files/{id}/content", get(items::download))
        .route("/2.0/files/{id}/copy", post(items::copy_item::<false>))
        .route("/2.0/files/{id}/{thumbnail}", get(media::thumbnail))
        .route("/2.0/files/content", options(uploads::preflight))
        .route("/2.0/folders", post(items::create_folder))
        .route(
            "/2.0/folders/{id}",
            get(items::get_folder)
                .put(items::update_item::<true>)
                .post(items::restore_item::<true>)
                .delete(items::delete_folder),
        )
        .route("/2.0/folders/{id}/items", get(items::folder_items))
        .route("/2.0/events", get(events::list))
        .route("/2.0/search", get(search::search))
        .route(
            "/2.0/files/{id}/collaborations",
            get(collaborations::list::<false>),
        )
        .route(
            "/2.0/folders/{id}/collaborations",
            get(collaborations::list::<true>),
        )
        .route("/2.0/collaborations", post(collaborations::create))
        .route(
            "/2.0/collaborations/{id}",
            get(collaborations::get)
                .put(collaborations::update)
                .delete(collaborations::delete),
        )
        .route("/2.0/folders/{id}/copy", post(items::copy_item::<true>))
        .route("/api/2.0/files/content", post(uploads::upload))
        .route("/api/2.0/files/{id}/content", post(uploads::upload_version))
        .route(
            "/api/2.0/files/upload_sessions",
            post(uploads::create_session),
        )
        .route(
            "/api/2.0/files/{id}/upload_sessions",
            post(uploads::create_version_session),
        )
        .route(
            "/api/2.0/files/upload_sessions/{session}",
            put(uploads::upload_part)
                .get(uploads::session_status)
                .delete(uploads::abort_session),
        )
        .route(
            "/api/2.0/files/upload_sessions/{session}/parts",
            get(uploads::list_parts),
        )
        .route(
            "/api/2.0/files/upload_sessions/{session}/commit",
            post(uploads::commit_session),
        )
        .route_layer(axum::middleware::from_fn_with_state(shared.clone(), guard));
    Router::new()
        .merge(authenticated)
        .route("/dl/{token}", get(items::serve_download))
        .route("/placeholder/{name}", get(media::placeholder))
        .route("/oauth2/token", post(oauth::token))
        .route("/api/oauth2/authorize", get(oauth::authorize))
        .layer(DefaultBodyLimit::disable())
        .with_state(shared)
}

/// Injected rate limits first, then the bearer token, then `As-User`.
async fn guard(State(shared): AppState, request: Request, next: Next) -> Response {
    {
        let mut world = shared.world();
        world.counters.calls += 1;
        let (left, wait) = world.throttle;
        if left > 0 {
            world.throttle.0 -= 1;
            world.counters.rate_limited += 1;
            return BoxError::rate_limited(wait).into_response();
        }
        let token = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if !token.is_some_and(|t| world.auth.accepts(t)) {
            return errors::unauthorized();
        }
    }
    let header = request
        .headers()
        .get("as-user")
        .map(|v| v.to_str().unwrap_or_default().to_string());
    let user = match enterprise::acting(&shared, header.as_deref()) {
        Ok(user) => user,
        Err(e) => return e.into_response(),
    };
    let Some(user) = user else {
        let _shared = shared.acting.read().await;
        return next.run(request).await;
    };
    let _alone = shared.acting.write().await;
    let swap = |world: &mut World| {
        let theirs = world.members.get_mut(&user).expect("checked member");
        std::mem::swap(&mut world.store, theirs);
    };
    swap(&mut shared.world());
    let response = next.run(request).await;
    swap(&mut shared.world());
    response
}

#[cfg(test)]
mod tests {
    use axum::{body::Body, http::Request as HttpRequest};
    use serde_json::{json, Value};
    use tower::ServiceExt;

    use super::*;

    fn app() -> Router {
        let config = Config {
            part_size: 4,
            min_session_size: 6,
            ..Config::default()
        };
        router(Arc::new(Shared::new(config, "http://box.test".into())))
    }

    async fn call(app: &Router, method: &str, uri: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = HttpRequest::builder()
            .method(method)
            .uri(uri)
            .header("authorization", "Bearer box-access-token");
        let body = match body {
            Some(json) => {
                request = request.header("content-type", "application/json");
                Body::from(json.to_string())
            }
            None => Body::empty(),
        };
        let response = app
            .clone()
            .oneshot(request.body(body).unwrap())
            .await
            .unwrap();
        let status = response.status().as_u16();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    #[tokio::test]
    async fn collaborations_are_made_listed_changed_and_removed_as_box_documents() {
        let config = Config {
            people: vec![User {
                id: "77".into(),
                name: "Ann".into(),
                login: "ann@example.com".into(),
            }],
            ..Config::default()
        };
        let app = router(Arc::new(Shared::new(config, "http://box.test".into())));
        let folder = json!({"name": "Team", "parent": {"id": "0"}});
        let (_, made) = call(&app, "POST", "/2.0/folders", Some(folder)).await;
        let id = made["id"].as_str().unwrap().to_string();
        let collaborate = |login: &str, role: &str| {
            json!({"item": {"type": "folder", "id": id}, "role": role,
                   "accessible_by": {"type": "user", "login": login}})
        };
        let (status, ann) = call(
            &app,
            "POST",
            "/2.0/collaborations",
            Some(collaborate("Ann@example.com", "editor")),
        )
        .await;
        assert_eq!(
            (status, ann["status"].as_str()),
            (201, Some("accepted")),
            "{ann}"
        );
        assert_eq!(ann["accessible_by"]["id"], "77");
        let (_, invited) = call(
            &app,
            "POST",
            "/2.0/collaborations",
            Some(collaborate("new@example.com", "viewer")),
        )
        .await;
        assert_eq!(
            (invited["status"].as_str(), invited["invite_email"].as_str()),
            (Some("pending"), Some("new@example.com"))
        );
        assert!(invited["accessible_by"].is_null());
        for (body, code) in [
            (
                collaborate("ann@example.com", "viewer"),
                "user_already_collaborator",
            ),
            (
                collaborate("tester@example.com", "viewer"),
                "user_already_collaborator",
            ),
            (collaborate("bob@example.com", "owner"), "bad_request"),
        ] {
            let (status, e) = call(&app, "POST", "/2.0/collaborations", Some(body)).await;
            assert_eq!((status, e["code"].as_str()), (400, Some(code)), "{e}");
        }
        let uri = format!("/2.0/folders/{id}/collaborations?limit=1");
        let (_, page) = call(&app, "GET", &uri, None).await;
        assert_eq!(page["entries"].as_array().unwrap().len(), 1);
        let marker = page["next_marker"].as_str().unwrap();
        let (_, rest) = call(&app, "GET", &format!("{uri}&marker={marker}"), None).await;
        assert_eq!(rest["entries"][0]["invite_email"], "new@example.com");
        assert!(rest["next_marker"].is_null());

        let ann_uri = format!("/2.0/collaborations/{}", ann["id"].as_str().unwrap());
        let (status, changed) =
            call(&app, "PUT", &ann_uri, Some(json!({"role": "previewer"}))).await;
        assert_eq!((status, changed["role"].as_str()), (200, Some("previewer")));
        let (status, _) = call(&app, "PUT", &ann_uri, Some(json!({"role": "owner"}))).await;
        assert_eq!(status, 403);
        let (status, _) = call(&app, "DELETE", &ann_uri, None).await;
        assert_eq!(status, 204);
        let (status, _) = call(&app, "GET", &ann_uri, None).await;
        assert_eq!(status, 404);
        let (status, _) = call(&app, "GET", "/2.0/files/424242/collaborations", None).await;
        assert_eq!(status, 404);
    }

    #[tokio::test]
    async fn item_changes_are_events_in_the_stream_and_the_trash_gives_back() {
        let app = app();
        let (status, now) = call(&app, "GET", "/2.0/events?stream_position=now", None).await;
        assert_eq!((status, now["chunk_size"].as_u64()), (200, Some(0)));
        let position = now["next_stream_position"].as_str().unwrap().to_string();
        let folder = json!({"name": "Docs", "parent": {"id": "0"}});
        let (_, made) = call(&app, "POST", "/2.0/folders", Some(folder)).await;
        let id = made["id"].as_str().unwrap();
        let (status, _) = call(&app, "DELETE", &format!("/2.0/folders/{id}"), None).await;
        assert_eq!(status, 204);
        let (status, _) = call(&app, "GET", &format!("/2.0/folders/{id}"), None).await;
        assert_eq!(status, 404, "in the trash");
        let (status, back) = call(&app, "POST", &format!("/2.0/folders/{id}"), None).await;
        assert_eq!((status, back["name"].as_str()), (201, Some("Docs")));

        let uri = format!("/2.0/events?stream_position={position}&stream_type=changes&limit=2");
        let (_, page) = call(&app, "GET", &uri, None).await;
        let types: Vec<&str> = page["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["event_type"].as_str().unwrap())
            .collect();
        assert_eq!(types, ["ITEM_CREATE", "ITEM_TRASH"]);
        assert_eq!(page["chunk_size"], 2);
        let created = &page["entries"][0]["source"];
        assert_eq!(created["path_collection"]["entries"][0]["id"], "0");
        let trashed = &page["entries"][1]["source"];
        assert_eq!(trashed["item_status"], "trashed");
        assert_eq!(trashed["path_collection"]["entries"][0]["name"], "Trash");
        let next = page["next_stream_position"].as_str().unwrap();
        let (_, rest) = call(
            &app,
            "GET",
            &format!("/2.0/events?stream_position={next}"),
            None,
        )
        .await;
        assert_eq!(rest["entries"][0]["event_type"], "ITEM_UNDELETE_VIA_TRASH");
        assert_eq!(rest["chunk_size"], 1);

        for (uri, expected) in [
            ("/2.0/events?limit=501", 400),
            ("/2.0/events?stream_type=everything", 400),
            ("/2.0/events?stream_type=admin_logs", 403),
            ("/2.0/events?stream_position=12", 400),
            ("/2.0/events?stream_position=x", 400),
        ] {
            assert_eq!(call(&app, "GET", uri, None).await.0, expected, "{uri}");
        }
        let (_, all) = call(&app, "GET", "/2.0/events?stream_position=0", None).await;
        assert_eq!(all["chunk_size"], 3);
    }

    #[tokio::test]
    async fn missing_items_and_taken_names_answer_as_box_documents() {
        let app = app();
        let (status, body) = call(&app, "GET", "/2.0/files/123", None).await;
        assert_eq!((status, body["code"].as_str()), (404, Some("not_found")));
        assert_eq!(body["type"], "error");
        let folder = json!({"name": "Docs", "parent": {"id": "0"}});
        let (status, created) = call(&app, "POST", "/2.0/folders", Some(folder)).await;
        assert_eq!(status, 201);
        let again = json!({"name": "DOCS", "parent": {"id": "0"}});
        let (status, body) = call(&app, "POST", "/2.0/folders", Some(again)).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (409, Some("item_name_in_use"))
        );
        assert_eq!(body["context_info"]["conflicts"][0]["id"], created["id"]);
        let (status, body) = call(&app, "GET", "/2.0/folders/0/items?limit=x", None).await;
        assert_eq!((status, body["code"].as_str()), (400, Some("bad_request")));
    }

    #[tokio::test]
    async fn listings_page_by_offset_and_by_marker() {
        let app = app();
        for name in ["b", "a", "c"] {
            let body = json!({"name": name, "parent": {"id": "0"}});
            call(&app, "POST", "/2.0/folders", Some(body)).await;
        }
        let (_, page) = call(&app, "GET", "/2.0/folders/0/items?limit=2&offset=2", None).await;
        assert_eq!(
            (page["total_count"].as_u64(), page["offset"].as_u64()),
            (Some(3), Some(2))
        );
        assert_eq!(page["entries"][0]["name"], "c");
        let (_, first) = call(
            &app,
            "GET",
            "/2.0/folders/0/items?usemarker=true&limit=2",
            None,
        )
        .await;
        assert!(first.get("total_count").is_none());
        let marker = first["next_marker"].as_str().unwrap();
        let uri =
            format!("/2.0/folders/0/items?usemarker=true&limit=2&marker={marker}&fields=name");
        let (_, second) = call(&app, "GET", &uri, None).await;
        assert_eq!(second["entries"][0]["name"], "c");
        assert!(second["next_marker"].is_null());
        assert!(
            second["entries"][0].get("sequence_id").is_none(),
            "only the fields asked for"
        );
    }

    #[tokio::test]
    async fn small_sessions_are_refused_and_unaligned_parts_too() {
        let app = app();
        let small = json!({"folder_id": "0", "file_size": 5, "file_name": "f.bin"});
        let (status, body) =
            call(&app, "POST", "/api/2.0/files/upload_sessions", Some(small)).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (400, Some("file_size_too_small"))
        );
        let ok = json!({"folder_id": "0", "file_size": 10, "file_name": "f.bin"});
        let (status, session) =
            call(&app, "POST", "/api/2.0/files/upload_sessions", Some(ok)).await;
        assert_eq!(status, 201);
        assert_eq!(
            (
                session["part_size"].as_u64(),
                session["total_parts"].as_u64()
            ),
            (Some(4), Some(3))
        );
        let request = HttpRequest::put(format!(
            "/api/2.0/files/upload_sessions/{}",
            session["id"].as_str().unwrap()
        ))
        .header("authorization", "Bearer box-access-token")
        .header("content-range", "bytes 2-5/10")
        .header("digest", "sha=x")
        .body(Body::from("abcd"))
        .unwrap();
        let response = app.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), 416);
    }

    #[tokio::test]
    async fn unknown_tokens_get_a_challenge_and_throttled_calls_a_429() {
        let app = app();
        let request = HttpRequest::get("/2.0/users/me")
            .header("authorization", "Bearer nope")
            .body(Body::empty())
            .unwrap();
        let response = app.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), 401);
        assert!(response.headers().contains_key(header::WWW_AUTHENTICATE));
        let (status, me) = call(&app, "GET", "/2.0/users/me", None).await;
        assert_eq!(
            (status, me["login"].as_str()),
            (200, Some("tester@example.com"))
        );
    }

    #[tokio::test]
    async fn the_fake_starts_and_throttles_on_request() {
        let fake = BoxFake::start(Config::default()).await;
        fake.rate_limit(1, 3);
        assert!(fake.url().starts_with("http://127.0.0.1:"));
        let (access, _refresh) = fake.issue_tokens();
        assert!(!access.is_empty());
        assert_eq!(fake.counters(), Counters::default());
    }
}
