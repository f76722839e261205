//! Paths to Graph item ids. Cloudbridge addresses items by path; Graph by id, or by one
//! name below a known folder (`items/{id}:/{name}:`). A path is resolved one name at a
//! time through [`crate::ids`], from the deepest remembered folder that Graph confirms
//! (climbing its `parentReference`s to the root) still names its path.

use async_trait::async_trait;
use cloudbridge_shared::{storage::ItemKind, ApiError, ItemPath};
use serde_json::Value;

use super::graph::{self, Graph};
use crate::ids::{self, Ids, Place, Tree};

#[async_trait]
impl Tree for Graph {
    type Item = Value;
    const ROOT: &'static str = "root";

    async fn root(&self) -> Result<Value, ApiError> {
        self.get(&self.drive("/root")).await
    }

    async fn root_id(&self) -> Result<String, ApiError> {
        graph::id_of(&self.root().await?)
    }

    async fn get(&self, id: &str, _kind: ItemKind) -> Result<Option<Value>, ApiError> {
        self.find(&self.item(id, "")).await
    }

    async fn child(
        &self,
        folder: &str,
        _at: &ItemPath,
        name: &str,
    ) -> Result<Option<Value>, ApiError> {
        self.find(&self.child(folder, name, "")).await
    }

    fn id(item: &Value) -> &str {
        item["id"].as_str().unwrap_or_default()
    }

    fn kind(item: &Value) -> Option<ItemKind> {
        Some(graph::kind_of(item))
    }

    fn name(item: &Value) -> &str {
        item["name"].as_str().unwrap_or_default()
    }

    fn place(item: &Value) -> Place<'_> {
        Place::Parent(item["parentReference"]["id"].as_str())
    }
}

/// Resolves the paths of one account (account 0, being imported, remembers nothing).
#[derive(Clone)]
pub struct Paths {
    graph: Graph,
    ids: Ids,
}

impl Paths {
    /// Paths of `account` on `graph`.
    pub fn new(graph: Graph, account: i64) -> Self {
        Self {
            graph,
            ids: Ids::of(account),
        }
    }

    /// The account whose paths these are.
    pub fn account(&self) -> i64 {
        self.ids.account()
    }

    /// The item Graph calls `id` (of `kind`) and where it is (see [`ids::locate`]).
    pub async fn locate(&self, id: &str, kind: ItemKind) -> Result<(Value, ItemPath), ApiError> {
        ids::locate(&self.graph, &self.ids, id, kind).await
    }

    /// Remembers that the folder at `path` has id `id`.
    pub fn remember(&self, path: &ItemPath, id: &str) {
        self.ids.put(path, id, ItemKind::Folder);
    }

    /// Forgets `path` and everything below it.
    pub fn forget(&self, path: &ItemPath) {
        self.ids.forget(path);
    }

    /// The id of the folder at `path` (`root` for the root); 404 when there is no folder
    /// there.
    pub async fn folder(&self, path: &ItemPath) -> Result<String, ApiError> {
        if path.is_root() {
            return Ok(Graph::ROOT.to_string());
        }
        let item = self.item(path).await?;
        if graph::kind_of(&item) != ItemKind::Folder {
            return Err(ApiError::not_found("No such folder."));
        }
        graph::id_of(&item)
    }

    /// The id of the folder `parent` and its child `name`, if any; 404 when `parent` is
    /// not a folder.
    pub async fn child(
        &self,
        parent: &ItemPath,
        name: &str,
    ) -> Result<(String, Option<Value>), ApiError> {
        let id = self.folder(parent).await?;
        let found = self.graph.find(&self.graph.child(&id, name, "")).await?;
        Ok((id, found))
    }

    /// The `driveItem` at `path`; 404 when there is none.
    pub async fn item(&self, path: &ItemPath) -> Result<Value, ApiError> {
        ids::resolve(&self.graph, &self.ids, path).await
    }
}
