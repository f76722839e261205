//! The client address that per-address limits count against.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use axum::{extract::ConnectInfo, http::Extensions};

/// The client's address: today the connection's peer (axum's `ConnectInfo`). The one place
/// to change when forwarded headers from trusted proxies are to be believed. Unknown (a
/// request not served from a socket) is `0.0.0.0`.
pub fn client_address(extensions: &Extensions) -> IpAddr {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |ConnectInfo(peer)| {
            peer.ip()
        })
}

/// What an address is limited as: an IPv4 address (also written as IPv4-mapped IPv6), or
/// the /64 network of an IPv6 one (a single host usually holds a whole /64).
pub fn limit_key(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let network = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(Ipv6Addr::from(network))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_hosts_of_one_network_share_a_key() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(limit_key(a), limit_key(b));
        assert_ne!(limit_key(a), limit_key(other));
        assert_eq!(limit_key(a), "2001:db8:1:2::".parse::<IpAddr>().unwrap());
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(limit_key(mapped), "192.0.2.7".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn the_peer_address_is_the_client() {
        let mut ext = Extensions::new();
        assert_eq!(client_address(&ext), IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        ext.insert(ConnectInfo(SocketAddr::from(([192, 0, 2, 1], 4711))));
        assert_eq!(client_address(&ext), "192.0.2.1".parse::<IpAddr>().unwrap());
    }
}
