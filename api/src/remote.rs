//! Fetching a file from a URL given by a client (upload from URL), without letting the
//! client reach what only this appliance can: every hop's host is resolved here, each
//! address must be public (unless configured otherwise), the connection is pinned to the
//! checked addresses (no second lookup an attacker could answer differently), and
//! redirects are followed by hand, each one checked the same way.

use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    time::Duration,
};

use cloudbridge_shared::ApiError;

/// Most redirects followed.
const MAX_REDIRECTS: usize = 5;

/// True for addresses anyone on the internet could reach: not loopback, private,
/// link-local, shared (CGNAT), multicast, reserved or documentation ranges.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_v4(v4);
            }
            let s = v6.segments();
            let unique_local = (s[0] & 0xfe00) == 0xfc00;
            let link_local = (s[0] & 0xffc0) == 0xfe80;
            let documentation = s[0] == 0x2001 && s[1] == 0x0db8;
            // NAT64 and 6to4 embed IPv4 addresses that may be private.
            let translated = (s[0] == 0x0064 && s[1] == 0xff9b) || s[0] == 0x2002;
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || unique_local
                || link_local
                || documentation
                || translated
                || v6 == Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0, 0))
        }
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_unspecified()
        || ip.is_documentation()
        || ip.is_multicast()
        || a == 0
        || (a == 100 && (64..128).contains(&b))
        || (a == 192 && b == 0 && c == 0)
        || (a == 198 && (b == 18 || b == 19))
        || a >= 240)
}

fn refused(message: impl Into<String>) -> ApiError {
    ApiError::invalid_parameters(message)
}

/// The checked addresses of a URL's host.
async fn addresses(url: &url::Url, allow_private: bool) -> Result<Vec<SocketAddr>, ApiError> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(refused("Only http and https URLs can be fetched."));
    }
    let port = url
        .port_or_known_default()
        .ok_or_else(|| refused("The URL has no port."))?;
    let addrs: Vec<SocketAddr> = match url.host() {
        Some(url::Host::Ipv4(ip)) => vec![SocketAddr::new(ip.into(), port)],
        Some(url::Host::Ipv6(ip)) => vec![SocketAddr::new(ip.into(), port)],
        Some(url::Host::Domain(name)) => tokio::net::lookup_host((name, port))
            .await
            .map_err(|_| refused("The URL's host does not resolve."))?
            .collect(),
        None => return Err(refused("The URL has no host.")),
    };
    if addrs.is_empty() {
        return Err(refused("The URL's host does not resolve."));
    }
    if !allow_private && addrs.iter().any(|a| !is_public(a.ip())) {
        return Err(refused(
            "The URL points at a private or local address, which is not allowed.",
        ));
    }
    Ok(addrs)
}

/// Opens `raw` for reading: the response of the last hop, which succeeded.
pub async fn open(raw: &str, allow_private: bool) -> Result<reqwest::Response, ApiError> {
    let mut url = url::Url::parse(raw).map_err(|_| refused("`url` is not a valid URL."))?;
    for _ in 0..=MAX_REDIRECTS {
        let addrs = addresses(&url, allow_private).await?;
        let host = url.host_str().unwrap_or_default().to_string();
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
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

    #[test]
    fn only_public_addresses_pass() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fc00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
            "2002:7f00:1::",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private} passed");
        }
        for public in ["93.184.216.34", "8.8.8.8", "2606:4700::1111"] {
            assert!(is_public(public.parse().unwrap()), "{public} refused");
        }
    }

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
            "file:///etc/passwd",
            "gopher://127.0.0.1/x",
            "http:///x",
        ] {
            let e = open(url, false).await.unwrap_err();
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
