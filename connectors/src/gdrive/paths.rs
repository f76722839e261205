//! Paths to Drive ids. Drive addresses items by id and allows several items of one name
//! in a folder; Cloudbridge addresses them by path. A path is resolved from the root one
//! name at a time (`'<parent>' in parents and name = '<name>' and trashed = false`);
//! among same-named items the oldest (then the smallest id) is the one a path means, in
//! lookups and listings alike.
//!
//! Folder ids are remembered through [`crate::ids`]: a remembered id is used only once
//! Drive confirms, climbing its parents to the root by id, that it still names its path.

use async_trait::async_trait;
use cloudbridge_shared::{storage::ItemKind, ApiError, ItemPath};

use super::client::{Drive, DriveFile};
use crate::ids::{Place, Tree};

/// The item a path means among the same-named `found`: the oldest, then the smallest id.
pub fn pick(found: Vec<DriveFile>) -> Option<DriveFile> {
    found
        .into_iter()
        .min_by(|a, b| (a.created, &a.id).cmp(&(b.created, &b.id)))
}

#[async_trait]
impl Tree for Drive {
    type Item = DriveFile;
    const ROOT: &'static str = "root";

    async fn root(&self) -> Result<DriveFile, ApiError> {
        Ok(DriveFile::root())
    }

    async fn root_id(&self) -> Result<String, ApiError> {
        Ok(self.get("root").await?.id)
    }

    async fn get(&self, id: &str, _kind: ItemKind) -> Result<Option<DriveFile>, ApiError> {
        let file = crate::ids::found(Drive::get(self, id).await)?;
        Ok(file.filter(|f| f.json["trashed"] != true))
    }

    async fn child(
        &self,
        folder: &str,
        _at: &ItemPath,
        name: &str,
    ) -> Result<Option<DriveFile>, ApiError> {
        Ok(pick(self.children(folder, Some(name)).await?))
    }

    fn id(item: &DriveFile) -> &str {
        &item.id
    }

    fn kind(item: &DriveFile) -> Option<ItemKind> {
        Some(super::kind_of(item))
    }

    fn name(item: &DriveFile) -> &str {
        &item.name
    }

    fn place(item: &DriveFile) -> Place<'_> {
        Place::Parent(item.json["parents"][0].as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(id: &str, created: &str) -> DriveFile {
        DriveFile::from_json(serde_json::json!({"id": id, "name": "n", "createdTime": created}))
            .unwrap()
    }

    #[test]
    fn the_oldest_of_same_named_items_is_picked() {
        let found = vec![
            file("b", "2024-01-02T00:00:00Z"),
            file("c", "2024-01-01T00:00:00Z"),
            file("a", "2024-01-01T00:00:00Z"),
        ];
        assert_eq!(pick(found).unwrap().id, "a");
        assert!(pick(Vec::new()).is_none());
    }
}
