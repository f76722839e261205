//! Search in the drive's index: `GET /me/drive/root/search(q='…')`, or
//! `/me/drive/items/{id}/search(q='…')` for a folder searched (everything below it), in
//! Graph's own paging (`@odata.nextLink`). Graph tells a hit's folder by id only
//! (`parentReference.id`): each batch climbs the folders holding its hits to the root
//! once ([`Places`]) for their paths.

use cloudbridge_shared::{storage::Batch, ApiError, ItemRef};
use serde_json::Value;

use super::{
    graph::{self, segment},
    OneDrive,
};
use crate::{
    ids::Ids,
    search::{self, Places, Query},
};

/// Page size asked of Graph's search.
const SEARCH_TOP: u32 = 999;

impl OneDrive {
    /// One batch of `query`'s hits (see [`crate::Storage::search_batch`]): one Graph
    /// search per folder searched.
    pub(super) async fn search_hits(
        &self,
        query: &Query,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Batch, ApiError> {
        search::per_scope(query, cursor, |scope, link| async move {
            let url = match link {
                Some(link) if self.graph.owns(&link) => link,
                Some(_) => return Err(graph::bad_gateway("Graph paged to another host.")),
                None => {
                    // An OData string literal doubles its quotes.
                    let text = segment(&query.text.replace('\'', "''"));
                    let rest = format!("/search(q='{text}')?$top={}", limit.clamp(1, SEARCH_TOP));
                    match scope.map(|s| &s.item) {
                        None => self.graph.drive(&format!("/root{rest}")),
                        Some(ItemRef::Native { id, .. }) => self.graph.item(id, &rest),
                        Some(ItemRef::Path(path)) => {
                            self.graph.item(&self.paths.folder(path).await?, &rest)
                        }
                    }
                }
            };
            let mut page = self.graph.get(&url).await?;
            let hits = match page.get_mut("value").map(Value::take) {
                Some(Value::Array(values)) => values,
                _ => Vec::new(),
            };
            let next = page
                .get("@odata.nextLink")
                .and_then(Value::as_str)
                .map(str::to_string);
            let ids = Ids::of(self.paths.account());
            let mut places = Places::new(&self.graph, &ids).await?;
            let mut entries = Vec::with_capacity(hits.len());
            for hit in &hits {
                let (Some(name), Some(parent)) =
                    (hit["name"].as_str(), hit["parentReference"]["id"].as_str())
                else {
                    // The root itself has no parent.
                    continue;
                };
                let Some(folder) = places.folder(parent).await? else {
                    continue;
                };
                if let Ok(path) = folder.path.join(name) {
                    entries.push(graph::entry(path, hit));
                }
            }
            Ok(Batch { entries, next })
        })
        .await
    }
}
