//! Connectors: one trait for what a storage service can do, one module per service.
//!
//! Workers call [`Storage`] methods (the control plane); the API tier uses [`transfer`]
//! to stream bytes along the [`TransferPlan`](cloudbridge_shared::protocol::TransferPlan)
//! a worker returned, so file contents never pass through Redis.
//!
//! # Layout
//! - [`Storage`]: the trait; [`open`] picks the implementation for an account.
//! - [`local`]: the embedded `local` service, one folder per account under a data root.
//! - [`transfer`]: byte streaming for the API tier.

use std::path::Path;

use async_trait::async_trait;
use cloudbridge_shared::{
    protocol::{AccountRef, TransferPlan},
    storage::{Capabilities, ItemKind, Page},
    ApiError, Entry, ItemPath,
};

pub mod local;
pub mod transfer;

/// Services this build can connect.
pub const SERVICES: &[&str] = &["local"];

/// Operations of a storage service, as the workers use them.
#[async_trait]
pub trait Storage: Send + Sync {
    /// What this service supports.
    fn capabilities(&self) -> Capabilities;
    /// Checks that the account is reachable and usable.
    async fn validate(&self) -> Result<(), ApiError>;
    /// Metadata of one item.
    async fn metadata(&self, path: &ItemPath) -> Result<Entry, ApiError>;
    /// One page of a folder, in a stable order.
    async fn list(&self, path: &ItemPath, page: u32, page_size: u32) -> Result<Page, ApiError>;
    /// Creates a folder; returns it and whether it was created now.
    async fn create_folder(
        &self,
        parent: &ItemPath,
        name: &str,
        conflict_if_exists: bool,
    ) -> Result<(Entry, bool), ApiError>;
    /// Deletes a file or folder of the given kind.
    async fn delete(
        &self,
        path: &ItemPath,
        kind: ItemKind,
        recursive: bool,
    ) -> Result<(), ApiError>;
    /// Where the API tier reads a file from.
    async fn plan_download(&self, path: &ItemPath) -> Result<(TransferPlan, Entry), ApiError>;
    /// Where the API tier stages an upload.
    async fn plan_upload(&self, parent: &ItemPath, name: &str) -> Result<TransferPlan, ApiError>;
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
}

/// The connector for an account.
pub fn open(data_root: &Path, account: &AccountRef) -> Result<Box<dyn Storage>, ApiError> {
    match account.service.as_str() {
        "local" => Ok(Box::new(local::LocalDisk::from_config(
            data_root,
            &account.config,
        )?)),
        other => Err(ApiError::not_implemented(format!(
            "The service `{other}` is not supported."
        ))),
    }
}

/// Capabilities of a service without opening an account.
pub fn capabilities(service: &str) -> Capabilities {
    match service {
        "local" => local::CAPABILITIES.to_vec(),
        _ => Vec::new(),
    }
}
