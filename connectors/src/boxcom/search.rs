//! Search in Box's index: `GET /2.0/search` with `query`, `content_types=name`,
//! `ancestor_folder_ids` for the folders searched (everything below them), in Box's own
//! offset paging (`offset`, `limit` ≤ 200, `total_count`). Box describes each hit with
//! its `path_collection`, so its path needs no further call.

use cloudbridge_shared::{storage::Batch, ApiError, ItemRef};

use super::{
    wire::{self, Item, FIELDS},
    BoxStore, ROOT,
};
use crate::search::Query;

/// Most results Box answers a search call with.
const MAX_LIMIT: u32 = 200;

impl BoxStore {
    /// One batch of `query`'s hits (see [`crate::Storage::search_batch`]); the cursor is
    /// the offset of the next batch.
    pub(super) async fn search_hits(
        &self,
        query: &Query,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Batch, ApiError> {
        let offset: u64 = match cursor {
            None => 0,
            Some(c) => c.parse().map_err(|_| {
                ApiError::invalid_parameters("This `next_page` value is not one of this search.")
            })?,
        };
        let mut ancestors = Vec::with_capacity(query.within.len());
        for scope in &query.within {
            ancestors.push(match &scope.item {
                ItemRef::Native { id, .. } => id.clone(),
                ItemRef::Path(path) => self.item_at(path).await?.id().to_string(),
            });
        }
        let ancestors = ancestors.join(",");
        let (offset_text, limit_text) = (offset.to_string(), limit.clamp(1, MAX_LIMIT).to_string());
        let url = self.api_url("search");
        let response = self
            .api
            .send(|c| {
                let mut params = vec![
                    ("query", query.text.as_str()),
                    ("content_types", "name"),
                    ("fields", FIELDS),
                    ("offset", offset_text.as_str()),
                    ("limit", limit_text.as_str()),
                ];
                if !ancestors.is_empty() {
                    params.push(("ancestor_folder_ids", ancestors.as_str()));
                }
                c.get(&url).query(&params)
            })
            .await?;
        let page = wire::json(response).await?;
        let hits = page["entries"].as_array().cloned().unwrap_or_default();
        let shown = hits.len() as u64;
        let mut entries = Vec::with_capacity(hits.len());
        for hit in hits {
            let item = Item(hit);
            // Below "All Files" (not the trash), a file or folder (not a web link), with
            // names we can address.
            let in_root = item.0["path_collection"]["entries"][0]["id"].as_str() == Some(ROOT);
            if item.kind().is_none() || !in_root {
                continue;
            }
            if let Some(path) = item.path() {
                entries.push(item.entry(path));
            }
        }
        let total = page["total_count"].as_u64().unwrap_or(0);
        let next = (shown > 0 && offset + shown < total).then(|| (offset + shown).to_string());
        Ok(Batch { entries, next })
    }
}
