//! Where a pass-through request may go: only the account's service's own API bases
//! (`providers.<service>.api_url` and `content_url`), spelled exactly as configured.
//!
//! A relative URI (`/2.0/users/me`) is joined to the API base. An absolute one must start
//! with one of the bases, character for character (case aside in the scheme and host), and
//! must still resolve to that base's origin once parsed: another host, another port, an IP
//! literal in any encoding, credentials before the host, backslashes, control characters
//! and other schemes are all refused.

use cloudbridge_shared::{config::ProviderSettings, ApiError};
use url::Url;

/// The upstream URL of a pass-through request to `uri`.
pub fn target(provider: &ProviderSettings, uri: &str) -> Result<Url, ApiError> {
    let refused =
        |why: &str| ApiError::bad_request(format!("X-Kloudless-Raw-URI is refused: {why}."));
    if uri.is_empty() {
        return Err(ApiError::invalid_parameters(
            "The X-Kloudless-Raw-URI header is required.",
        ));
    }
    if uri
        .chars()
        .any(|c| c.is_control() || c.is_whitespace() || c == '\\')
    {
        return Err(refused(
            "it contains control characters, spaces or backslashes",
        ));
    }
    let bases: Vec<&str> = [provider.api_url.as_str(), provider.content_url.as_str()]
        .into_iter()
        .filter(|b| !b.is_empty())
        .map(|b| b.trim_end_matches('/'))
        .collect();
    let api = bases
        .first()
        .ok_or_else(|| refused("the service has no API address"))?;
    let (base, joined) = if uri.starts_with('/') && !uri.starts_with("//") {
        (*api, format!("{api}{uri}"))
    } else {
        let base = bases
            .iter()
            .find(|b| starts_with_base(uri, b))
            .ok_or_else(|| refused("only the service's own API may be reached"))?;
        (*base, uri.to_string())
    };
    let url = Url::parse(&joined).map_err(|_| refused("it is not a valid URL"))?;
    let expected = Url::parse(base).map_err(ApiError::internal)?;
    let same_origin = url.scheme() == expected.scheme()
        && url.host() == expected.host()
        && url.port_or_known_default() == expected.port_or_known_default();
    if !same_origin || !url.username().is_empty() || url.password().is_some() {
        return Err(refused("only the service's own API may be reached"));
    }
    Ok(url)
}

/// Whether `uri` starts with `base` followed by the end, `/`, `?` or `#`.
fn starts_with_base(uri: &str, base: &str) -> bool {
    let Some(head) = uri.get(..base.len()) else {
        return false;
    };
    head.eq_ignore_ascii_case(base)
        && matches!(
            uri.as_bytes().get(base.len()),
            None | Some(b'/' | b'?' | b'#')
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider() -> ProviderSettings {
        let mut p = cloudbridge_shared::Settings::default().providers.box_;
        p.api_url = "https://api.box.com".into();
        p.content_url = "https://upload.box.com/api".into();
        p
    }

    #[test]
    fn the_service_api_is_reachable() {
        let p = provider();
        assert_eq!(
            target(&p, "/2.0/users/me").unwrap().as_str(),
            "https://api.box.com/2.0/users/me"
        );
        assert_eq!(
            target(&p, "https://api.box.com/2.0/folders/0?fields=name")
                .unwrap()
                .as_str(),
            "https://api.box.com/2.0/folders/0?fields=name"
        );
        assert_eq!(
            target(&p, "HTTPS://API.BOX.COM/2.0/users/me")
                .unwrap()
                .host_str(),
            Some("api.box.com")
        );
        assert_eq!(
            target(&p, "https://upload.box.com/api/2.0/files/content")
                .unwrap()
                .host_str(),
            Some("upload.box.com")
        );
        // Dot segments stay on the same host.
        assert_eq!(
            target(&p, "/2.0/../../etc").unwrap().host_str(),
            Some("api.box.com")
        );
    }

    #[test]
    fn anything_else_is_refused() {
        let p = provider();
        for uri in [
            "",
            "https://evil.example/2.0/users/me",
            "http://api.box.com/2.0/users/me",
            "https://api.box.com:8443/2.0/users/me",
            "https://api.box.com.evil.example/x",
            "https://api.box.com@evil.example/x",
            "https://user:pw@api.box.com/x",
            "https://api.box.com\\@evil.example/x",
            "//evil.example/x",
            "///evil.example/x",
            "https://127.0.0.1/x",
            "https://2130706433/x",
            "https://0x7f000001/x",
            "https://0177.0.0.1/x",
            "https://[::1]/x",
            "https://[::ffff:127.0.0.1]/x",
            "https://169.254.169.254/latest/meta-data/",
            "file:///etc/passwd",
            "gopher://api.box.com/x",
            "https://%61pi.box.com/x",
            "https://аpi.box.com/x",
            "https://api.box.com./x",
            "/x\r\nHost: evil.example",
            "/x y",
            "https://upload.box.com/other",
        ] {
            assert!(target(&p, uri).is_err(), "{uri:?} was let through");
        }
    }
}
