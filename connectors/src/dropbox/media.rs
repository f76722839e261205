//! Dropbox's space usage (`users/get_space_usage`) and thumbnails
//! (`files/get_thumbnail_v2`, in the format asked and Dropbox's nearest size). The worker
//! only plans a thumbnail (the file's id and the argument); the API tier makes the call
//! and streams its answer.

use cloudbridge_shared::{
    protocol::TransferPlan,
    quota::Quota,
    thumbnail::{self, ImageFormat, ThumbnailPlan, ThumbnailSpec},
    ApiError, Entry,
};
use serde_json::{json, Value};

use super::{paths::dropbox_path, DropboxStore};
use crate::transfer::Image;

/// Dropbox's thumbnail sizes (`w{width}h{height}`), smallest first.
const SIZES: &[(u32, u32)] = &[
    (32, 32),
    (64, 64),
    (128, 128),
    (256, 256),
    (480, 320),
    (640, 480),
    (960, 640),
    (1024, 768),
    (2048, 1536),
];

impl DropboxStore {
    /// Space used and allocated: the user's own allocation, or their share of the
    /// team's (the team's whole space when no share is set).
    pub(super) async fn space_usage(&self) -> Result<Quota, ApiError> {
        let usage = self
            .client
            .rpc("users/get_space_usage", &Value::Null)
            .await?;
        let allocation = &usage["allocation"];
        let total = match allocation[".tag"].as_str() {
            Some("individual") => allocation["allocated"].as_u64(),
            Some("team") => allocation["user_within_team_space_allocated"]
                .as_u64()
                .filter(|&n| n > 0)
                .or_else(|| allocation["allocated"].as_u64()),
            _ => None,
        };
        Ok(Quota {
            total,
            used: usage["used"].as_u64().unwrap_or(0),
            raw: Some(usage),
        })
    }

    /// The `get_thumbnail_v2` argument for `file`, as the plan's path.
    pub(super) fn thumbnail_arg(
        &self,
        file: &Entry,
        spec: &ThumbnailSpec,
    ) -> Result<ThumbnailPlan, ApiError> {
        let path = file.id.clone().unwrap_or_else(|| dropbox_path(&file.path));
        let (width, height) = size_for(spec.size);
        let format = match spec.format {
            ImageFormat::Png => "png",
            ImageFormat::Jpeg => "jpeg",
        };
        let arg = json!({
            "resource": {".tag": "path", "path": path},
            "format": {".tag": format},
            "size": {".tag": format!("w{width}h{height}")},
            "mode": {".tag": "bestfit"},
        });
        Ok(ThumbnailPlan {
            plan: TransferPlan::Service {
                path: arg.to_string(),
                staged: None,
            },
            content_type: None,
        })
    }

    /// Calls `get_thumbnail_v2` with a planned argument (API tier).
    pub(super) async fn fetch_thumbnail(&self, plan_path: &str) -> Result<Image, ApiError> {
        let arg: Value =
            serde_json::from_str(plan_path).map_err(|_| ApiError::internal("bad plan"))?;
        let response = self
            .client
            .fetch("files/get_thumbnail_v2", &arg)
            .await
            .map_err(|e| {
                if e.has("not_found") {
                    ApiError::not_found("No file has this id.")
                } else if e.has("unsupported_extension")
                    || e.has("unsupported_image")
                    || e.has("conversion_error")
                    || e.has("encrypted_content")
                {
                    thumbnail::unsupported("Dropbox makes no thumbnail of this file.")
                } else {
                    e.into()
                }
            })?;
        let asked = match arg["format"][".tag"].as_str() {
            Some("jpeg") => ImageFormat::Jpeg,
            _ => ImageFormat::Png,
        };
        Image::from_response(response, Some(asked.mime()))
    }
}

/// The smallest Dropbox size whose both sides reach `size`, else the largest.
fn size_for(size: u32) -> (u32, u32) {
    SIZES
        .iter()
        .copied()
        .find(|&(w, h)| w.min(h) >= size)
        .unwrap_or(SIZES[SIZES.len() - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nearest_size_covers_the_one_asked() {
        assert_eq!(size_for(1), (32, 32));
        assert_eq!(size_for(64), (64, 64));
        assert_eq!(size_for(65), (128, 128));
        assert_eq!(size_for(300), (480, 320));
        assert_eq!(size_for(2048), (2048, 1536));
    }
}
