//! Paths to Box ids. Box addresses items by id only, so a path is resolved by listing
//! folders from the root (`0`) down, through [`crate::ids`]: the ids learnt from those
//! listings are remembered, and one is used only after Box, asked for that item, gives
//! its `path_collection` as that path (one call instead of listing every folder above).

use async_trait::async_trait;
use cloudbridge_shared::{storage::ItemKind, ApiError, ItemPath};

use super::{
    wire::{self, Item, FIELDS},
    BoxStore, ROOT,
};
use crate::ids::{Place, Tree};

/// Items per listing page (Box's maximum).
const PAGE: u32 = 1000;

#[async_trait]
impl Tree for BoxStore {
    type Item = Item;
    const ROOT: &'static str = ROOT;

    async fn root(&self) -> Result<Item, ApiError> {
        self.get_item(ItemKind::Folder, ROOT).await
    }

    async fn root_id(&self) -> Result<String, ApiError> {
        Ok(ROOT.to_string())
    }

    async fn get(&self, id: &str, kind: ItemKind) -> Result<Option<Item>, ApiError> {
        crate::ids::found(self.get_item(kind, id).await)
    }

    async fn child(
        &self,
        folder: &str,
        at: &ItemPath,
        name: &str,
    ) -> Result<Option<Item>, ApiError> {
        let children = self.children(folder, at).await?;
        Ok(children
            .into_iter()
            .find(|(_, c)| c.name() == name)
            .map(|(_, c)| c))
    }

    fn id(item: &Item) -> &str {
        item.id()
    }

    fn kind(item: &Item) -> Option<ItemKind> {
        item.kind()
    }

    fn name(item: &Item) -> &str {
        item.name()
    }

    fn place(item: &Item) -> Place<'_> {
        Place::Path(item.path())
    }
}

impl BoxStore {
    /// The item at `path`, as Box describes it now (404 when nothing is there).
    pub(super) async fn item_at(&self, path: &ItemPath) -> Result<Item, ApiError> {
        crate::ids::resolve(self, &self.ids, path).await
    }

    /// The folder at `path` (400 `invalid_parent_folder` when there is none).
    pub(super) async fn folder(&self, path: &ItemPath) -> Result<Item, ApiError> {
        let invalid = |m: &str| ApiError::new(400, "invalid_parent_folder", m);
        match self.item_at(path).await {
            Ok(item) if item.kind() == Some(ItemKind::Folder) => Ok(item),
            Ok(_) => Err(invalid("The parent is not a folder.")),
            Err(e) if e.status == 404 => Err(invalid("The parent folder does not exist.")),
            Err(e) => Err(e),
        }
    }

    /// Every file and folder in the folder `id` at `at` (all pages), with their paths;
    /// learnt along the way.
    pub(super) async fn children(
        &self,
        id: &str,
        at: &ItemPath,
    ) -> Result<Vec<(ItemPath, Item)>, ApiError> {
        let mut items = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let (page, next) = self.children_page(id, at, marker.as_deref(), PAGE).await?;
            items.extend(page);
            match next {
                Some(next) => marker = Some(next),
                None => return Ok(items),
            }
        }
    }

    /// One page of folder `id`'s children (at `at`; at most `limit`), the first or the one
    /// `marker` names, and the next page's marker.
    pub(super) async fn children_page(
        &self,
        id: &str,
        at: &ItemPath,
        marker: Option<&str>,
        limit: u32,
    ) -> Result<(Vec<(ItemPath, Item)>, Option<String>), ApiError> {
        let url = self.api_url(&format!("folders/{id}/items"));
        let limit = limit.clamp(1, 1000).to_string();
        let response = self
            .api
            .send(|c| {
                let mut query = vec![
                    ("fields", FIELDS),
                    ("usemarker", "true"),
                    ("limit", limit.as_str()),
                ];
                if let Some(m) = marker {
                    query.push(("marker", m));
                }
                c.get(&url).query(&query)
            })
            .await?;
        let page = wire::json(response).await?;
        let mut items = Vec::new();
        for entry in page["entries"].as_array().into_iter().flatten() {
            let item = Item(entry.clone());
            let Some(kind) = item.kind() else { continue };
            // Box's names that cannot be a path segment here are left out.
            let Ok(path) = at.join(item.name()) else {
                continue;
            };
            self.ids.put(&path, item.id(), kind);
            items.push((path, item));
        }
        let next = page["next_marker"]
            .as_str()
            .filter(|m| !m.is_empty())
            .map(str::to_string);
        Ok((items, next))
    }

    /// The file or folder `id`, with the connector's fields.
    pub(super) async fn get_item(&self, kind: ItemKind, id: &str) -> Result<Item, ApiError> {
        let url = self.api_url(&format!("{}/{id}", plural(kind)));
        let response = self
            .api
            .send(|c| c.get(&url).query(&[("fields", FIELDS)]))
            .await?;
        Ok(Item(wire::json(response).await?))
    }
}

/// The collection of a kind in Box's URLs.
pub(super) fn plural(kind: ItemKind) -> &'static str {
    match kind {
        ItemKind::File => "files",
        ItemKind::Folder => "folders",
    }
}
