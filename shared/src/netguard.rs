//! Outbound requests to URLs that clients chose (uploads from a URL, webhooks), without
//! letting a client reach what only this appliance can: a URL's host must resolve to
//! public addresses only (unless configured otherwise), and the connection goes to the
//! addresses that were checked, never to a second lookup an attacker could answer
//! differently.
//!
//! Two ways to use it: [`addresses`] checks a URL and returns the addresses to pin a
//! connection to (`reqwest::ClientBuilder::resolve_to_addrs`); [`Resolver`] is a DNS
//! resolver for a long-lived client that refuses private answers at connect time (pair
//! it with [`check_url`], since IP-literal hosts never reach a resolver).

use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    sync::Arc,
};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Why a URL may not be requested. The messages are fit for API callers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Not `http` or `https`.
    #[error("Only http and https URLs are allowed.")]
    Scheme,
    /// No host (`http:///x`).
    #[error("The URL has no host.")]
    NoHost,
    /// No port and none known for the scheme.
    #[error("The URL has no port.")]
    NoPort,
    /// The host name does not resolve.
    #[error("The URL's host does not resolve.")]
    Unresolved,
    /// The host is, or resolves to, a loopback, private, link-local… address.
    #[error("The URL points at a private or local address, which is not allowed.")]
    Private,
}

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

/// Refuses `addrs` if any of them is not public (and private ones are not allowed).
fn ensure_allowed(addrs: &[SocketAddr], allow_private: bool) -> Result<(), Refusal> {
    if !allow_private && addrs.iter().any(|a| !is_public(a.ip())) {
        return Err(Refusal::Private);
    }
    Ok(())
}

/// Checks what can be checked without a lookup: the scheme, a host and a port, and an
/// IP-literal host's address.
pub fn check_url(url: &url::Url, allow_private: bool) -> Result<(), Refusal> {
    literal(url)?.map_or(Ok(()), |addr| ensure_allowed(&[addr], allow_private))
}

/// The address of an IP-literal host (`None` for a name), after the scheme, host and
/// port checks.
fn literal(url: &url::Url) -> Result<Option<SocketAddr>, Refusal> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Refusal::Scheme);
    }
    let port = url.port_or_known_default().ok_or(Refusal::NoPort)?;
    match url.host() {
        Some(url::Host::Ipv4(ip)) => Ok(Some(SocketAddr::new(ip.into(), port))),
        Some(url::Host::Ipv6(ip)) => Ok(Some(SocketAddr::new(ip.into(), port))),
        Some(url::Host::Domain(_)) => Ok(None),
        None => Err(Refusal::NoHost),
    }
}

/// The checked addresses of a URL's host, to pin a connection to.
pub async fn addresses(url: &url::Url, allow_private: bool) -> Result<Vec<SocketAddr>, Refusal> {
    let port = url.port_or_known_default().unwrap_or_default();
    match (literal(url)?, url.host_str()) {
        (Some(addr), _) => {
            ensure_allowed(&[addr], allow_private)?;
            Ok(vec![addr])
        }
        (None, Some(name)) => lookup(name, port, allow_private).await,
        (None, None) => Err(Refusal::NoHost),
    }
}

/// Resolves a host name; every address must be allowed.
pub async fn lookup(
    name: &str,
    port: u16,
    allow_private: bool,
) -> Result<Vec<SocketAddr>, Refusal> {
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((name, port))
        .await
        .map_err(|_| Refusal::Unresolved)?
        .collect();
    if addrs.is_empty() {
        return Err(Refusal::Unresolved);
    }
    ensure_allowed(&addrs, allow_private)?;
    Ok(addrs)
}

/// A DNS resolver for `reqwest::ClientBuilder::dns_resolver` that answers only when
/// every address of the name is allowed; the client connects to exactly those.
#[derive(Clone, Copy, Debug)]
pub struct Resolver {
    allow_private: bool,
}

impl Resolver {
    /// A resolver refusing private addresses unless `allow_private`.
    pub fn new(allow_private: bool) -> Arc<Self> {
        Arc::new(Self { allow_private })
    }
}

impl Resolve for Resolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let addrs = lookup(name.as_str(), 0, allow_private).await?;
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
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
    async fn urls_are_checked_whatever_the_spelling() {
        let url = |s: &str| url::Url::parse(s).unwrap();
        for (raw, refusal) in [
            ("http://127.0.0.1/x", Refusal::Private),
            ("http://localhost/x", Refusal::Private),
            ("http://[::1]/x", Refusal::Private),
            ("http://2130706433/x", Refusal::Private),
            ("http://0x7f.0.0.1/x", Refusal::Private),
            ("http://[::ffff:7f00:1]/x", Refusal::Private),
            ("file:///etc/passwd", Refusal::Scheme),
            ("gopher://127.0.0.1/x", Refusal::Scheme),
        ] {
            assert_eq!(addresses(&url(raw), false).await, Err(refusal), "{raw}");
        }
        let local = addresses(&url("http://127.0.0.1:81/x"), true).await;
        assert_eq!(local.unwrap(), vec!["127.0.0.1:81".parse().unwrap()]);
        assert_eq!(
            check_url(&url("http://10.0.0.1/x"), false),
            Err(Refusal::Private)
        );
        assert_eq!(check_url(&url("https://example.com/x"), false), Ok(()));
    }
}
