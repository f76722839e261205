//! The drive's quota (`GET /me/drive`: `quota.total`, `used`) and thumbnails: Graph's
//! thumbnail set of an item (`/items/{id}/thumbnails`), asked for a custom size
//! (`c{n}x{n}`, scaled to fit) with the standard sizes as a fallback. Graph answers
//! pre-authorised URLs, so the plan is a plain `Http` one: the API tier fetches it through
//! the address policy, without the account's token.

use cloudbridge_shared::{
    protocol::TransferPlan,
    quota::Quota,
    thumbnail::{self, ThumbnailPlan, ThumbnailSpec},
    ApiError, Entry,
};
use serde_json::Value;

use super::OneDrive;

/// Graph's standard thumbnail sizes, smallest first, with their longer side in pixels.
const STANDARD: &[(&str, u32)] = &[("small", 96), ("medium", 176), ("large", 800)];

impl OneDrive {
    /// The drive's quota.
    pub(super) async fn drive_quota(&self) -> Result<Quota, ApiError> {
        let drive = self.graph.get(&self.graph.drive("")).await?;
        let quota = &drive["quota"];
        Ok(Quota {
            total: quota["total"].as_u64(),
            used: quota["used"].as_u64().unwrap_or(0),
            raw: Some(quota.clone()),
        })
    }

    /// The URL of a thumbnail of `file` at about `spec.size` pixels; 415 when Graph has
    /// none (not an image, a document or a video it renders).
    pub(super) async fn thumbnail_url(
        &self,
        file: &Entry,
        spec: &ThumbnailSpec,
    ) -> Result<ThumbnailPlan, ApiError> {
        let id = crate::own_id(file)?;
        let custom = format!("c{0}x{0}", spec.size);
        let set = self
            .graph
            .get(&self.graph.item(id, &format!("/thumbnails?select={custom}")))
            .await?;
        let url = pick(&set, &custom, spec.size)
            .ok_or_else(|| thumbnail::unsupported("OneDrive has no thumbnail of this file."))?;
        Ok(ThumbnailPlan {
            plan: TransferPlan::Http {
                method: "GET".into(),
                url,
                headers: Vec::new(),
                staged: None,
            },
            content_type: None,
        })
    }
}

/// The URL of the best thumbnail in a Graph thumbnail set answer: the custom size asked
/// for, else the smallest standard one at least `size` pixels, else the largest.
fn pick(answer: &Value, custom: &str, size: u32) -> Option<String> {
    let set = answer["value"].as_array()?.first()?;
    let url = |key: &str| {
        set[key]["url"]
            .as_str()
            .filter(|u| !u.is_empty())
            .map(str::to_string)
    };
    url(custom)
        .or_else(|| {
            STANDARD
                .iter()
                .filter(|(_, pixels)| *pixels >= size)
                .find_map(|(key, _)| url(key))
        })
        .or_else(|| STANDARD.iter().rev().find_map(|(key, _)| url(key)))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_custom_size_is_taken_else_the_nearest_standard_one() {
        let set = |entries: Value| json!({ "value": [entries] });
        let custom = set(json!({"id": "0", "c64x64": {"url": "https://t/c64"},
                                "small": {"url": "https://t/s"}}));
        assert_eq!(
            pick(&custom, "c64x64", 64).as_deref(),
            Some("https://t/c64")
        );
        let standard = set(json!({"id": "0", "small": {"url": "https://t/s"},
            "medium": {"url": "https://t/m"}, "large": {"url": "https://t/l"}}));
        assert_eq!(
            pick(&standard, "c64x64", 64).as_deref(),
            Some("https://t/s")
        );
        assert_eq!(
            pick(&standard, "c300x300", 300).as_deref(),
            Some("https://t/l")
        );
        assert_eq!(
            pick(&standard, "c2000x2000", 2000).as_deref(),
            Some("https://t/l")
        );
        assert_eq!(pick(&json!({"value": []}), "c64x64", 64), None);
        assert_eq!(pick(&json!({}), "c64x64", 64), None);
    }
}
