//! Outbound connections to hosts that clients chose (uploads from a URL, webhooks, the
//! endpoints, URLs and hosts of imported accounts), without letting a client reach what
//! only this appliance can: a host must resolve to public addresses only, or to networks
//! the operator allowed ([`Policy`]), and the connection goes to the addresses that were
//! checked, never to a second lookup an attacker could answer differently.
//!
//! Three ways to use it: [`addresses`] checks a URL and returns the addresses to pin a
//! connection to (`reqwest::ClientBuilder::resolve_to_addrs`); [`lookup`] does the same for
//! a host and port (SSH); [`Resolver`] is a DNS resolver for a long-lived client that
//! refuses private answers at connect time (pair it with [`check_url`] and [`redirects`],
//! since IP-literal hosts never reach a resolver).

use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    sync::Arc,
};

use ipnet::IpNet;
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
    #[error("The host does not resolve.")]
    Unresolved,
    /// The host is, or resolves to, a loopback, private, link-local… address.
    #[error("The host is or resolves to a private or local address, which is not allowed.")]
    Private,
}

/// Which addresses outbound connections of one kind may reach: public ones, and those in
/// the networks the operator allowed (the appliance's own MinIO, WebDAV or SSH hosts).
/// Cheap to clone.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Policy {
    allow: Arc<[IpNet]>,
}

impl Policy {
    /// Public addresses plus `allow`.
    pub fn new(allow: &[IpNet]) -> Self {
        Self {
            allow: allow.into(),
        }
    }

    /// Public addresses only.
    pub fn public_only() -> Self {
        Self::default()
    }

    /// Every address (for checking only a URL's scheme, host and port).
    pub fn any() -> Self {
        Self::new(&[
            IpNet::V4(ipnet::Ipv4Net::default()),
            IpNet::V6(ipnet::Ipv6Net::default()),
        ])
    }

    /// True when a connection may go to `ip`. An IPv4-mapped IPv6 address is the IPv4
    /// address it carries (that is where the socket connects).
    pub fn permits(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        is_public(ip) || self.allow.iter().any(|net| net.contains(&ip))
    }

    /// Refuses `addrs` if any of them is not permitted.
    fn ensure(&self, addrs: &[SocketAddr]) -> Result<(), Refusal> {
        if addrs.iter().all(|a| self.permits(a.ip())) {
            Ok(())
        } else {
            Err(Refusal::Private)
        }
    }
}

/// True for addresses anyone on the internet could reach: not loopback, private,
/// link-local, shared (CGNAT), multicast, reserved or documentation ranges, nor an IPv6
/// spelling of such an IPv4 address (IPv4-compatible `::/96`, IPv4-mapped `::ffff:0:0/96`,
/// IPv4-translated `::ffff:0:0:0/96`, NAT64 `64:ff9b::/96`, 6to4 `2002::/16`).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

/// The IPv4 address an IPv6 address stands for, in the spellings that carry one.
fn embedded_v4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = v6.segments();
    let low = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    match s {
        // IPv4-compatible (`::a.b.c.d`, also `::` and `::1`) and IPv4-mapped.
        [0, 0, 0, 0, 0, 0 | 0xffff, _, _] => Some(low),
        // IPv4-translated (SIIT).
        [0, 0, 0, 0, 0xffff, 0, _, _] => Some(low),
        // NAT64, well-known prefix.
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some(low),
        // 6to4: the IPv4 address follows the prefix.
        [0x2002, hi, lo, ..] => Some(Ipv4Addr::new(
            (hi >> 8) as u8,
            hi as u8,
            (lo >> 8) as u8,
            lo as u8,
        )),
        _ => None,
    }
}

fn is_public_v6(v6: Ipv6Addr) -> bool {
    let s = v6.segments();
    let unique_local = (s[0] & 0xfe00) == 0xfc00;
    let link_local = (s[0] & 0xffc0) == 0xfe80;
    let site_local = (s[0] & 0xffc0) == 0xfec0;
    let documentation = (s[0] == 0x2001 && s[1] == 0x0db8) || (s[0] == 0x3fff && s[1] < 0x1000);
    // NAT64 local-use prefix (64:ff9b:1::/48): what it translates to is the network's own.
    let local_nat64 = s[0] == 0x64 && s[1] == 0xff9b && s[2] == 1;
    // Teredo (its client address is obfuscated), benchmarking, ORCHID, discard-only.
    let teredo = s[0] == 0x2001 && s[1] == 0;
    let benchmarking = s[0] == 0x2001 && s[1] == 2 && s[2] == 0;
    let orchid = s[0] == 0x2001 && matches!(s[1] & 0xfff0, 0x0010 | 0x0020);
    let discard = s[0] == 0x100 && s[1..4] == [0, 0, 0];
    !(v6.is_multicast()
        || unique_local
        || link_local
        || site_local
        || documentation
        || local_nat64
        || teredo
        || benchmarking
        || orchid
        || discard)
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
        || (a == 192 && b == 88 && c == 99)
        || (a == 198 && (b == 18 || b == 19))
        || a >= 240)
}

/// Checks what can be checked without a lookup: the scheme, a host and a port, and an
/// IP-literal host's address.
pub fn check_url(url: &url::Url, policy: &Policy) -> Result<(), Refusal> {
    literal(url)?.map_or(Ok(()), |addr| policy.ensure(&[addr]))
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
pub async fn addresses(url: &url::Url, policy: &Policy) -> Result<Vec<SocketAddr>, Refusal> {
    let port = url.port_or_known_default().unwrap_or_default();
    match (literal(url)?, url.host_str()) {
        (Some(addr), _) => {
            policy.ensure(&[addr])?;
            Ok(vec![addr])
        }
        (None, Some(name)) => lookup(name, port, policy).await,
        (None, None) => Err(Refusal::NoHost),
    }
}

/// Resolves a host name (or reads an address literal); every address must be permitted.
pub async fn lookup(name: &str, port: u16, policy: &Policy) -> Result<Vec<SocketAddr>, Refusal> {
    // `[::1]` as people write IPv6 hosts.
    let name = name
        .strip_prefix('[')
        .and_then(|n| n.strip_suffix(']'))
        .unwrap_or(name);
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((name, port))
        .await
        .map_err(|_| Refusal::Unresolved)?
        .collect();
    if addrs.is_empty() {
        return Err(Refusal::Unresolved);
    }
    policy.ensure(&addrs)?;
    Ok(addrs)
}

/// A redirect policy for a guarded client: each hop's URL passes [`check_url`] (names
/// are checked by the client's [`Resolver`] when it connects), at most `max` hops.
pub fn redirects(policy: &Policy, max: usize) -> reqwest::redirect::Policy {
    let policy = policy.clone();
    reqwest::redirect::Policy::custom(move |attempt| {
        if attempt.previous().len() > max {
            return attempt.error("too many redirects");
        }
        match check_url(attempt.url(), &policy) {
            Ok(()) => attempt.follow(),
            Err(refusal) => attempt.error(refusal),
        }
    })
}

/// A DNS resolver for `reqwest::ClientBuilder::dns_resolver` that answers only when
/// every address of the name is permitted; the client connects to exactly those.
#[derive(Clone, Debug)]
pub struct Resolver {
    policy: Policy,
}

impl Resolver {
    /// A resolver applying `policy`.
    pub fn new(policy: &Policy) -> Arc<Self> {
        Arc::new(Self {
            policy: policy.clone(),
        })
    }

    /// The addresses of `name`, all permitted (for resolvers of other HTTP stacks).
    pub async fn resolve_name(&self, name: &str) -> Result<Vec<SocketAddr>, Refusal> {
        lookup(name, 0, &self.policy).await
    }
}

impl Resolve for Resolver {
    fn resolve(&self, name: Name) -> Resolving {
        let this = self.clone();
        Box::pin(async move {
            let addrs = this.resolve_name(name.as_str()).await?;
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
            "fec0::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:0.0.0.0",
            // IPv4-compatible and IPv4-translated spellings of loopback and metadata.
            "::127.0.0.1",
            "::169.254.169.254",
            "::ffff:0:127.0.0.1",
            "::ffff:0:10.0.0.1",
            "64:ff9b::a00:1",
            "64:ff9b::127.0.0.1",
            "64:ff9b:1::808:808",
            "2002:7f00:1::",
            "2002:a9fe:a9fe::1",
            "2001::1",
            "2001:db8::1",
            "ff02::1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private} passed");
        }
        for public in [
            "93.184.216.34",
            "8.8.8.8",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::8.8.8.8",
            "2002:808:808::1",
        ] {
            assert!(is_public(public.parse().unwrap()), "{public} refused");
        }
    }

    #[test]
    fn allowed_networks_pass_in_every_spelling_that_connects_there() {
        let policy = Policy::new(&["10.0.0.0/8".parse().unwrap(), "fd00::/8".parse().unwrap()]);
        for allowed in ["10.1.2.3", "::ffff:10.1.2.3", "fd12::1", "8.8.8.8"] {
            assert!(
                policy.permits(allowed.parse().unwrap()),
                "{allowed} refused"
            );
        }
        for refused in ["127.0.0.1", "169.254.169.254", "::10.1.2.3", "fe80::1"] {
            assert!(
                !policy.permits(refused.parse().unwrap()),
                "{refused} passed"
            );
        }
        assert!(!Policy::public_only().permits("10.1.2.3".parse().unwrap()));
    }

    #[tokio::test]
    async fn urls_are_checked_whatever_the_spelling() {
        let url = |s: &str| url::Url::parse(s).unwrap();
        let public = Policy::public_only();
        for (raw, refusal) in [
            ("http://127.0.0.1/x", Refusal::Private),
            ("http://localhost/x", Refusal::Private),
            ("http://[::1]/x", Refusal::Private),
            ("http://2130706433/x", Refusal::Private),
            ("http://0x7f.0.0.1/x", Refusal::Private),
            ("http://[::ffff:7f00:1]/x", Refusal::Private),
            ("http://[::127.0.0.1]/x", Refusal::Private),
            ("http://[::ffff:0:127.0.0.1]/x", Refusal::Private),
            ("file:///etc/passwd", Refusal::Scheme),
            ("gopher://127.0.0.1/x", Refusal::Scheme),
        ] {
            assert_eq!(addresses(&url(raw), &public).await, Err(refusal), "{raw}");
        }
        let loopback = Policy::new(&["127.0.0.0/8".parse().unwrap()]);
        let local = addresses(&url("http://127.0.0.1:81/x"), &loopback).await;
        assert_eq!(local.unwrap(), vec!["127.0.0.1:81".parse().unwrap()]);
        assert_eq!(
            check_url(&url("http://10.0.0.1/x"), &loopback),
            Err(Refusal::Private)
        );
        assert_eq!(check_url(&url("https://example.com/x"), &public), Ok(()));
    }

    #[tokio::test]
    async fn hosts_are_checked_after_resolution() {
        let public = Policy::public_only();
        for host in ["localhost", "127.0.0.1", "::1", "[::1]", "::ffff:0:7f00:1"] {
            assert_eq!(
                lookup(host, 22, &public).await,
                Err(Refusal::Private),
                "{host}"
            );
        }
        let loopback = Policy::new(&["127.0.0.0/8".parse().unwrap()]);
        assert_eq!(
            lookup("127.0.0.1", 22, &loopback).await.unwrap(),
            vec!["127.0.0.1:22".parse().unwrap()]
        );
    }
}
