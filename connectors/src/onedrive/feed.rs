//! Graph's delta query on the drive's root (`/me/drive/root/delta`) as the change feed.
//!
//! A position is the whole `@odata.nextLink` or `@odata.deltaLink` Graph handed out (as
//! Graph asks: the links are opaque), only ever followed on the configured Graph hosts.
//! Delta names an item's folder by id (`parentReference.path` is not part of delta
//! answers), so paths are worked out from parent ids, each folder asked for once per
//! page. Deleted items, and items below a deleted folder or outside the drive's root,
//! are reported as gone. A token Graph no longer knows (410 `resyncRequired`) is
//! [`FeedPage::Expired`].

use cloudbridge_shared::{ApiError, ItemPath};
use reqwest::Method;
use serde_json::Value;

use super::{graph, OneDrive};
use crate::feed::{last_per_key, Change, FeedPage, Folder, Lineage};

impl OneDrive {
    /// The deltaLink of now (`token=latest`; without it, the end of a full enumeration).
    pub(super) async fn delta_now(&self) -> Result<String, ApiError> {
        let mut url = self.graph.drive("/root/delta?token=latest");
        loop {
            let page = self.graph.get(&url).await?;
            if let Some(link) = page["@odata.deltaLink"].as_str() {
                return Ok(link.to_string());
            }
            url = self.next_link(&page)?;
        }
    }

    fn next_link(&self, page: &Value) -> Result<String, ApiError> {
        match page["@odata.nextLink"].as_str() {
            Some(next) if self.graph.owns(next) => Ok(next.to_string()),
            Some(_) => Err(graph::bad_gateway("Graph paged to another host.")),
            None => Err(graph::bad_gateway("A delta page without a next link.")),
        }
    }

    /// One page of the delta at `cursor`.
    pub(super) async fn delta(&self, cursor: &str) -> Result<FeedPage, ApiError> {
        if !self.graph.owns(cursor) {
            // A link of another Graph host (the settings changed): start over.
            return Ok(FeedPage::Expired);
        }
        let response = self
            .graph
            .api
            .send(|client| client.request(Method::GET, cursor))
            .await?;
        if response.status() == reqwest::StatusCode::GONE {
            return Ok(FeedPage::Expired);
        }
        let page = graph::json(graph::checked(response).await?).await?;
        let (cursor, more) = match page["@odata.deltaLink"].as_str() {
            Some(link) => (link.to_string(), false),
            None => (self.next_link(&page)?, true),
        };
        let listed = page["value"].as_array().map_or(&[][..], Vec::as_slice);
        if listed.is_empty() {
            // A quiet account (most collections): no need to ask for the root's id.
            return Ok(FeedPage::quiet(cursor, more));
        }
        let root = self.graph.get(&self.graph.drive("/root")).await?;
        let root_id = graph::id_of(&root)?;
        let mut lineage = Lineage::new(["root", root_id.as_str()]);
        let mut changes = Vec::new();
        for item in listed {
            let Ok(key) = graph::id_of(item) else {
                continue;
            };
            if key == root_id || item.get("root").is_some() {
                continue;
            }
            let entry = self
                .path_of(item, &mut lineage)
                .await?
                .map(|path| graph::entry(path, item));
            changes.push(Change {
                key,
                entry,
                hint: None,
            });
        }
        Ok(FeedPage::Changes {
            changes: last_per_key(changes),
            cursor,
            more,
        })
    }

    /// Where a delta item is now, or `None` when it is gone or out of view.
    async fn path_of(
        &self,
        item: &Value,
        lineage: &mut Lineage,
    ) -> Result<Option<ItemPath>, ApiError> {
        if item.get("deleted").is_some_and(|d| !d.is_null()) {
            return Ok(None);
        }
        let (Some(name), Some(parent)) = (
            item["name"].as_str(),
            item["parentReference"]["id"].as_str(),
        ) else {
            return Ok(None);
        };
        let fetch = |id: String| async move {
            let url = self.graph.item(&id, "");
            Ok(self
                .graph
                .find(&url)
                .await?
                .map(|folder| folder_of(&folder)))
        };
        let folder = lineage.path_of(parent, fetch).await?;
        Ok(folder.and_then(|folder| folder.join(name).ok()))
    }
}

/// What the path of something inside `folder` needs to know of it.
fn folder_of(folder: &Value) -> Folder {
    Folder {
        name: folder["name"].as_str().unwrap_or_default().to_string(),
        parent: folder["parentReference"]["id"].as_str().map(str::to_string),
        gone: folder.get("deleted").is_some_and(|d| !d.is_null()),
    }
}
