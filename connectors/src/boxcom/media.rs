//! Box's space (`users/me`: `space_amount`, `space_used`) and thumbnails
//! (`GET /files/{id}/thumbnail.{png|jpg}`, in Box's sizes: 32, 94, 160 and 320 pixels).
//! Box answers 202 with `Retry-After` while it is still making a thumbnail (503 with
//! `Retry-After` here: ask again then) and redirects to a placeholder image when it makes
//! none of the file (415 here: the placeholder is not the file's thumbnail).

use cloudbridge_shared::{
    protocol::TransferPlan,
    quota::Quota,
    thumbnail::{self, ImageFormat, ThumbnailPlan, ThumbnailSpec},
    ApiError, Entry,
};
use serde::{Deserialize, Serialize};

use super::{wire, BoxStore};
use crate::{oauth, transfer::Image};

/// Box's thumbnail sizes, smallest first.
const SIZES: &[u32] = &[32, 94, 160, 320];

/// What a thumbnail plan names: the file and the thumbnail's size and format.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Target {
    file: String,
    size: u32,
    jpeg: bool,
}

impl BoxStore {
    /// The user's space.
    pub(super) async fn space(&self) -> Result<Quota, ApiError> {
        let url = self.api_url("users/me");
        let response = self
            .api
            .send(|c| c.get(&url).query(&[("fields", "space_amount,space_used")]))
            .await?;
        let me = wire::json(response).await?;
        // Box's numbers are JSON numbers, possibly written with a fraction.
        let bytes = |key: &str| {
            me[key]
                .as_u64()
                .or_else(|| me[key].as_f64().map(|f| f as u64))
        };
        Ok(Quota {
            total: bytes("space_amount"),
            used: bytes("space_used").unwrap_or(0),
            raw: Some(me),
        })
    }

    /// The plan of a thumbnail of `file`: its Box id, the nearest Box size, the format.
    pub(super) fn thumbnail_target(
        &self,
        file: &Entry,
        spec: &ThumbnailSpec,
    ) -> Result<ThumbnailPlan, ApiError> {
        let target = Target {
            file: crate::own_id(file)?.to_string(),
            size: size_for(spec.size),
            jpeg: spec.format == ImageFormat::Jpeg,
        };
        let path = serde_json::to_string(&target).map_err(ApiError::internal)?;
        Ok(ThumbnailPlan {
            plan: TransferPlan::Service { path, staged: None },
            content_type: Some(spec.format.mime().to_string()),
        })
    }

    /// Fetches a planned thumbnail (API tier).
    pub(super) async fn fetch_thumbnail(&self, plan_path: &str) -> Result<Image, ApiError> {
        let target: Target =
            serde_json::from_str(plan_path).map_err(|_| ApiError::internal("bad plan"))?;
        let format = if target.jpeg {
            ImageFormat::Jpeg
        } else {
            ImageFormat::Png
        };
        let url = self.api_url(&format!(
            "files/{}/thumbnail.{}",
            target.file,
            format.extension()
        ));
        let size = target.size.to_string();
        let query = [
            ("min_width", size.as_str()),
            ("min_height", size.as_str()),
            ("max_width", size.as_str()),
            ("max_height", size.as_str()),
        ];
        let response = self.api.send(|c| c.get(&url).query(&query)).await?;
        let status = response.status();
        // Followed to a placeholder (the client follows redirects), or not followed.
        let placeholder = status.is_redirection()
            || response.url().path()
                != reqwest::Url::parse(&url)
                    .map_err(ApiError::internal)?
                    .path();
        if status == reqwest::StatusCode::ACCEPTED {
            let wait = oauth::retry_after(&response).map_or(1, |w| w.as_secs().max(1));
            return Err(ApiError::overloaded(
                "Box is still making this thumbnail; retry after `Retry-After`.",
                wait,
            ));
        }
        if placeholder {
            return Err(thumbnail::unsupported(
                "Box makes no thumbnail of this file.",
            ));
        }
        if !status.is_success() {
            return Err(wire::Failure::read(response).await.into());
        }
        Image::from_response(response, Some(format.mime()))
    }
}

/// The smallest Box size reaching `size`, else the largest.
fn size_for(size: u32) -> u32 {
    SIZES
        .iter()
        .copied()
        .find(|&s| s >= size)
        .unwrap_or(SIZES[SIZES.len() - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_boxs_own_and_plans_round_trip() {
        assert_eq!(
            [1, 32, 33, 100, 320, 2048].map(size_for),
            [32, 32, 94, 160, 320, 320]
        );
        let target = Target {
            file: "12".into(),
            size: 94,
            jpeg: true,
        };
        let text = serde_json::to_string(&target).unwrap();
        assert_eq!(serde_json::from_str::<Target>(&text).unwrap(), target);
    }
}
