//! The embedded `local` service: each account is a folder `accounts/<account id>` under
//! the data root, keyed by the id because ids are never reused: a deleted account's
//! files can never be seen by a later account of the same name (the folder is removed
//! in the background, see the worker's removal). Accounts connected before that layout
//! keep the folder their stored configuration names (`{"folder": "accounts/<app>/<name>"}`).
//! The folder is created on first use. No request reaches outside its account folder: paths are
//! [`ItemPath`]s (no `..`, no absolute paths, no separators in names) and symbolic links
//! are refused wherever they appear.
//!
//! Uploads are staged under `.staging/` (outside every account) and made visible by an
//! atomic link or rename, so an interrupted upload never leaves a partial file in view.
//!
//! Operations whose cost does not grow with the data (stat, mkdir, link, rename) run
//! inline: they take microseconds on a local disk, and a hop to tokio's blocking pool
//! costs more in thread switches than the call itself. Listings and deletions, which grow
//! with folder size, run in one blocking task each.

use std::{
    fs,
    io::ErrorKind,
    os::unix::fs::MetadataExt,
    path::{Path, PathBuf},
    sync::Arc,
    time::SystemTime,
};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use cloudbridge_shared::{
    protocol::{AccountRef, TransferPlan},
    quota::Quota,
    storage::{validate_name, Capabilities, ItemKind, Page},
    thumbnail::{ThumbnailPlan, ThumbnailSpec},
    ApiError, Entry, ItemPath,
};

use crate::{
    service::{self, Api, Category, Connect, Service, Staging},
    thumbnails::Thumbnailer,
    Storage,
};

/// Folder of staged uploads, relative to the data root.
pub const STAGING_DIR: &str = ".staging";
/// Folder of account folders, relative to the data root.
pub const ACCOUNTS_DIR: &str = "accounts";

/// `local`: folders on the appliance's own disk.
pub static SERVICE: Service = Service {
    name: "local",
    aliases: &[],
    display_name: "Local Disk",
    apis: &[Api::Storage],
    category: Category::FileStore,
    connect: Connect::Embedded,
    capabilities: service::WITH_THUMBNAILS,
    staging: Staging::NotOnService,
    colour: "#2e7d32",
    open,
    item_key,
    names_by_id: false,
};

fn open(ctx: &crate::Context, account: &AccountRef) -> Result<Box<dyn Storage>, ApiError> {
    let disk = LocalDisk::open(&ctx.data_root, account.id, &account.config)?;
    Ok(Box::new(disk.with_thumbnails(ctx.thumbnails.clone())))
}

/// A `local` account.
#[derive(Debug, Clone)]
pub struct LocalDisk {
    data_root: PathBuf,
    /// The account's id (0 while it is being imported).
    id: i64,
    /// Account folder relative to the data root (`None` for an account being imported,
    /// which has no id yet and so no folder).
    relative: Option<String>,
    /// The process's thumbnailer (a private one when none was given).
    thumbnails: Option<Arc<Thumbnailer>>,
}

/// The folder (relative to the data root) of local account `id` with stored
/// configuration `config`; `None` for an account being imported (id 0).
pub fn account_root(id: i64, config: &serde_json::Value) -> Result<Option<String>, ApiError> {
    let Some(legacy) = config.get("folder") else {
        return Ok((id > 0).then(|| format!("{ACCOUNTS_DIR}/{id}")));
    };
    // A folder stored by an older version: a safe path under `accounts/`, below it.
    let relative = legacy
        .as_str()
        .ok_or_else(|| ApiError::internal("local account folder is not text"))?;
    let parsed = ItemPath::parse(relative).map_err(ApiError::internal)?;
    let mut segments = parsed.segments();
    if segments.next() != Some(ACCOUNTS_DIR) || segments.next().is_none() {
        return Err(ApiError::internal("local account folder outside accounts/"));
    }
    Ok(Some(relative.to_string()))
}

/// A local account name is one safe folder name: letters, digits and `._@+-`.
pub fn validate_account_name(name: &str) -> Result<(), ApiError> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._@+-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid_parameters(
            "A local account name is 1-128 characters of letters, digits and `._@+-`, \
             not starting with a dot.",
        ))
    }
}

fn invalid_parent(message: &str) -> ApiError {
    ApiError::new(400, "invalid_parent_folder", message)
}

impl LocalDisk {
    /// Opens local account `id` with its stored configuration.
    pub fn open(data_root: &Path, id: i64, config: &serde_json::Value) -> Result<Self, ApiError> {
        Ok(Self {
            data_root: data_root.to_path_buf(),
            id,
            relative: account_root(id, config)?,
            thumbnails: None,
        })
    }

    /// This account with thumbnails made (and their memory and cache bounded) by
    /// `thumbnails`, the process's thumbnailer.
    pub fn with_thumbnails(mut self, thumbnails: Arc<Thumbnailer>) -> Self {
        self.thumbnails = Some(thumbnails);
        self
    }

    /// Bytes of every file in the account folder (blocking; symbolic links are not
    /// followed, as nothing here follows them).
    fn used_sync(&self) -> Result<u64, ApiError> {
        let mut used = 0;
        let mut folders = vec![self.data_root.join(self.relative()?)];
        while let Some(folder) = folders.pop() {
            let items = match fs::read_dir(&folder) {
                Ok(items) => items,
                // Removed while counting, or never made.
                Err(e) if e.kind() == ErrorKind::NotFound => continue,
                Err(e) => return Err(ApiError::internal(e)),
            };
            for item in items {
                let Ok(item) = item else { continue };
                match item.metadata() {
                    Ok(m) if m.is_dir() => folders.push(item.path()),
                    Ok(m) if m.is_file() => used += m.len(),
                    _ => {}
                }
            }
        }
        Ok(used)
    }

    /// The account folder relative to the data root.
    fn relative(&self) -> Result<&str, ApiError> {
        self.relative
            .as_deref()
            .ok_or_else(|| ApiError::internal("a local account being imported has no folder"))
    }

    /// Runs `f` on a blocking thread with a copy of this account.
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&LocalDisk) -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let disk = self.clone();
        tokio::task::spawn_blocking(move || f(&disk))
            .await
            .map_err(ApiError::internal)?
    }

    fn relative_of(&self, path: &ItemPath) -> Result<String, ApiError> {
        let relative = self.relative()?;
        Ok(if path.is_root() {
            relative.to_string()
        } else {
            format!("{relative}/{}", path.as_str())
        })
    }

    /// Finds `path`, one component at a time below the account folder, refusing symbolic
    /// links; returns its location and metadata (the last `lstat` doubles as the answer).
    /// The account folder is made (and checked) on first use.
    fn lookup(&self, path: &ItemPath) -> Result<(PathBuf, fs::Metadata), ApiError> {
        let mut full = self.data_root.join(self.relative()?);
        let mut meta = match fs::symlink_metadata(&full) {
            Err(e) if e.kind() == ErrorKind::NotFound => {
                self.ensure_root()?;
                fs::symlink_metadata(&full).map_err(not_found_or_internal)?
            }
            other => other.map_err(not_found_or_internal)?,
        };
        for segment in path.segments() {
            if !meta.is_dir() {
                return Err(ApiError::not_found("No such file or folder."));
            }
            full.push(segment);
            meta = fs::symlink_metadata(&full).map_err(not_found_or_internal)?;
        }
        if meta.file_type().is_symlink() {
            return Err(ApiError::not_found("No such file or folder."));
        }
        Ok((full, meta))
    }

    fn entry(&self, path: &ItemPath) -> Result<Entry, ApiError> {
        let (_, meta) = self.lookup(path)?;
        Ok(entry_from(path.clone(), &meta))
    }

    /// An existing folder, as a parent of something new.
    fn folder(&self, path: &ItemPath) -> Result<PathBuf, ApiError> {
        match self.lookup(path) {
            Ok((full, m)) if m.is_dir() => Ok(full),
            Ok(_) => Err(invalid_parent("The parent is not a folder.")),
            Err(e) if e.status == 404 => Err(invalid_parent("The parent folder does not exist.")),
            Err(e) => Err(e),
        }
    }

    fn staged_path(&self, staged: &str) -> Result<PathBuf, ApiError> {
        uuid::Uuid::parse_str(staged).map_err(|_| ApiError::bad_request("Unknown upload."))?;
        Ok(self.data_root.join(STAGING_DIR).join(staged))
    }

    fn ensure_root(&self) -> Result<(), ApiError> {
        let Some(relative) = &self.relative else {
            // Being imported: only the data root must be usable.
            return fs::create_dir_all(self.data_root.join(ACCOUNTS_DIR))
                .map_err(ApiError::internal);
        };
        refuse_symlinks(&self.data_root, relative)?;
        fs::create_dir_all(self.data_root.join(relative)).map_err(ApiError::internal)?;
        refuse_symlinks(&self.data_root, relative)
    }

    fn list_sync(&self, path: &ItemPath, page: u32, page_size: u32) -> Result<Page, ApiError> {
        let (full, meta) = self.lookup(path)?;
        if !meta.is_dir() {
            return Err(ApiError::not_found("No folder has this id."));
        }
        let mut names: Vec<String> = fs::read_dir(&full)
            .map_err(not_found_or_internal)?
            .filter_map(|item| item.ok()?.file_name().into_string().ok())
            .filter(|name| validate_name(name).is_ok())
            .collect();
        names.sort_unstable();
        let (names, next_page) = Page::slice(names, page, page_size)?;
        let entries = names
            .iter()
            // Deleted while listing, or a symlink: skip it rather than fail the page.
            .filter_map(|name| match fs::symlink_metadata(full.join(name)) {
                Ok(m) if !m.file_type().is_symlink() => {
                    Some(path.join(name).map(|child| entry_from(child, &m)))
                }
                _ => None,
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page {
            entries,
            page,
            next_page,
            total: None,
            truncated: false,
            next_from: None,
        })
    }

    fn create_folder_sync(
        &self,
        parent: &ItemPath,
        name: &str,
        conflict_if_exists: bool,
    ) -> Result<(Entry, bool), ApiError> {
        let path = parent.join(name)?;
        let parent_dir = self.folder(parent)?;
        match fs::create_dir(parent_dir.join(name)) {
            Ok(()) => Ok((self.entry(&path)?, true)),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                let existing = self.entry(&path)?;
                crate::reuse_folder(existing.kind, conflict_if_exists, &path)?;
                Ok((existing, false))
            }
            Err(e) => Err(ApiError::internal(e)),
        }
    }

    fn remove_sync(&self, path: &ItemPath, recursive: bool) -> Result<(), ApiError> {
        let (full, meta) = self.lookup(path)?;
        let result = if !meta.is_dir() {
            fs::remove_file(&full)
        } else if recursive {
            fs::remove_dir_all(&full)
        } else {
            match fs::remove_dir(&full) {
                Err(e) if e.kind() == ErrorKind::DirectoryNotEmpty => {
                    return Err(ApiError::new(
                        403,
                        "folder_not_empty",
                        "The folder is not empty.",
                    ));
                }
                other => other,
            }
        };
        result.map_err(not_found_or_internal)
    }

    fn relocate_sync(
        &self,
        from: &ItemPath,
        kind: ItemKind,
        to: &ItemPath,
        copy: bool,
    ) -> Result<Entry, ApiError> {
        let (source, _) = self.lookup(from)?;
        let parent = to.parent().expect("a destination has a parent");
        let target = self.folder(&parent)?.join(to.name());
        // A rename replaces a file (or an empty folder) it finds: look again right before.
        if fs::symlink_metadata(&target).is_ok() {
            return Err(crate::taken(to));
        }
        if !copy {
            fs::rename(&source, &target).map_err(ApiError::internal)?;
        } else if kind == ItemKind::File {
            // Copy under a staging name, then link into place: never a partial file in view,
            // never over an existing one.
            let staged = self
                .data_root
                .join(STAGING_DIR)
                .join(uuid::Uuid::new_v4().to_string());
            fs::create_dir_all(self.data_root.join(STAGING_DIR)).map_err(ApiError::internal)?;
            fs::copy(&source, &staged).map_err(ApiError::internal)?;
            let linked = fs::hard_link(&staged, &target);
            let _ = fs::remove_file(&staged);
            linked.map_err(|e| match e.kind() {
                ErrorKind::AlreadyExists => crate::taken(to),
                _ => ApiError::internal(e),
            })?;
        } else {
            copy_tree(&source, &target)?;
        }
        self.entry(to)
    }

    fn commit_sync(
        &self,
        staged: &str,
        parent: &ItemPath,
        name: &str,
        overwrite: bool,
    ) -> Result<Entry, ApiError> {
        let source = self.staged_path(staged)?;
        let parent_dir = self.folder(parent)?;
        if !source.is_file() {
            return Err(ApiError::bad_request(
                "The upload was not received completely.",
            ));
        }
        let path = if overwrite {
            let target = parent.join(name)?;
            if let Ok(m) = fs::symlink_metadata(parent_dir.join(name)) {
                if !m.is_file() {
                    return Err(ApiError::naming_conflict(
                        "A folder has this name.",
                        target.id(),
                    ));
                }
            }
            // rename replaces atomically: readers see the old file or the new one.
            fs::rename(&source, parent_dir.join(name)).map_err(ApiError::internal)?;
            target
        } else {
            link_under_free_name(&source, &parent_dir, parent, name)?
        };
        self.entry(&path)
    }
}

#[async_trait]
impl Storage for LocalDisk {
    fn capabilities(&self) -> Capabilities {
        SERVICE.capabilities.to_vec()
    }

    /// The inode: it follows an item through renames and moves (a file replaced by an
    /// upload gets a new one, which the collector reads as an update of that path).
    fn change_key(&self, entry: &Entry) -> String {
        match entry.raw.as_ref().and_then(|r| r["inode"].as_u64()) {
            Some(inode) => format!("inode:{inode}"),
            None => entry.path.as_str().to_string(),
        }
    }

    async fn validate(&self) -> Result<(), ApiError> {
        self.ensure_root()
    }

    async fn metadata(&self, path: &ItemPath) -> Result<Entry, ApiError> {
        self.entry(path)
    }

    async fn list(&self, path: &ItemPath, page: u32, page_size: u32) -> Result<Page, ApiError> {
        let path = path.clone();
        self.blocking(move |d| d.list_sync(&path, page, page_size))
            .await
    }

    async fn create_folder(
        &self,
        parent: &ItemPath,
        name: &str,
        conflict_if_exists: bool,
    ) -> Result<(Entry, bool), ApiError> {
        self.create_folder_sync(parent, name, conflict_if_exists)
    }

    async fn remove(&self, item: &Entry, recursive: bool) -> Result<(), ApiError> {
        let path = item.path.clone();
        self.blocking(move |d| d.remove_sync(&path, recursive))
            .await
    }

    async fn relocate_to(
        &self,
        source: &Entry,
        to: &ItemPath,
        copy: bool,
    ) -> Result<Entry, ApiError> {
        let (from, kind, to) = (source.path.clone(), source.kind, to.clone());
        self.blocking(move |d| d.relocate_sync(&from, kind, &to, copy))
            .await
    }

    async fn plan_download(&self, path: &ItemPath) -> Result<(TransferPlan, Entry), ApiError> {
        let entry = self.entry(path)?;
        if entry.kind != ItemKind::File {
            return Err(ApiError::not_found("No file has this id."));
        }
        let relative = self.relative_of(path)?;
        Ok((
            TransferPlan::Local {
                relative,
                staged: None,
            },
            entry,
        ))
    }

    async fn plan_upload(
        &self,
        parent: &ItemPath,
        name: &str,
        _overwrite: bool,
    ) -> Result<TransferPlan, ApiError> {
        parent.join(name)?;
        self.folder(parent)?;
        fs::create_dir_all(self.data_root.join(STAGING_DIR)).map_err(ApiError::internal)?;
        let staged = uuid::Uuid::new_v4().to_string();
        Ok(TransferPlan::Local {
            relative: format!("{STAGING_DIR}/{staged}"),
            staged: Some(staged),
        })
    }

    async fn commit_upload(
        &self,
        staged: &str,
        parent: &ItemPath,
        name: &str,
        overwrite: bool,
    ) -> Result<Entry, ApiError> {
        self.commit_sync(staged, parent, name, overwrite)
    }

    async fn abort_upload(&self, staged: &str) -> Result<(), ApiError> {
        match fs::remove_file(self.staged_path(staged)?) {
            Err(e) if e.kind() != ErrorKind::NotFound => Err(ApiError::internal(e)),
            _ => Ok(()),
        }
    }

    /// The appliance sets no limit: `total` is unknown, `used` is what the files take.
    async fn quota(&self) -> Result<Quota, ApiError> {
        let used = self.blocking(|d| d.used_sync()).await?;
        Ok(Quota {
            total: None,
            used,
            raw: None,
        })
    }

    async fn thumbnail(
        &self,
        file: &Entry,
        spec: &ThumbnailSpec,
    ) -> Result<ThumbnailPlan, ApiError> {
        let (source, meta) = self.lookup(&file.path)?;
        if !meta.is_file() {
            return Err(ApiError::not_found("No file has this id."));
        }
        // The file as it is now (it may have changed since it was looked up).
        let current = entry_from(file.path.clone(), &meta);
        let thumbnails = match &self.thumbnails {
            Some(thumbnails) => thumbnails.clone(),
            None => Arc::new(Thumbnailer::new(
                cloudbridge_shared::Settings::default().local.thumbnails,
            )),
        };
        let relative = thumbnails
            .thumbnail(&self.data_root, self.id, source, &current, *spec)
            .await?;
        Ok(ThumbnailPlan {
            plan: TransferPlan::Local {
                relative,
                staged: None,
            },
            content_type: Some(spec.format.mime().to_string()),
        })
    }
}

/// Links `source` into `dir` under `name`, or `name (1)`, `name (2)`… when taken, without
/// ever replacing an existing file (a hard link fails when the target exists).
fn link_under_free_name(
    source: &Path,
    dir: &Path,
    parent: &ItemPath,
    name: &str,
) -> Result<ItemPath, ApiError> {
    for n in 0..1000 {
        let candidate = if n == 0 {
            name.to_string()
        } else {
            numbered(name, n)
        };
        let path = parent.join(&candidate)?;
        match fs::hard_link(source, dir.join(&candidate)) {
            Ok(()) => {
                fs::remove_file(source).map_err(ApiError::internal)?;
                return Ok(path);
            }
            Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(ApiError::internal(e)),
        }
    }
    Err(ApiError::naming_conflict(
        "Too many files with this name.",
        parent.join(name)?.id(),
    ))
}

/// Copies folder `from` to a new folder `to`, skipping symbolic links.
fn copy_tree(from: &Path, to: &Path) -> Result<(), ApiError> {
    fs::create_dir(to).map_err(ApiError::internal)?;
    for item in fs::read_dir(from).map_err(ApiError::internal)? {
        let item = item.map_err(ApiError::internal)?;
        let kind = item.file_type().map_err(ApiError::internal)?;
        let target = to.join(item.file_name());
        if kind.is_dir() {
            copy_tree(&item.path(), &target)?;
        } else if kind.is_file() {
            fs::copy(item.path(), target).map_err(ApiError::internal)?;
        }
    }
    Ok(())
}

/// Where an upload of `name` into `parent` lands on a service whose `kind_of` says
/// what is at a path: the name itself when overwriting (never over a folder), else
/// the first free `name (n)`.
pub(crate) async fn upload_target<F, Fut>(
    parent: &ItemPath,
    name: &str,
    overwrite: bool,
    kind_of: F,
) -> Result<ItemPath, ApiError>
where
    F: Fn(ItemPath) -> Fut,
    Fut: std::future::Future<Output = Result<Option<ItemKind>, ApiError>>,
{
    let target = parent.join(name)?;
    if overwrite {
        if kind_of(target.clone()).await? == Some(ItemKind::Folder) {
            return Err(ApiError::naming_conflict(
                "A folder has this name.",
                target.id(),
            ));
        }
        return Ok(target);
    }
    for n in 0..1000 {
        let candidate = if n == 0 {
            target.clone()
        } else {
            parent.join(&numbered(name, n))?
        };
        if kind_of(candidate.clone()).await?.is_none() {
            return Ok(candidate);
        }
    }
    Err(ApiError::naming_conflict(
        "Too many files with this name.",
        target.id(),
    ))
}

/// `report.pdf` → `report (2).pdf`.
pub(crate) fn numbered(name: &str, n: u32) -> String {
    match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => format!("{stem} ({n}).{ext}"),
        _ => format!("{name} ({n})"),
    }
}

/// Fails with 404 if any component of `relative` under `root` is a symbolic link
/// (blocking: call it from a blocking task).
pub fn refuse_symlinks(root: &Path, relative: &str) -> Result<(), ApiError> {
    let mut current = root.to_path_buf();
    for segment in relative.split('/').filter(|s| !s.is_empty()) {
        if segment == ".." || segment == "." {
            return Err(ApiError::not_found("No such file or folder."));
        }
        current.push(segment);
        match fs::symlink_metadata(&current) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(ApiError::not_found("No such file or folder."));
            }
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(ApiError::internal(e)),
        }
    }
    Ok(())
}

fn entry_from(path: ItemPath, meta: &fs::Metadata) -> Entry {
    let is_dir = meta.is_dir();
    let time = |t: std::io::Result<SystemTime>| t.ok().map(DateTime::<Utc>::from);
    Entry {
        id: None,
        parent_id: None,
        mime_type: (!is_dir).then(|| {
            mime_guess::from_path(path.name())
                .first_or_octet_stream()
                .essence_str()
                .to_string()
        }),
        kind: if is_dir {
            ItemKind::Folder
        } else {
            ItemKind::File
        },
        size: (!is_dir).then_some(meta.len()),
        created: time(meta.created()),
        modified: time(meta.modified()),
        raw: Some(serde_json::json!({
            "path": format!("/{}", path.as_str()),
            "inode": meta.ino(),
            "mode": format!("{:o}", meta.mode() & 0o7777),
            "mtime": meta.mtime(),
        })),
        path,
    }
}

/// A local item's identity: its inode (kept by renames and moves) and its birth time
/// (an inode number freed by a deletion may be given to the next new file).
pub fn item_key(entry: &Entry) -> Option<String> {
    let inode = entry.raw.as_ref()?.get("inode")?.as_u64()?;
    Some(match entry.created.and_then(|t| t.timestamp_nanos_opt()) {
        Some(born) => format!("inode:{inode}:{born}"),
        None => format!("inode:{inode}"),
    })
}

fn not_found_or_internal(e: std::io::Error) -> ApiError {
    match e.kind() {
        ErrorKind::NotFound | ErrorKind::NotADirectory => {
            ApiError::not_found("No such file or folder.")
        }
        _ => ApiError::internal(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn disk() -> (tempfile::TempDir, LocalDisk) {
        let dir = tempfile::tempdir().unwrap();
        let disk = LocalDisk::open(dir.path(), 7, &serde_json::json!({})).unwrap();
        disk.validate().await.unwrap();
        (dir, disk)
    }

    #[tokio::test]
    async fn symlinks_out_of_the_account_are_refused() {
        let (dir, disk) = disk().await;
        let outside = dir.path().join("secret.txt");
        std::fs::write(&outside, "x").unwrap();
        let root = dir.path().join(disk.relative().unwrap());
        std::os::unix::fs::symlink(&outside, root.join("link")).unwrap();
        std::os::unix::fs::symlink(dir.path(), root.join("dirlink")).unwrap();
        let link = ItemPath::parse("link").unwrap();
        assert_eq!(disk.metadata(&link).await.unwrap_err().status, 404);
        assert_eq!(disk.plan_download(&link).await.unwrap_err().status, 404);
        let through = ItemPath::parse("dirlink/secret.txt").unwrap();
        assert_eq!(disk.metadata(&through).await.unwrap_err().status, 404);
        let listing = disk.list(&ItemPath::root(), 1, 100).await.unwrap();
        assert!(listing.entries.is_empty(), "symlinks are not listed");
    }

    #[tokio::test]
    async fn uploads_never_replace_without_overwrite() {
        let (dir, disk) = disk().await;
        for expected in ["a.txt", "a (1).txt", "a (2).txt"] {
            let plan = disk
                .plan_upload(&ItemPath::root(), "a.txt", false)
                .await
                .unwrap();
            let TransferPlan::Local { relative, staged } = plan else {
                panic!("local uploads are staged on disk");
            };
            std::fs::write(dir.path().join(relative), expected).unwrap();
            let e = disk
                .commit_upload(&staged.unwrap(), &ItemPath::root(), "a.txt", false)
                .await
                .unwrap();
            assert_eq!(e.path.as_str(), expected);
        }
        assert_eq!(numbered("noext", 3), "noext (3)");
        assert_eq!(numbered(".hidden", 1), ".hidden (1)");
    }

    #[test]
    fn account_names_are_single_safe_segments() {
        for bad in ["", "..", ".x", "a/b", "a b", "ü"] {
            assert!(validate_account_name(bad).is_err(), "{bad:?}");
        }
        assert!(validate_account_name("alice@example.com").is_ok());
    }
}
