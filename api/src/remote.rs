//! Fetching a file from a URL given by a client (upload from URL), without letting the
//! client reach what only this appliance can: every hop's host is resolved here, each
//! address must be public (unless configured otherwise), the connection is pinned to the
//! checked addresses (no second lookup an attacker could answer differently), and
//! redirects are followed by hand, each one checked the same way. The address checks
//! are `cloudbridge_shared::netguard`'s, shared with webhook delivery.

use std::time::Duration;

use cloudbridge_shared::{netguard, ApiError};

/// Most redirects followed.
const MAX_REDIRECTS: usize = 5;

fn refused(message: impl Into<String>) -> ApiError {
    ApiError::invalid_parameters(message)
}

/// Opens `raw` for reading: the response of the last hop, which succeeded.
pub async fn open(raw: &str, policy: &netguard::Policy) -> Result<reqwest::Response, ApiError> {
    let mut url = url::Url::parse(raw).map_err(|_| refused("`url` is not a valid URL."))?;
    for _ in 0..=MAX_REDIRECTS {
        let addrs = netguard::addresses(&url, policy)
            .await
            .map_err(|e| refused(e.to_string()))?;
        let host = url.host_str().unwrap_or_default().to_string();
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(Duration::from_secs(60))
            .resolve_to_addrs(&host, &addrs)
            .build()
            .map_err(ApiError::internal)?;
        let response = client.get(url.clone()).send().await.map_err(|e| {
            ApiError::new(
                502,
                "bad_gateway",
                format!("The URL could not be fetched: {}", e.without_url()),
            )
        })?;
        let status = response.status();
        if status.is_redirection() {
            let location = response
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| refused("The URL redirects nowhere."))?;
            url = url
                .join(location)
                .map_err(|_| refused("The URL redirects to an invalid URL."))?;
            continue;
        }
        if !status.is_success() {
            return Err(refused(format!("The URL answered {status}.")));
        }
        return Ok(response);
    }
    Err(refused("The URL redirects too many times."))
}

/// A file name for a URL without one: its last path segment, decoded.
pub fn name_of(raw: &str) -> Option<String> {
    let url = url::Url::parse(raw).ok()?;
    let last = url.path_segments()?.next_back()?;
    let decoded = percent_decode(last);
    (!decoded.is_empty()).then_some(decoded)
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn local_targets_are_refused_whatever_the_spelling() {
        for url in [
            "http://127.0.0.1/x",
            "http://localhost/x",
            "http://[::1]/x",
            "http://2130706433/x",
            "http://0x7f.0.0.1/x",
            "http://127.1/x",
            "http://169.254.169.254/latest/meta-data",
            "http://[::ffff:7f00:1]/x",
            "http://[::127.0.0.1]/x",
            "http://[::ffff:0:127.0.0.1]/x",
            "file:///etc/passwd",
            "gopher://127.0.0.1/x",
            "http:///x",
        ] {
            let e = open(url, &netguard::Policy::public_only())
                .await
                .unwrap_err();
            assert_eq!(e.status, 400, "{url}: {e}");
        }
    }

    #[test]
    fn names_come_from_the_path() {
        assert_eq!(
            name_of("http://h/a/b%20c.txt?x=1").as_deref(),
            Some("b c.txt")
        );
        assert_eq!(name_of("http://h/"), None);
    }
}
