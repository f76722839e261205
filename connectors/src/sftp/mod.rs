//! `sftp`: a folder on an SSH server, reached over SFTP with a password or a private key.
//! The server's host key is pinned at import (trust on first use); a changed key is
//! refused. Transfers are proxied: the API tier opens its own SFTP session with the
//! account's sealed credentials and streams. Uploads are written under a hidden temporary
//! name in the target folder and renamed into place at commit, so no partial file is ever
//! visible.
//!
//! Pure Rust (`russh`, `russh-sftp`): OpenDAL's SFTP service drives the system `ssh`
//! binary, which cannot take a password.
//!
//! # Layout
//! - [`session`]: connecting, authentication, host key pinning, the session cache.
//! - [`io`]: streaming reads and writes of file contents, copies on the server.

use std::{future::Future, pin::Pin, sync::Arc};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use cloudbridge_shared::{
    protocol::{AccountRef, TransferPlan},
    storage::{Capabilities, ItemKind, Page},
    ApiError, Entry, ItemPath,
};
use russh_sftp::{client::error::Error as SftpError, protocol::FileAttributes};
use serde::{Deserialize, Serialize};
use tokio::sync::OnceCell;

use crate::{
    dal::UPLOAD_PREFIX,
    guard::Guard,
    service::{self, Api, Category, Connect, Service, Staging},
    Storage,
};

pub mod io;
pub mod session;

pub use session::{host_key, parse_private_key, Conn};

/// `sftp`.
pub static SERVICE: Service = Service {
    name: "sftp",
    aliases: &[],
    display_name: "SFTP",
    apis: &[Api::Storage],
    category: Category::FileStore,
    connect: Connect::Credentials,
    capabilities: service::BASIC_CAPABILITIES,
    staging: Staging::HiddenFile,
    colour: "#455a64",
    open,
    item_key: service::no_item_key,
    names_by_id: false,
};

fn open(ctx: &crate::Context, account: &AccountRef) -> Result<Box<dyn Storage>, ApiError> {
    let store = SftpStore::new(account, ctx.cipher.as_deref(), ctx.guard.clone())?;
    Ok(Box::new(store))
}

/// Non-secret configuration of an SFTP account.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct SftpConfig {
    /// Host name or address of the SSH server.
    pub host: String,
    /// SSH port.
    #[serde(default = "default_port")]
    pub port: u16,
    /// User to log in as.
    pub username: String,
    /// Folder on the server that is the account's root (relative to the user's home
    /// folder unless absolute; the home folder when absent).
    #[serde(default)]
    pub root: Option<String>,
    /// SHA-256 fingerprint of the server's host key (`SHA256:…`), pinned at import.
    #[serde(default)]
    pub host_key: Option<String>,
}

/// The SSH port.
pub fn default_port() -> u16 {
    22
}

/// Credentials of an SFTP account (sealed at rest): a password, a private key, or both
/// (the key is tried first).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct SftpSecrets {
    /// Password.
    #[serde(default)]
    pub password: Option<String>,
    /// Private key, as text (OpenSSH, PEM or PuTTY format).
    #[serde(default)]
    pub private_key: Option<String>,
    /// Passphrase of the private key.
    #[serde(default)]
    pub passphrase: Option<String>,
}

/// What an item on the server is, from its mode bits.
fn kind_of(attrs: &FileAttributes) -> Option<Kind> {
    match attrs.permissions? & 0o170000 {
        0o040000 => Some(Kind::Item(ItemKind::Folder)),
        0o100000 => Some(Kind::Item(ItemKind::File)),
        0o120000 => Some(Kind::Link),
        _ => None,
    }
}

enum Kind {
    Item(ItemKind),
    Link,
}

fn entry(path: ItemPath, kind: ItemKind, attrs: &FileAttributes) -> Entry {
    let file = kind == ItemKind::File;
    Entry {
        id: None,
        parent_id: None,
        size: file.then(|| attrs.size.unwrap_or(0)),
        mime_type: file.then(|| {
            mime_guess::from_path(path.name())
                .first_or_octet_stream()
                .essence_str()
                .to_string()
        }),
        created: None,
        raw: Some(raw(&path, attrs)),
        modified: attrs
            .mtime
            .and_then(|t| DateTime::<Utc>::from_timestamp(t.into(), 0)),
        kind,
        path,
    }
}

/// The server's own view of an item: its path in the account and its SFTP attributes.
fn raw(path: &ItemPath, attrs: &FileAttributes) -> serde_json::Value {
    let mut raw = serde_json::json!({ "path": format!("/{}", path.as_str()) });
    for (key, value) in [
        ("size", attrs.size),
        ("uid", attrs.uid.map(u64::from)),
        ("gid", attrs.gid.map(u64::from)),
        ("mtime", attrs.mtime.map(u64::from)),
        ("atime", attrs.atime.map(u64::from)),
    ] {
        if let Some(v) = value {
            raw[key] = v.into();
        }
    }
    if let Some(mode) = attrs.permissions {
        raw["mode"] = format!("{mode:o}").into();
    }
    raw
}

fn invalid_parent(message: &str) -> ApiError {
    ApiError::new(400, "invalid_parent_folder", message)
}

/// The settings and credentials of an SFTP account.
pub fn settings(
    account: &AccountRef,
    cipher: Option<&cloudbridge_shared::crypto::Cipher>,
) -> Result<(SftpConfig, SftpSecrets), ApiError> {
    let config = serde_json::from_value(account.config.clone())
        .map_err(|e| ApiError::internal(format_args!("stored settings: {e}")))?;
    Ok((config, crate::open_secrets(account, cipher)?))
}

/// A session for `account` (cached per process; see [`session`]), on a server `guard`
/// permits.
pub async fn connect(
    account: &AccountRef,
    cipher: Option<&cloudbridge_shared::crypto::Cipher>,
    guard: &Guard,
) -> Result<Arc<Conn>, ApiError> {
    let (config, secrets) = settings(account, cipher)?;
    session::session(account, &config, &secrets, guard).await
}

/// An account on an SFTP server. Connects on first use.
pub struct SftpStore {
    account: AccountRef,
    config: SftpConfig,
    secrets: SftpSecrets,
    guard: Guard,
    conn: OnceCell<Arc<Conn>>,
}

type Listing = Vec<(String, FileAttributes)>;

impl SftpStore {
    /// The store of `account`, whose sealed credentials `cipher` opens, on a server
    /// `guard` permits.
    pub fn new(
        account: &AccountRef,
        cipher: Option<&cloudbridge_shared::crypto::Cipher>,
        guard: Guard,
    ) -> Result<Self, ApiError> {
        let (config, secrets) = settings(account, cipher)?;
        Ok(Self {
            account: account.clone(),
            config,
            secrets,
            guard,
            conn: OnceCell::new(),
        })
    }

    async fn conn(&self) -> Result<&Arc<Conn>, ApiError> {
        self.conn
            .get_or_try_init(|| {
                session::session(&self.account, &self.config, &self.secrets, &self.guard)
            })
            .await
    }

    /// Maps an SFTP failure; a broken session is not reused.
    fn fail(&self, e: SftpError) -> ApiError {
        let error = session::sftp_error(e);
        if error.status == 503 {
            session::forget(&self.account, &self.guard);
        }
        error
    }

    /// Kind and attributes of an item (links followed); 404 when missing or special.
    async fn stat(&self, path: &ItemPath) -> Result<(ItemKind, FileAttributes), ApiError> {
        let conn = self.conn().await?;
        let attrs = conn
            .sftp()
            .stat(conn.full(path))
            .await
            .map_err(|e| self.fail(e))?
            .attrs;
        match kind_of(&attrs) {
            Some(Kind::Item(kind)) => Ok((kind, attrs)),
            _ => Err(ApiError::not_found("No such file or folder.")),
        }
    }

    async fn exists(&self, path: &ItemPath) -> Result<Option<ItemKind>, ApiError> {
        match self.stat(path).await {
            Ok((kind, _)) => Ok(Some(kind)),
            Err(e) if e.status == 404 => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn folder(&self, path: &ItemPath) -> Result<(), ApiError> {
        match self.stat(path).await {
            Ok((ItemKind::Folder, _)) => Ok(()),
            Ok(_) => Err(invalid_parent("The parent is not a folder.")),
            Err(e) if e.status == 404 => Err(invalid_parent("The parent folder does not exist.")),
            Err(e) => Err(e),
        }
    }

    /// Every entry of a server folder (without `.` and `..`), attributes as the server
    /// lists them (links not followed).
    async fn read_dir(&self, full: &str) -> Result<Listing, ApiError> {
        let conn = self.conn().await?;
        let _slot = conn.handle_slot().await?;
        let sftp = conn.sftp();
        let handle = sftp.opendir(full).await.map_err(|e| self.fail(e))?.handle;
        let mut entries = Vec::new();
        let result = loop {
            match sftp.readdir(handle.as_str()).await {
                Ok(name) => entries.extend(
                    name.files
                        .into_iter()
                        .filter(|f| f.filename != "." && f.filename != "..")
                        .map(|f| (f.filename, f.attrs)),
                ),
                Err(SftpError::Status(s))
                    if s.status_code == russh_sftp::protocol::StatusCode::Eof =>
                {
                    break Ok(())
                }
                Err(e) => break Err(self.fail(e)),
            }
        };
        let closed = sftp.close(handle).await.map_err(|e| self.fail(e));
        result.and(closed.map(|_| ()))?;
        Ok(entries)
    }

    /// Where an upload of `name` lands (see [`crate::upload_target`]).
    async fn target(
        &self,
        parent: &ItemPath,
        name: &str,
        overwrite: bool,
    ) -> Result<ItemPath, ApiError> {
        crate::upload_target(
            parent,
            name,
            overwrite,
            |p| async move { self.exists(&p).await },
        )
        .await
    }

    /// Deletes a server folder and everything in it (links removed, not followed).
    fn remove_tree<'a>(
        &'a self,
        full: String,
    ) -> Pin<Box<dyn Future<Output = Result<(), ApiError>> + Send + 'a>> {
        Box::pin(async move {
            let conn = self.conn().await?;
            for (name, attrs) in self.read_dir(&full).await? {
                let child = format!("{full}/{name}");
                if matches!(kind_of(&attrs), Some(Kind::Item(ItemKind::Folder))) {
                    self.remove_tree(child).await?;
                } else {
                    conn.sftp().remove(child).await.map_err(|e| self.fail(e))?;
                }
            }
            conn.sftp().rmdir(full).await.map_err(|e| self.fail(e))?;
            Ok(())
        })
    }

    /// Copies a server folder's tree into the new folder `to` (links are skipped).
    fn copy_tree<'a>(
        &'a self,
        from: String,
        to: String,
    ) -> Pin<Box<dyn Future<Output = Result<(), ApiError>> + Send + 'a>> {
        Box::pin(async move {
            let conn = self.conn().await?;
            conn.sftp()
                .mkdir(to.as_str(), FileAttributes::empty())
                .await
                .map_err(|e| self.fail(e))?;
            for (name, attrs) in self.read_dir(&from).await? {
                if name.starts_with(UPLOAD_PREFIX) {
                    continue;
                }
                let (src, dst) = (format!("{from}/{name}"), format!("{to}/{name}"));
                match kind_of(&attrs) {
                    Some(Kind::Item(ItemKind::Folder)) => self.copy_tree(src, dst).await?,
                    Some(Kind::Item(ItemKind::File)) => {
                        io::copy(conn, &src, &dst).await?;
                    }
                    _ => {}
                }
            }
            Ok(())
        })
    }

    /// A hidden temporary name in `parent`.
    fn temp_in(parent: &ItemPath) -> Result<ItemPath, ApiError> {
        parent.join(&format!("{UPLOAD_PREFIX}{}", uuid::Uuid::new_v4().simple()))
    }

    /// Renames `from` to `to`; replaces a file at `to` when `replace`.
    async fn rename(&self, from: &str, to: &str, replace: bool) -> Result<(), ApiError> {
        let conn = self.conn().await?;
        if replace {
            if conn.posix_rename() {
                return conn.rename_over(from, to).await.map_err(|e| self.fail(e));
            }
            // Without the extension the old file goes first (a short gap, never a mix).
            match conn.sftp().remove(to).await {
                Ok(_) => {}
                Err(e) if io::is_missing(&e) => {}
                Err(e) => return Err(self.fail(e)),
            }
        }
        conn.sftp()
            .rename(from, to)
            .await
            .map(|_| ())
            .map_err(|e| self.fail(e))
    }
}

#[async_trait]
impl Storage for SftpStore {
    fn capabilities(&self) -> Capabilities {
        SERVICE.capabilities.to_vec()
    }

    async fn validate(&self) -> Result<(), ApiError> {
        match self.stat(&ItemPath::root()).await {
            Ok((ItemKind::Folder, _)) => Ok(()),
            Ok(_) => Err(ApiError::invalid_parameters("`root` is not a folder.")),
            Err(e) if e.status == 404 => Err(ApiError::invalid_parameters(
                "The root folder does not exist on the server.",
            )),
            Err(e) => Err(e),
        }
    }

    async fn metadata(&self, path: &ItemPath) -> Result<Entry, ApiError> {
        let (kind, attrs) = self.stat(path).await?;
        Ok(entry(path.clone(), kind, &attrs))
    }

    async fn list(&self, path: &ItemPath, page: u32, page_size: u32) -> Result<Page, ApiError> {
        let (kind, _) = self.stat(path).await?;
        if kind != ItemKind::Folder {
            return Err(ApiError::not_found("No folder has this id."));
        }
        let conn = self.conn().await?;
        let full = conn.full(path);
        let mut items = Vec::new();
        for (name, attrs) in self.read_dir(&full).await? {
            if name.starts_with(UPLOAD_PREFIX)
                || cloudbridge_shared::storage::validate_name(&name).is_err()
            {
                continue;
            }
            let (kind, attrs) = match kind_of(&attrs) {
                Some(Kind::Item(kind)) => (kind, attrs),
                // A link shows as what it points to; broken links are left out.
                Some(Kind::Link) => {
                    let Ok(target) = conn.sftp().stat(format!("{full}/{name}")).await else {
                        continue;
                    };
                    match kind_of(&target.attrs) {
                        Some(Kind::Item(kind)) => (kind, target.attrs),
                        _ => continue,
                    }
                }
                None => continue,
            };
            items.push((name, kind, attrs));
        }
        let entries = items
            .into_iter()
            .map(|(name, kind, attrs)| Ok(entry(path.join(&name)?, kind, &attrs)))
            .collect::<Result<Vec<_>, ApiError>>()?;
        Page::of_listing(entries, page, page_size)
    }

    async fn create_folder(
        &self,
        parent: &ItemPath,
        name: &str,
        conflict_if_exists: bool,
    ) -> Result<(Entry, bool), ApiError> {
        let path = parent.join(name)?;
        self.folder(parent).await?;
        let existing = |found: Option<ItemKind>| match found {
            Some(found) => crate::reuse_folder(found, conflict_if_exists, &path).map(|()| true),
            None => Ok(false),
        };
        if existing(self.exists(&path).await?)? {
            return Ok((self.metadata(&path).await?, false));
        }
        let conn = self.conn().await?;
        if let Err(e) = conn
            .sftp()
            .mkdir(conn.full(&path), FileAttributes::empty())
            .await
        {
            // Created by someone else meanwhile?
            return match existing(self.exists(&path).await?)? {
                true => Ok((self.metadata(&path).await?, false)),
                false => Err(self.fail(e)),
            };
        }
        Ok((self.metadata(&path).await?, true))
    }

    async fn remove(&self, item: &Entry, recursive: bool) -> Result<(), ApiError> {
        let conn = self.conn().await?;
        let full = conn.full(&item.path);
        if item.kind == ItemKind::File {
            return conn
                .sftp()
                .remove(full)
                .await
                .map(|_| ())
                .map_err(|e| self.fail(e));
        }
        if !recursive && !self.read_dir(&full).await?.is_empty() {
            return Err(ApiError::new(
                403,
                "folder_not_empty",
                "The folder is not empty.",
            ));
        }
        self.remove_tree(full).await
    }

    async fn relocate_to(
        &self,
        source: &Entry,
        to: &ItemPath,
        copy: bool,
    ) -> Result<Entry, ApiError> {
        let (from, kind) = (&source.path, source.kind);
        let parent = to.parent().expect("a destination has a parent");
        self.folder(&parent).await?;
        let conn = self.conn().await?;
        let (src, dst) = (conn.full(from), conn.full(to));
        match (kind, copy) {
            (_, false) => self.rename(&src, &dst, false).await?,
            (ItemKind::File, true) => {
                // Copied under a hidden name, then renamed: never seen half-written.
                let temp = conn.full(&Self::temp_in(&parent)?);
                let copied = match io::copy(conn, &src, &temp).await {
                    Ok(_) => self.rename(&temp, &dst, false).await,
                    Err(e) => Err(e),
                };
                if let Err(e) = copied {
                    let _ = conn.sftp().remove(temp).await;
                    return Err(e);
                }
            }
            (ItemKind::Folder, true) => self.copy_tree(src, dst).await?,
        }
        self.metadata(to).await
    }

    async fn plan_download(&self, path: &ItemPath) -> Result<(TransferPlan, Entry), ApiError> {
        let (kind, attrs) = self.stat(path).await?;
        if kind != ItemKind::File {
            return Err(ApiError::not_found("No file has this id."));
        }
        let plan = TransferPlan::Service {
            path: path.as_str().to_string(),
            staged: None,
        };
        Ok((plan, entry(path.clone(), kind, &attrs)))
    }

    async fn plan_upload(
        &self,
        parent: &ItemPath,
        name: &str,
        _overwrite: bool,
    ) -> Result<TransferPlan, ApiError> {
        self.folder(parent).await?;
        parent.join(name)?;
        let temp = Self::temp_in(parent)?;
        Ok(TransferPlan::Service {
            path: temp.as_str().to_string(),
            staged: Some(temp.id()),
        })
    }

    async fn commit_upload(
        &self,
        staged: &str,
        parent: &ItemPath,
        name: &str,
        overwrite: bool,
    ) -> Result<Entry, ApiError> {
        let staged = ItemPath::from_id(staged)?;
        if !staged.name().starts_with(UPLOAD_PREFIX) || staged.parent().as_ref() != Some(parent) {
            return Err(ApiError::bad_request("Unknown upload."));
        }
        let target = self.target(parent, name, overwrite).await?;
        let conn = self.conn().await?;
        self.rename(&conn.full(&staged), &conn.full(&target), overwrite)
            .await?;
        match self.stat(&target).await {
            Ok((ItemKind::File, attrs)) => Ok(entry(target, ItemKind::File, &attrs)),
            _ => Err(ApiError::bad_request(
                "The upload was not received completely.",
            )),
        }
    }

    async fn abort_upload(&self, staged: &str) -> Result<(), ApiError> {
        let staged = ItemPath::from_id(staged)?;
        if !staged.name().starts_with(UPLOAD_PREFIX) {
            return Ok(());
        }
        let conn = self.conn().await?;
        match conn.sftp().remove(conn.full(&staged)).await {
            Ok(_) => Ok(()),
            Err(e) if io::is_missing(&e) => Ok(()),
            Err(e) => Err(self.fail(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_mode(mode: u32) -> FileAttributes {
        FileAttributes {
            permissions: Some(mode),
            ..FileAttributes::empty()
        }
    }

    #[test]
    fn kinds_come_from_the_mode_bits() {
        let kind = |mode| match kind_of(&with_mode(mode)) {
            Some(Kind::Item(ItemKind::Folder)) => "folder",
            Some(Kind::Item(ItemKind::File)) => "file",
            Some(Kind::Link) => "link",
            None => "other",
        };
        assert_eq!(kind(0o040755), "folder");
        assert_eq!(kind(0o100644), "file");
        assert_eq!(kind(0o120777), "link");
        // Block devices and sockets share bits with folders and files: still not items.
        assert_eq!(kind(0o060660), "other");
        assert_eq!(kind(0o140755), "other");
        assert!(kind_of(&FileAttributes::empty()).is_none());
    }
}
