//! Search in Drive's index: `files.list` with `q = name contains '…' and trashed = false`,
//! in Drive's own paging (`pageToken`). Drive tells a hit's folder by id only: each
//! batch climbs the folders holding its hits to the root once ([`Places`]), which gives
//! their paths and whether they lie in the folders searched (Drive's `'id' in parents`
//! would only find a folder's direct children).

use cloudbridge_shared::{storage::Batch, ApiError, ItemRef};

use super::{entry, listable, DriveStore};
use crate::search::{self, Places, Query};

impl DriveStore {
    /// One batch of `query`'s hits (see [`crate::Storage::search_batch`]).
    pub(super) async fn search_hits(
        &self,
        query: &Query,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Batch, ApiError> {
        let mut scopes = Vec::with_capacity(query.within.len());
        for scope in &query.within {
            scopes.push(match &scope.item {
                ItemRef::Native { id, .. } => id.clone(),
                ItemRef::Path(path) => self.resolve(path).await?.id,
            });
        }
        let q = format!(
            "name contains '{}' and trashed = false",
            search::backslash_quoted(&query.text)
        );
        let size = limit.clamp(1, 1000).to_string();
        let (files, next) = self
            .drive
            .list(&q, cursor, &size, Some("folder,name"))
            .await?;
        let mut places = Places::new(&self.drive, &self.ids).await?;
        let mut entries = Vec::with_capacity(files.len());
        for file in files.iter().filter(|f| listable(&f.name)) {
            let Some(parent) = file.json["parents"][0].as_str() else {
                continue;
            };
            // Not below My Drive's root by names we can address (shared with the user…).
            let Some(folder) = places.folder(parent).await? else {
                continue;
            };
            if !search::within(&scopes, &folder) {
                continue;
            }
            if let Ok(path) = folder.path.join(&file.name) {
                entries.push(entry(path, file));
            }
        }
        Ok(Batch { entries, next })
    }
}
