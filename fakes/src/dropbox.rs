//! Dropbox API v2 emulator, written from Dropbox's published HTTP documentation and API
//! specification: an axum app on a loopback port serving, in memory, one host for the
//! RPC endpoints, the content endpoints and OAuth (point `api_url`, `content_url`,
//! `token_url` and `authorize_url` at [`FakeDropbox::url`]).
//!
//! # Covered
//! - Bearer tokens: only tokens the fake issued are accepted; an unknown one answers
//!   401 `invalid_access_token`, an expired one 401 `expired_access_token`, a missing
//!   `Authorization` header 400 (plain text), all as Dropbox shapes them.
//! - RPC (JSON body, `null`/empty for void arguments, unknown fields refused with a
//!   plain-text 400): `files/get_metadata`, `files/list_folder` (+ `recursive`,
//!   `limit`), `files/list_folder/continue` (pages, then the changes since the listing:
//!   new/modified entries and `deleted` ones; `reset` after
//!   [`FakeDropbox::reset_cursors`]), `files/list_folder/get_latest_cursor`,
//!   `files/create_folder_v2`, `files/delete_v2`, `files/move_v2`, `files/copy_v2`,
//!   `users/get_current_account`, `auth/token/revoke`.
//! - Search (see `search`): `files/search_v2` (names only, `options.path`,
//!   `options.max_results`) and `files/search/continue_v2`.
//! - Sharing (see `sharing`): the members of files and shared folders (add, list and
//!   continue, update, remove; `share_folder` and the job checks), with users of the
//!   fake or invitees by e-mail address; `files/get_metadata` shows `shared_folder_id`
//!   and `sharing_info` (other answers leave them out).
//!   `users/get_current_account`, `users/get_space_usage` (the bytes of the user's
//!   files, of an individual 2 GiB allocation), `auth/token/revoke`.
//! - Content (argument in `Dropbox-API-Arg`, which must be ASCII JSON, or the `arg`
//!   URL parameter for downloads): `files/upload` (`mode` add/overwrite/update,
//!   `autorename`, `strict_conflict`, `content_hash` checked, failed writes keep the
//!   bytes in an upload session as Dropbox does), `files/upload_session/start`,
//!   `append_v2` (`incorrect_offset` with `correct_offset`, `closed`) and `finish`,
//!   `files/download` (GET or POST, `Range` with 206/416, metadata in
//!   `Dropbox-API-Result` escaped to ASCII), `files/get_thumbnail_v2` (`path` resources;
//!   `format` jpeg/png, Dropbox's `size`s and `mode`s, made of the stored image with the
//!   `image` crate; `unsupported_extension` outside Dropbox's list of image extensions,
//!   `unsupported_image` for bytes that do not decode or files over 20 MB). Bodies up to
//!   150 MiB (`payload_too_large` beyond).
//! - Paths: `""` is the root where Dropbox allows it (`"/"` is a 400), `id:` paths
//!   resolve, lookups are case-insensitive while items keep their display case, missing
//!   parents are created by writes, `conflict/file_ancestor`, `disallowed_name` for the
//!   names Dropbox refuses (`desktop.ini`, `.ds_store`, …), autorename as `name (n).ext`,
//!   `rev` per file revision, stable `id` across moves and overwrites, `content_hash`.
//! - Errors: 409 with `{"error_summary": "path/not_found/..", "error": {...}}` in each
//!   route's own union (`path`, `path_lookup`, `from_lookup`, `to`, `lookup_failed`…).
//! - Teams (see `team`): one Dropbox Business team of the fake's users
//!   ([`FakeDropbox::join_team`], [`FakeDropbox::add_group`]), its members and groups
//!   through `team/members/list_v2`, `get_info_v2`, `team/groups/list`, `get_info` and
//!   `team/groups/members/list` (with their `continue` routes), and a team admin's
//!   `Dropbox-API-Select-User` on every user route (401 `invalid_select_user` for a
//!   non-member, a plain-text 400 for a token that is no team admin's).
//! - Faults: [`FakeDropbox::throttle`] answers the next N API calls with 429
//!   (`too_many_requests` or `too_many_write_operations`, `retry_after` in the body and
//!   `Retry-After`); [`FakeDropbox::contend_writes`] answers the next N write calls with
//!   the route's 409 `too_many_write_operations`.
//! - OAuth 2.0: `GET /oauth2/authorize` (`client_id`, `response_type=code`,
//!   `redirect_uri`, `state`, `code_challenge` + `code_challenge_method` S256/plain,
//!   `token_access_type=offline` for a refresh token) approves at once as the
//!   authorizing user and redirects with `code` and `state` (or `error=access_denied`
//!   after [`FakeDropbox::deny_next_authorization`]); `POST /oauth2/token` with
//!   `authorization_code` (single use, 10 minutes, `redirect_uri` must match, PKCE
//!   verifier checked, secret optional with PKCE) and `refresh_token` (not rotated, as
//!   Dropbox), client credentials by HTTP Basic or form, RFC 6749 error bodies.
//!
//! # Not covered
//! Shared links, groups as sharing grantees, content search (names are searched),
//! thumbnails of shared links, revisions and restore, batch routes, file locks,
//! properties, team writes (members and groups are made by the test),
//! `Dropbox-API-Select-Admin`, team folders and team spaces, team space allocations,
//! `include_deleted`, `parent_rev`, longpoll, concurrent upload sessions (treated as
//! sequential), session expiry after 7 days, `rev:` paths, namespaces (`ns:`), scopes
//! (every token may do everything; one token is both a team admin's user token and the
//! team's), and the `authorization` URL parameter. Each user's files live in memory for
//! the fake's lifetime.

use std::sync::Arc;

use axum::{
    extract::DefaultBodyLimit,
    routing::{get, post},
    Router,
};

mod content;
mod media;
mod oauth;
mod rpc;
mod search;
mod sharing;
mod state;
mod team;
mod tree;
mod wire;

pub use media::ALLOCATED;
pub use state::RateLimit;

use state::Shared;

/// The routes of the fake, over its state.
fn router(state: Arc<Shared>) -> Router {
    Router::new()
        .route("/2/files/get_metadata", post(rpc::get_metadata))
        .route("/2/files/list_folder", post(rpc::list_folder))
        .route(
            "/2/files/list_folder/continue",
            post(rpc::list_folder_continue),
        )
        .route(
            "/2/files/list_folder/get_latest_cursor",
            post(rpc::get_latest_cursor),
        )
        .route("/2/files/search_v2", post(search::search_v2))
        .route(
            "/2/files/search/continue_v2",
            post(search::search_continue_v2),
        )
        .route("/2/files/create_folder_v2", post(rpc::create_folder))
        .route("/2/files/delete_v2", post(rpc::delete))
        .route("/2/files/move_v2", post(rpc::move_v2))
        .route("/2/files/copy_v2", post(rpc::copy_v2))
        .route(
            "/2/users/get_current_account",
            post(rpc::get_current_account),
        )
        .route("/2/auth/token/revoke", post(rpc::revoke))
        .route("/2/sharing/add_file_member", post(sharing::add_file_member))
        .route(
            "/2/sharing/list_file_members",
            post(sharing::list_file_members),
        )
        .route(
            "/2/sharing/list_file_members/continue",
            post(sharing::list_file_members_continue),
        )
        .route(
            "/2/sharing/update_file_member",
            post(sharing::update_file_member),
        )
        .route(
            "/2/sharing/remove_file_member_2",
            post(sharing::remove_file_member),
        )
        .route("/2/sharing/share_folder", post(sharing::share_folder))
        .route(
            "/2/sharing/check_share_job_status",
            post(sharing::check_share_job_status),
        )
        .route(
            "/2/sharing/add_folder_member",
            post(sharing::add_folder_member),
        )
        .route(
            "/2/sharing/list_folder_members",
            post(sharing::list_folder_members),
        )
        .route(
            "/2/sharing/list_folder_members/continue",
            post(sharing::list_folder_members_continue),
        )
        .route(
            "/2/sharing/update_folder_member",
            post(sharing::update_folder_member),
        )
        .route(
            "/2/sharing/remove_folder_member",
            post(sharing::remove_folder_member),
        )
        .route(
            "/2/sharing/check_remove_member_job_status",
            post(sharing::check_remove_member_job_status),
        )
        .route("/2/team/members/list_v2", post(team::members_list))
        .route(
            "/2/team/members/list/continue_v2",
            post(team::members_continue),
        )
        .route("/2/team/members/get_info_v2", post(team::members_get_info))
        .route("/2/team/groups/list", post(team::groups_list))
        .route("/2/team/groups/list/continue", post(team::groups_continue))
        .route("/2/team/groups/get_info", post(team::groups_get_info))
        .route(
            "/2/team/groups/members/list",
            post(team::group_members_list),
        )
        .route(
            "/2/team/groups/members/list/continue",
            post(team::group_members_continue),
        )
        .route("/2/users/get_space_usage", post(media::get_space_usage))
        .route(
            "/2/files/get_thumbnail_v2",
            get(media::get_thumbnail_v2).post(media::get_thumbnail_v2),
        )
        .route("/2/files/upload", post(content::upload))
        .route(
            "/2/files/upload_session/start",
            post(content::session_start),
        )
        .route(
            "/2/files/upload_session/append_v2",
            post(content::session_append),
        )
        .route(
            "/2/files/upload_session/finish",
            post(content::session_finish),
        )
        .route(
            "/2/files/download",
            get(content::download).post(content::download),
        )
        .route("/oauth2/authorize", get(oauth::authorize))
        .route("/oauth2/token", post(oauth::token))
        .layer(DefaultBodyLimit::disable())
        .with_state(state)
}

/// A running fake Dropbox; stops when dropped.
pub struct FakeDropbox {
    url: String,
    state: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for FakeDropbox {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl FakeDropbox {
    /// Starts the fake on a free loopback port, with one user (see [`Self::account_id`]).
    pub async fn start() -> Self {
        let state = Arc::new(Shared::new());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port");
        let url = format!("http://{}", listener.local_addr().expect("bound"));
        let app = router(state.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { url, state, server }
    }

    /// Base URL of every endpoint (API, content and OAuth hosts are one here).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The token endpoint.
    pub fn token_url(&self) -> String {
        format!("{}/oauth2/token", self.url)
    }

    /// The authorization page.
    pub fn authorize_url(&self) -> String {
        format!("{}/oauth2/authorize", self.url)
    }

    /// Account id of the user the fake starts with.
    pub fn account_id(&self) -> String {
        self.state.lock().default_user.clone()
    }

    /// Adds a user; returns their account id.
    pub fn add_user(&self, email: &str, given_name: &str, surname: &str) -> String {
        self.state.lock().add_user(email, given_name, surname)
    }

    /// A new access token of `account_id`, valid for the token lifetime (4 hours unless
    /// [`Self::set_token_lifetime`] said otherwise).
    pub fn issue_token(&self, account_id: &str) -> String {
        self.state.lock().issue_token(account_id)
    }

    /// Makes a token expired (401 `expired_access_token` from now on).
    pub fn expire_token(&self, token: &str) {
        if let Some(t) = self.state.lock().tokens.get_mut(token) {
            t.expires = Some(std::time::Instant::now());
        }
    }

    /// Lifetime of the access tokens issued from now on (`expires_in`).
    pub fn set_token_lifetime(&self, lifetime: std::time::Duration) {
        self.state.lock().token_lifetime = lifetime;
    }

    /// Registers an app (`client_id` is Dropbox's app key).
    pub fn register_client(&self, client_id: &str, client_secret: &str) {
        self.state
            .lock()
            .clients
            .insert(client_id.to_string(), client_secret.to_string());
    }

    /// An access and a refresh token of `account_id` for a registered client, as an
    /// offline authorization would grant them.
    pub fn grant(&self, client_id: &str, account_id: &str) -> (String, String) {
        let mut inner = self.state.lock();
        let access = inner.issue_token(account_id);
        let refresh = state::random("");
        inner.refresh_tokens.insert(
            refresh.clone(),
            state::RefreshToken {
                account_id: account_id.to_string(),
                client_id: client_id.to_string(),
                public: false,
            },
        );
        (access, refresh)
    }

    /// The user `/oauth2/authorize` approves as from now on.
    pub fn authorize_as(&self, account_id: &str) {
        self.state.lock().authorizing_user = account_id.to_string();
    }

    /// The next visit of `/oauth2/authorize` is denied (`error=access_denied`).
    pub fn deny_next_authorization(&self) {
        self.state.lock().deny_next = true;
    }

    /// The next `calls` API calls answer 429 for `reason`, asking to wait
    /// `retry_after` seconds.
    pub fn throttle(&self, calls: u32, reason: RateLimit, retry_after: u64) {
        self.state.lock().throttle = (calls > 0).then_some((calls, reason, retry_after));
    }

    /// The next `calls` write calls answer their route's 409 `too_many_write_operations`.
    pub fn contend_writes(&self, calls: u32) {
        self.state.lock().write_contention = calls;
    }

    /// At most `n` entries per `list_folder` page, whatever `limit` asks.
    pub fn set_page_limit(&self, n: usize) {
        self.state.lock().page_limit = n.max(1);
    }

    /// Invalidates every list cursor handed out so far (409 `reset`).
    pub fn reset_cursors(&self) {
        self.state.lock().epoch += 1;
    }

    /// How many calls `route` (`files/upload`, `files/upload_session/start`, …) got.
    pub fn calls(&self, route: &str) -> usize {
        self.state.lock().calls.get(route).copied().unwrap_or(0)
    }

    /// The contents of the file at `path` (case-insensitive) of `account_id`.
    pub fn contents(&self, account_id: &str, path: &str) -> Option<Vec<u8>> {
        let mut inner = self.state.lock();
        let item = inner.tree(account_id).get(&path.to_lowercase())?;
        match &item.node {
            tree::Node::File(f) => Some(f.content.to_vec()),
            tree::Node::Folder => None,
        }
    }

    /// Who shares the item at `path` (`/a/b`, any case) of `account_id`: its owner
    /// first, then its members, as `(e-mail address, access level)`.
    pub fn members(&self, account_id: &str, path: &str) -> Vec<(String, String)> {
        sharing::members(&mut self.state.lock(), account_id, path)
    }

    /// Makes user `account_id` a member of the fake's one team (an admin when `admin`);
    /// returns their `team_member_id`.
    pub fn join_team(&self, account_id: &str, admin: bool) -> String {
        self.state.lock().join_team(account_id, admin)
    }

    /// Makes a team group of `members` (`team_member_id`, whether an owner of the group);
    /// returns its `group_id`.
    pub fn add_group(&self, name: &str, members: &[(&str, bool)]) -> String {
        self.state.lock().add_group(name, members)
    }

    /// Paths (display case) of everything `account_id` holds, in path order.
    pub fn paths(&self, account_id: &str) -> Vec<String> {
        let mut inner = self.state.lock();
        inner
            .tree(account_id)
            .children("", true)
            .iter()
            .map(|i| i.display.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests;
