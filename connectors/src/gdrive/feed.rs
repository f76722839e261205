//! Drive's changes list (`changes.list` from a `startPageToken`) as the change feed.
//!
//! A position is Drive's page token. Each change names a file by id with its resource;
//! its path is worked out from the `parents` chain up to My Drive's root, each folder
//! asked for once per page. A removed or trashed file, one below a trashed folder, and
//! one not under My Drive (shared with the user, another drive) is reported as gone.
//! Files still under an upload's temporary name are not reported (they appear once
//! renamed into place); a removed one shows as its id gone, like any removed file. A
//! token Drive does not take any more is [`FeedPage::Expired`].

use cloudbridge_shared::{ApiError, ItemPath};
use serde_json::Value;

use super::{client::DriveFile, entry, listable, DriveStore};
use crate::{
    dal::UPLOAD_PREFIX,
    feed::{last_per_key, Change, FeedPage, Folder, Lineage},
};

impl DriveStore {
    /// One page of changes from `token`.
    pub(super) async fn changes_from(&self, token: &str) -> Result<FeedPage, ApiError> {
        let Some(page) = self.drive.changes(token).await? else {
            return Ok(FeedPage::Expired);
        };
        let (cursor, more) = match (
            page["nextPageToken"].as_str(),
            page["newStartPageToken"].as_str(),
        ) {
            (Some(next), _) if !next.is_empty() => (next.to_string(), true),
            (_, Some(start)) if !start.is_empty() => (start.to_string(), false),
            _ => {
                return Err(ApiError::new(
                    502,
                    "bad_gateway",
                    "Google Drive's changes named no next page token.",
                ))
            }
        };
        let listed = page["changes"].as_array().map_or(&[][..], Vec::as_slice);
        if listed.is_empty() {
            // A quiet account (most collections): no need to ask for the root's id.
            return Ok(FeedPage::quiet(cursor, more));
        }
        let root = self.drive.get("root").await?;
        let mut lineage = Lineage::new(["root", root.id.as_str()]);
        let mut changes = Vec::new();
        for change in listed {
            if change["changeType"].as_str().is_some_and(|t| t != "file") {
                continue;
            }
            let Some(key) = change["fileId"]
                .as_str()
                .or_else(|| change["file"]["id"].as_str())
            else {
                continue;
            };
            if key == root.id || key == "root" {
                continue;
            }
            let file = match change["file"].is_object() && change["removed"] != true {
                true => Some(DriveFile::from_json(change["file"].clone())?),
                false => None,
            };
            if file
                .as_ref()
                .is_some_and(|f| f.name.starts_with(UPLOAD_PREFIX))
            {
                continue;
            }
            let entry = match &file {
                Some(file) => self
                    .path_of(file, &mut lineage)
                    .await?
                    .map(|path| entry(path, file)),
                None => None,
            };
            changes.push(Change {
                key: key.to_string(),
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

    /// Where `file` is now, or `None` when it is trashed or out of My Drive.
    async fn path_of(
        &self,
        file: &DriveFile,
        lineage: &mut Lineage,
    ) -> Result<Option<ItemPath>, ApiError> {
        if file.json["trashed"] == true || !listable(&file.name) {
            return Ok(None);
        }
        let Some(parent) = file.json["parents"][0].as_str() else {
            return Ok(None);
        };
        let fetch = |id: String| async move {
            match self.drive.get(&id).await {
                Ok(folder) => Ok(Some(folder_of(&folder.json))),
                Err(e) if e.status == 404 => Ok(None),
                Err(e) => Err(e),
            }
        };
        let folder = lineage.path_of(parent, fetch).await?;
        Ok(folder.and_then(|folder| folder.join(&file.name).ok()))
    }
}

/// What the path of something inside `folder` needs to know of it.
fn folder_of(folder: &Value) -> Folder {
    Folder {
        name: folder["name"].as_str().unwrap_or_default().to_string(),
        parent: folder["parents"][0].as_str().map(str::to_string),
        gone: folder["trashed"] == true,
    }
}
