//! What a request's forwarding headers say (`X-Forwarded-Host`, `-Proto`, `-For`), believed
//! only when the connection's peer is one of the operator's reverse proxies
//! (`api.trusted_proxies`); from anyone else they are the client's own words and ignored.
//! Decides the base URL of links and `href`s (when `api.public_url` is unset) and the
//! client address that per-address limits count against.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::{
    extract::ConnectInfo,
    http::{Extensions, HeaderMap},
};
use ipnet::IpNet;

/// The connection's peer (axum's `ConnectInfo`); `0.0.0.0` for a request not served from a
/// socket.
fn peer(extensions: &Extensions) -> IpAddr {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |ConnectInfo(peer)| {
            peer.ip().to_canonical()
        })
}

fn trusted(ip: IpAddr, proxies: &[IpNet]) -> bool {
    let ip = ip.to_canonical();
    proxies.iter().any(|net| net.contains(&ip))
}

/// The client's address: the peer, or, when the peer is a trusted proxy, the right-most
/// address of `X-Forwarded-For` that is not a trusted proxy (what the first proxy of ours
/// saw; entries left of it are the client's own words).
pub fn client_address(headers: &HeaderMap, extensions: &Extensions, proxies: &[IpNet]) -> IpAddr {
    let peer = peer(extensions);
    if !trusted(peer, proxies) {
        return peer;
    }
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        match hop.parse::<IpAddr>() {
            Ok(ip) if trusted(ip, proxies) => client = ip.to_canonical(),
            Ok(ip) => return ip.to_canonical(),
            // Not an address: nothing left of it can be believed.
            Err(_) => break,
        }
    }
    client
}

/// The client-visible base URL (`scheme://host[:port]`): `configured` (`api.public_url`)
/// when set, else from the request: `https` when it came over our TLS listener or a trusted
/// proxy says so (`X-Forwarded-Proto`), the host from `X-Forwarded-Host` when a trusted
/// proxy sent it, the `Host` header otherwise.
pub fn base_url(
    headers: &HeaderMap,
    extensions: &Extensions,
    configured: &str,
    proxies: &[IpNet],
) -> String {
    if !configured.is_empty() {
        return configured.trim_end_matches('/').to_string();
    }
    let tls = extensions.get::<crate::serve::OverTls>().is_some();
    let proto = match proto(headers, extensions, proxies) {
        _ if tls => "https",
        Some("https") => "https",
        _ => "http",
    };
    format!("{proto}://{}", host(headers, extensions, proxies))
}

/// A forwarding header's first value, when a trusted proxy sent it.
fn forwarded<'a>(
    name: &str,
    headers: &'a HeaderMap,
    extensions: &Extensions,
    proxies: &[IpNet],
) -> Option<&'a str> {
    if !trusted(peer(extensions), proxies) {
        return None;
    }
    let value = headers.get(name).and_then(|v| v.to_str().ok())?;
    // A proxy chain appends: the first value is what the client asked for.
    Some(value.split(',').next().unwrap_or_default().trim())
}

/// The scheme a trusted proxy says the client used (`X-Forwarded-Proto`).
pub fn proto<'a>(
    headers: &'a HeaderMap,
    extensions: &Extensions,
    proxies: &[IpNet],
) -> Option<&'a str> {
    forwarded("x-forwarded-proto", headers, extensions, proxies)
}

/// The `host[:port]` the client asked for: `X-Forwarded-Host` from a trusted proxy, else
/// `Host`, cut to the characters a host may have.
pub fn host(headers: &HeaderMap, extensions: &Extensions, proxies: &[IpNet]) -> String {
    let host = forwarded("x-forwarded-host", headers, extensions, proxies)
        .or_else(|| headers.get("host").and_then(|v| v.to_str().ok()))
        .unwrap_or("localhost");
    // A host header is attacker-controlled: keep only host[:port] characters.
    host.chars()
        .take_while(|c| c.is_ascii_alphanumeric() || "-.:[]".contains(*c))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(peer: [u8; 4]) -> Extensions {
        let mut ext = Extensions::new();
        ext.insert(ConnectInfo(SocketAddr::from((peer, 4711))));
        ext
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().unwrap());
        }
        h
    }

    fn proxies() -> Vec<IpNet> {
        vec!["10.0.0.0/8".parse().unwrap()]
    }

    #[test]
    fn the_peer_is_the_client_unless_it_is_a_trusted_proxy() {
        let none = HeaderMap::new();
        assert_eq!(
            client_address(&none, &Extensions::new(), &[]),
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        );
        let forged = headers(&[("x-forwarded-for", "198.51.100.9")]);
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(
            client_address(&forged, &from([192, 0, 2, 1]), &proxies()),
            ip("192.0.2.1")
        );
        assert_eq!(
            client_address(&forged, &from([10, 0, 0, 2]), &[]),
            ip("10.0.0.2")
        );
        // Through our proxies: the right-most hop that is not one of them.
        let chain = headers(&[
            ("x-forwarded-for", "203.0.113.7, 198.51.100.9"),
            ("x-forwarded-for", "10.0.0.3"),
        ]);
        assert_eq!(
            client_address(&chain, &from([10, 0, 0, 2]), &proxies()),
            ip("198.51.100.9")
        );
        let garbage = headers(&[("x-forwarded-for", "203.0.113.7, nonsense, 10.0.0.3")]);
        assert_eq!(
            client_address(&garbage, &from([10, 0, 0, 2]), &proxies()),
            ip("10.0.0.3")
        );
        assert_eq!(
            client_address(&none, &from([10, 0, 0, 2]), &proxies()),
            ip("10.0.0.2")
        );
    }

    #[test]
    fn forwarded_hosts_count_only_from_trusted_proxies() {
        let h = headers(&[
            ("host", "api.internal:8000"),
            ("x-forwarded-host", "files.example.com"),
            ("x-forwarded-proto", "https"),
        ]);
        assert_eq!(
            base_url(&h, &from([192, 0, 2, 1]), "", &proxies()),
            "http://api.internal:8000"
        );
        assert_eq!(
            base_url(&h, &from([10, 1, 2, 3]), "", &proxies()),
            "https://files.example.com"
        );
        assert_eq!(
            base_url(
                &h,
                &from([10, 1, 2, 3]),
                "https://api.example.com/",
                &proxies()
            ),
            "https://api.example.com"
        );
        let evil = headers(&[("host", "evil.com/<script>")]);
        assert_eq!(
            base_url(&evil, &Extensions::new(), "", &[]),
            "http://evil.com"
        );
    }

    #[test]
    fn a_request_over_our_tls_listener_has_an_https_base() {
        let h = headers(&[("host", "api.example.com:8443")]);
        let mut ext = from([192, 0, 2, 1]);
        ext.insert(crate::serve::OverTls);
        assert_eq!(base_url(&h, &ext, "", &[]), "https://api.example.com:8443");
    }
}
