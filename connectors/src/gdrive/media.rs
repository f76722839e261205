//! Google Drive's storage quota (`about.storageQuota`) and thumbnails: a file's
//! `thumbnailLink`, sized with its `=s<pixels>` suffix, which the API tier fetches. The
//! link is a URL Drive handed out, so it is fetched through the address policy, and with
//! the account's token only when it is Google's (or the configured Drive's): a token
//! never goes to a host Drive merely named.

use cloudbridge_shared::{
    protocol::TransferPlan,
    quota::Quota,
    thumbnail::{self, ThumbnailPlan, ThumbnailSpec},
    ApiError, Entry,
};
use serde_json::Value;

use super::DriveStore;
use crate::transfer::Image;

/// Domains whose hosts serve Drive's thumbnails and take the account's token.
const GOOGLE_DOMAINS: &[&str] = &["googleusercontent.com", "google.com", "googleapis.com"];

impl DriveStore {
    /// `limit` (absent for unlimited storage) and `usage` (Drive, Gmail and Photos
    /// together) of the account's storage.
    pub(super) async fn storage_quota(&self) -> Result<Quota, ApiError> {
        let about = self.drive.about("storageQuota").await?;
        let quota = &about["storageQuota"];
        // int64 values are strings in Drive's JSON.
        let bytes = |v: &Value| {
            v.as_str()
                .and_then(|s| s.parse().ok())
                .or_else(|| v.as_u64())
        };
        Ok(Quota {
            total: bytes(&quota["limit"]),
            used: bytes(&quota["usage"]).unwrap_or(0),
            raw: Some(quota.clone()),
        })
    }

    /// The thumbnail link of `file` at the size asked (Drive serves one format, which
    /// its answer names); 415 for a file Drive has no thumbnail of.
    pub(super) async fn thumbnail_link(
        &self,
        file: &Entry,
        spec: &ThumbnailSpec,
    ) -> Result<ThumbnailPlan, ApiError> {
        let id = crate::own_id(file)?;
        let url = self.drive.files_url(id);
        let found = self
            .drive
            .json(|c| {
                c.get(&url)
                    .query(&[("fields", "id,hasThumbnail,thumbnailLink")])
            })
            .await?;
        let link = found["thumbnailLink"]
            .as_str()
            .filter(|l| !l.is_empty())
            .ok_or_else(|| thumbnail::unsupported("Google Drive has no thumbnail of this file."))?;
        Ok(ThumbnailPlan {
            plan: TransferPlan::Service {
                path: sized(link, spec.size),
                staged: None,
            },
            content_type: None,
        })
    }

    /// Fetches a thumbnail link (API tier).
    pub(super) async fn fetch_thumbnail(&self, link: &str) -> Result<Image, ApiError> {
        let guard = self
            .guard
            .as_ref()
            .ok_or_else(|| ApiError::internal("a Drive store without an address policy"))?;
        let url = guard.check_url(link, "thumbnailLink")?;
        let api = self.drive.api();
        let response = if self.drive.owns(&url) || google(&url) {
            let links = crate::oauth::Api {
                http: guard.http().clone(),
                ..api.clone()
            };
            links.send(|c| c.get(url.clone())).await?
        } else {
            guard
                .http()
                .get(url)
                .timeout(api.call_timeout)
                .send()
                .await
                .map_err(crate::oauth::unreachable)?
        };
        match response.status().as_u16() {
            200 => Image::from_response(response, None),
            404 => Err(ApiError::not_found("Google Drive's thumbnail is gone.")),
            401 | 403 => Err(crate::oauth::service_unauthorized()),
            status => Err(ApiError::new(
                502,
                "bad_gateway",
                format!("Google Drive's thumbnail link answered {status}."),
            )),
        }
    }
}

/// `link` asking for `size` pixels: Drive's links end with `=s<pixels>` (220 by default).
fn sized(link: &str, size: u32) -> String {
    match link.rsplit_once("=s") {
        Some((head, pixels))
            if !pixels.is_empty() && pixels.bytes().all(|b| b.is_ascii_digit()) =>
        {
            format!("{head}=s{size}")
        }
        _ => link.to_string(),
    }
}

/// True for hosts of Google's own domains.
fn google(url: &url::Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    url.scheme() == "https"
        && GOOGLE_DOMAINS
            .iter()
            .any(|d| host == *d || host.ends_with(&format!(".{d}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_sized_by_their_suffix() {
        assert_eq!(
            sized(
                "https://lh3.googleusercontent.com/drive-storage/AB12=s220",
                64
            ),
            "https://lh3.googleusercontent.com/drive-storage/AB12=s64"
        );
        assert_eq!(sized("https://x.test/t?a=b", 64), "https://x.test/t?a=b");
        assert_eq!(sized("https://x.test/t=sabc", 64), "https://x.test/t=sabc");
    }

    #[test]
    fn the_token_goes_to_google_hosts_only() {
        let url = |u: &str| url::Url::parse(u).unwrap();
        assert!(google(&url("https://lh3.googleusercontent.com/x")));
        assert!(google(&url("https://drive.google.com/x")));
        assert!(
            !google(&url("http://lh3.googleusercontent.com/x")),
            "not over http"
        );
        assert!(!google(&url("https://googleusercontent.com.evil.test/x")));
        assert!(!google(&url("https://evilgoogle.com/x")));
    }
}
