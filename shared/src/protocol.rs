//! Job payloads and replies of the request path (API tier ⇄ workers).
//!
//! The API pushes a [`RequestJob`]; a worker runs its [`Op`] and publishes a [`Reply`]
//! on the caller's reply channel. Bytes never travel here: downloads and uploads are
//! *planned* by a job and streamed by the API tier.

use serde::{Deserialize, Serialize};

use crate::{
    error::ApiError,
    permissions::{Change, Permission},
    quota::Quota,
    storage::{Entry, ItemKind, ItemRef, Page},
    team,
    thumbnail::{ThumbnailPlan, ThumbnailSpec},
};

/// One API request turned into a job.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RequestJob {
    /// Request id (also the reply's correlation id).
    pub request_id: String,
    /// Redis channel the caller listens on.
    pub reply_to: String,
    /// Unix milliseconds when the job was pushed (queue-wait metric).
    pub enqueued_ms: i64,
    /// Unix milliseconds after which nobody waits for the answer.
    pub deadline_ms: i64,
    /// The account the operation runs against (absent for account-less ops).
    pub account: Option<AccountRef>,
    /// What to do.
    pub op: Op,
}

/// What a worker needs to reach an account's service.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct AccountRef {
    /// Numeric account id.
    pub id: i64,
    /// The application the account belongs to (usage is counted for it; empty for an
    /// account not yet connected, such as credentials being checked).
    #[serde(default)]
    pub application: String,
    /// Service identifier (`local`, `s3`, …).
    pub service: String,
    /// Non-secret service configuration.
    pub config: serde_json::Value,
    /// Service credentials, still sealed (base64): workers open them with the shared keys,
    /// so they never cross Redis in clear.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed: Option<String>,
    /// An admin account (its service's team is read through the Team API).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub admin: bool,
    /// The member of the admin's team the request acts as (`X-Kloudless-As-User`):
    /// connectors reach that user's files instead of the admin's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub as_user: Option<String>,
}

/// Operations a worker runs for the request path.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    /// A no-op round trip through the queue (baseline for benchmarks, readiness).
    Ping,
    /// Checks that the account's service is reachable and the account usable.
    Validate,
    /// Takes a newly connected account's first event collection (what exists, recorded
    /// without events) before the connection is answered, so that every later change is
    /// reported. Done at once for accounts that do not collect or are seeded already.
    Seed,
    /// Metadata of a file or folder.
    Metadata {
        /// The item.
        item: ItemRef,
    },
    /// One page of a folder's contents.
    ListFolder {
        /// The folder.
        item: ItemRef,
        /// 1-based page.
        page: u32,
        /// Entries per page.
        page_size: u32,
        /// Where the page starts in the service's own paging (a `next_page` the API
        /// handed out); `page` is then the number it stands for.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from: Option<crate::storage::Position>,
        /// Everything below the folder, at any depth, where the service lists a subtree
        /// in one paged listing (501 elsewhere).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        recursive: bool,
    },
    /// Creates a folder.
    CreateFolder {
        /// Parent folder.
        parent: ItemRef,
        /// New folder's name.
        name: String,
        /// 409 instead of returning the existing folder.
        conflict_if_exists: bool,
    },
    /// Deletes a file or a folder.
    Delete {
        /// The item.
        item: ItemRef,
        /// What the caller believes it is (a mismatch is "not found").
        kind: ItemKind,
        /// Delete a non-empty folder with its contents.
        recursive: bool,
    },
    /// Moves (renames) or copies a file or folder within the account.
    Relocate {
        /// The item.
        item: ItemRef,
        /// What the caller believes it is (a mismatch is "not found").
        kind: ItemKind,
        /// Destination folder (the item's own when `None`).
        parent: Option<ItemRef>,
        /// Name at the destination (the item's own when `None`).
        name: Option<String>,
        /// Copy instead of move.
        copy: bool,
    },
    /// Resolves a file for download by the API tier.
    PlanDownload {
        /// The file.
        item: ItemRef,
    },
    /// Prepares an upload streamed by the API tier.
    PlanUpload {
        /// Target folder.
        parent: ItemRef,
        /// File name.
        name: String,
        /// Replace an existing file instead of choosing a new name.
        #[serde(default)]
        overwrite: bool,
    },
    /// Makes a staged upload visible under its final name.
    CommitUpload {
        /// Staging token returned by `PlanUpload`.
        staged: String,
        /// Target folder.
        parent: ItemRef,
        /// File name.
        name: String,
        /// Replace an existing file instead of choosing a new name.
        overwrite: bool,
    },
    /// Discards a staged upload (client went away).
    AbortUpload {
        /// Staging token returned by `PlanUpload`.
        staged: String,
    },
    /// Files and folders whose name contains `q` (case-insensitive), below `parents`: in the
    /// service's own search index where it has one, else by a bounded crawl.
    Search {
        /// The text searched for.
        q: String,
        /// Folders searched (the root when empty).
        parents: Vec<ItemRef>,
        /// 1-based page.
        page: u32,
        /// Entries per page.
        page_size: u32,
        /// Where the page starts in the service's own search paging (a `next_page` the
        /// API handed out); `page` is then the number it stands for.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from: Option<crate::storage::Position>,
    },
    /// Files by modification time, newest first.
    Recent {
        /// Only files modified after this time.
        after: Option<chrono::DateTime<chrono::Utc>>,
        /// 1-based page.
        page: u32,
        /// Entries per page.
        page_size: u32,
    },
    /// Who has access to a file or folder, after applying `change` when there is one.
    Permissions {
        /// The item.
        item: ItemRef,
        /// What the caller believes it is (a mismatch is "not found").
        kind: ItemKind,
        /// What to change (`None`: only read).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        change: Option<Change>,
    },
    /// The account's storage use, where the service reports it.
    Quota,
    /// Plans a thumbnail of a file for the API tier to stream (the image's bytes never
    /// pass through here: a local one is made into the cache on disk).
    PlanThumbnail {
        /// The file.
        item: ItemRef,
        /// The size bound and image format asked for.
        spec: ThumbnailSpec,
    },
    /// Reads the admin account's team (Team API).
    Team {
        /// What is asked for.
        query: team::Query,
        /// Entries per page of a list.
        page_size: u32,
        /// Where a list's page starts in the service's own paging (a cursor from an
        /// earlier answer; the first page when `None`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cursor: Option<String>,
        /// Pages to skip from there (a page asked for by number, walked to).
        #[serde(default)]
        skip_pages: u32,
    },
}

impl Op {
    /// Low-cardinality name for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Op::Ping => "ping",
            Op::Validate => "validate",
            Op::Seed => "seed",
            Op::Metadata { .. } => "metadata",
            Op::ListFolder { .. } => "list_folder",
            Op::CreateFolder { .. } => "create_folder",
            Op::Delete { .. } => "delete",
            Op::Relocate { copy: false, .. } => "move",
            Op::Relocate { copy: true, .. } => "copy",
            Op::PlanDownload { .. } => "plan_download",
            Op::PlanUpload { .. } => "plan_upload",
            Op::CommitUpload { .. } => "commit_upload",
            Op::AbortUpload { .. } => "abort_upload",
            Op::Search { .. } => "search",
            Op::Recent { .. } => "recent",
            Op::Permissions { change: None, .. } => "permissions",
            Op::Permissions {
                change: Some(_), ..
            } => "set_permissions",
            Op::Quota => "quota",
            Op::PlanThumbnail { .. } => "plan_thumbnail",
            Op::Team { .. } => "team",
        }
    }

    /// True for operations that change the account's items (they bring its next event
    /// collection forward).
    pub fn changes_items(&self) -> bool {
        matches!(
            self,
            Op::CreateFolder { .. }
                | Op::Delete { .. }
                | Op::Relocate { .. }
                | Op::CommitUpload { .. }
        )
    }
}

/// A successful operation's result.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// The operation had nothing to return.
    Done,
    /// Answer to `Ping`: which worker ran it.
    Pong {
        /// Worker name.
        worker: String,
    },
    /// One item's metadata.
    Entry {
        /// The item.
        entry: Entry,
        /// True when the operation created it.
        created: bool,
    },
    /// A page of a folder listing.
    Page {
        /// The page.
        page: Page,
    },
    /// Where the API tier reads a download from.
    Download {
        /// The plan.
        plan: TransferPlan,
        /// The file's metadata.
        entry: Entry,
    },
    /// Where the API tier writes an upload to.
    Upload {
        /// The plan.
        plan: TransferPlan,
    },
    /// Who has access to an item.
    Permissions {
        /// Its permissions, the owner's included.
        permissions: Vec<Permission>,
    },
    /// Answer to `Quota`.
    Quota {
        /// The account's storage use.
        quota: Quota,
    },
    /// Where the API tier reads a thumbnail from.
    Thumbnail {
        /// The plan.
        thumbnail: ThumbnailPlan,
    },
    /// Answer to `Team`.
    Team {
        /// The user, group or page asked for.
        answer: team::Answer,
    },
}

/// How the API tier moves bytes to or from a service without Redis.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TransferPlan {
    /// A file on the shared local data root.
    Local {
        /// Path relative to the data root.
        relative: String,
        /// Staging token (uploads only).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        staged: Option<String>,
    },
    /// The API tier opens the account's service itself (with its sealed credentials) and
    /// reads or writes `path`.
    Service {
        /// Path inside the account.
        path: String,
        /// Staging token (uploads only).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        staged: Option<String>,
    },
    /// One HTTP request to the service, authorised by itself (a presigned URL).
    Http {
        /// HTTP method.
        method: String,
        /// Absolute URL.
        url: String,
        /// Headers to send with it.
        headers: Vec<(String, String)>,
        /// Staging token (uploads only).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        staged: Option<String>,
    },
}

impl TransferPlan {
    /// The token that commits or aborts an upload.
    pub fn staged(&self) -> Option<&str> {
        match self {
            TransferPlan::Local { staged, .. }
            | TransferPlan::Http { staged, .. }
            | TransferPlan::Service { staged, .. } => staged.as_deref(),
        }
    }
}

/// A worker's answer to one [`RequestJob`].
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Reply {
    /// The request this answers.
    pub request_id: String,
    /// The result.
    pub result: Result<Outcome, ApiError>,
}

/// Periodic upkeep enqueued by the scheduler.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MaintenanceJob {
    /// Unix seconds of the scheduler tick (also the idempotency key).
    pub tick: i64,
    /// What to do.
    #[serde(default)]
    pub kind: Maintenance,
}

/// The kinds of periodic upkeep.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Maintenance {
    /// Trims Redis bookkeeping, stale uploads, expired sessions and tasks.
    #[default]
    Housekeeping,
    /// Refreshes OAuth tokens that are due (ahead of expiry, or idle for a day).
    TokenSweep,
}

impl Maintenance {
    /// Name used in metrics, logs and idempotency keys.
    pub fn name(self) -> &'static str {
        match self {
            Maintenance::Housekeeping => "housekeeping",
            Maintenance::TokenSweep => "token_sweep",
        }
    }
}

/// Work on the events queue, apart from request jobs so that collecting never slows the
/// API down.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "job", rename_all = "snake_case")]
pub enum EventJob {
    /// Collects one account's changes (one job per account per round).
    Collect {
        /// Numeric account id.
        account: i64,
        /// Unix seconds of the due time that was claimed (part of the idempotency key).
        round: i64,
    },
    /// Sends the webhook notifications that are due.
    Deliver {
        /// Unix seconds of the scheduler tick.
        tick: i64,
    },
}

/// Unix milliseconds now.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
