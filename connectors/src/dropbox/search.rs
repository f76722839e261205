//! Search in Dropbox's index (`files/search_v2`, then `files/search/continue_v2` with its
//! cursor; a folder searched is `options.path`) and recursive listings (`files/list_folder`
//! with `recursive`, then `files/list_folder/continue`), each in Dropbox's own paging.

use cloudbridge_shared::{storage::Batch, ApiError, ItemPath};
use serde_json::{json, Value};

use super::{client::Error, no_folder, paths, paths::dropbox_path, DropboxStore};
use crate::search::{self, Query};

/// Longest query Dropbox searches for.
const MAX_QUERY: usize = 1000;
/// Most matches Dropbox answers a search call with.
const MAX_RESULTS: u32 = 1000;

/// A paging call's error: a cursor Dropbox no longer takes is the client's to restart.
fn paged_error(e: Error) -> ApiError {
    if e.has("reset") {
        ApiError::invalid_parameters(
            "Dropbox no longer takes this `next_page`: start again from page 1.",
        )
    } else {
        no_folder(e)
    }
}

/// The cursor Dropbox gave when it has more.
fn next_of(page: &Value) -> Option<String> {
    (page["has_more"] == true)
        .then(|| page["cursor"].as_str().map(str::to_string))
        .flatten()
        .filter(|c| !c.is_empty())
}

impl DropboxStore {
    /// One batch of `query`'s hits (see [`crate::Storage::search_batch`]): one Dropbox
    /// search per folder searched, files and folders matched by name.
    pub(super) async fn search_hits(
        &self,
        query: &Query,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Batch, ApiError> {
        if query.text.chars().count() > MAX_QUERY {
            return Err(ApiError::invalid_parameters(format!(
                "Dropbox searches for at most {MAX_QUERY} characters."
            )));
        }
        search::per_scope(query, cursor, |scope, inner| async move {
            let page = match inner {
                None => {
                    let mut options = json!({
                        "max_results": limit.clamp(1, MAX_RESULTS),
                        "filename_only": true,
                    });
                    if let Some(scope) = scope {
                        options["path"] = dropbox_path(&scope.path).into();
                    }
                    let arg = json!({ "query": query.text, "options": options });
                    self.client.rpc("files/search_v2", &arg).await
                }
                Some(cursor) => {
                    let arg = json!({ "cursor": cursor });
                    self.client.rpc("files/search/continue_v2", &arg).await
                }
            }
            .map_err(paged_error)?;
            let entries = page["matches"]
                .as_array()
                .into_iter()
                .flatten()
                // `metadata` is a `MetadataV2` union: `{".tag": "metadata", "metadata": …}`.
                .filter_map(|m| paths::listed(m["metadata"]["metadata"].clone()))
                .collect();
            Ok(Batch {
                entries,
                next: next_of(&page),
            })
        })
        .await
    }

    /// One batch of everything below the folder at `path` (see
    /// [`crate::Storage::subtree_batch`]), at the paths Dropbox displays.
    pub(super) async fn subtree(
        &self,
        path: &ItemPath,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Batch, ApiError> {
        let page = match cursor {
            None => {
                let arg = json!({
                    "path": dropbox_path(path),
                    "recursive": true,
                    "limit": limit.clamp(1, 2000),
                });
                self.client.rpc("files/list_folder", &arg).await
            }
            Some(cursor) => {
                let arg = json!({ "cursor": cursor });
                self.client.rpc("files/list_folder/continue", &arg).await
            }
        }
        .map_err(paged_error)?;
        let folder = path.as_str().to_lowercase();
        let entries = page["entries"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| paths::listed(m.clone()))
            // The folder itself comes first in a recursive listing of it.
            .filter(|e| e.path.as_str().to_lowercase() != folder)
            .collect();
        Ok(Batch {
            entries,
            next: next_of(&page),
        })
    }
}
