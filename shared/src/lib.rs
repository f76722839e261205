//! What every Cloudbridge process shares: configuration, the Kloudless error type,
//! domain types, database access, job payloads, Redis naming and telemetry.
//!
//! # Layout
//! - [`config`]: typed settings, defaults → TOML file → environment.
//! - [`crypto`]: AES-256-GCM sealing of secrets at rest, with key rotation.
//! - [`error`]: [`ApiError`], rendered in the Kloudless error format.
//! - [`netguard`]: outbound connections to client-chosen hosts reach public addresses only
//!   (and the networks an operator allowed).
//! - [`request_id`]: the request id carried from API to worker.
//! - [`secret`]: [`Secret`] (never printed), key digests, random tokens.
//! - [`storage`]: [`ItemPath`] (safe paths and ids), [`Entry`], pages.
//! - [`permissions`]: sharing of files and folders: [`permissions::Permission`] and the
//!   changes callers ask for.
//! - [`protocol`]: [`RequestJob`], [`Op`], [`Reply`]: the request path's jobs.
//! - [`quota`]: an account's storage use ([`quota::Quota`]).
//! - [`team`]: the Team API of admin accounts: users, groups, memberships.
//! - [`thumbnail`]: what a thumbnail request asks for and where its image is read.
//! - [`queue`]: queue and channel names, Redis connections, queue housekeeping.
//! - [`db`]: PostgreSQL functions, one module per table, and the migrator.
//! - [`telemetry`]: logging, Prometheus metrics and their names, shutdown signal.
//! - [`webhook`]: the signed Kloudless v1 webhook ping and its [`webhook::Sender`].
//! - [`usage`]: per-application usage counted in memory, written in batches for the
//!   portal's charts.

pub mod config;
pub mod crypto;
pub mod db;
pub mod error;
pub mod netguard;
pub mod permissions;
pub mod protocol;
pub mod queue;
pub mod quota;
pub mod request_id;
pub mod secret;
pub mod storage;
pub mod team;
pub mod telemetry;
pub mod thumbnail;
pub mod usage;
pub mod webhook;

pub use config::Settings;
pub use error::ApiError;
pub use protocol::{Op, Outcome, Reply, RequestJob};
pub use secret::Secret;
pub use storage::{Entry, ItemPath, ItemRef};
