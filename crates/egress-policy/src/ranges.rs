//! Address ranges that a resolved name must never reach unless an entry names them:
//! loopback, link-local (169.254.169.254, the instance metadata service, included),
//! private, unique-local, carrier-grade NAT, multicast, reserved and unspecified.

use std::net::IpAddr;

use ipnet::IpNet;

const SPECIAL: &[(&str, &str)] = &[
    ("0.0.0.0/8", "unspecified"),
    ("10.0.0.0/8", "private"),
    ("100.64.0.0/10", "carrier-grade NAT"),
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link-local"),
    ("172.16.0.0/12", "private"),
    ("192.0.0.0/24", "IETF protocol assignments"),
    ("192.0.2.0/24", "documentation"),
    ("192.168.0.0/16", "private"),
    ("198.18.0.0/15", "benchmarking"),
    ("198.51.100.0/24", "documentation"),
    ("203.0.113.0/24", "documentation"),
    ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved"),
    ("::/128", "unspecified"),
    ("::1/128", "loopback"),
    ("64:ff9b::/96", "NAT64"),
    ("100::/64", "discard"),
    ("2001:db8::/32", "documentation"),
    ("fc00::/7", "unique-local"),
    ("fe80::/10", "link-local"),
    ("ff00::/8", "multicast"),
];

fn table() -> impl Iterator<Item = (IpNet, &'static str)> {
    SPECIAL
        .iter()
        .filter_map(|(net, kind)| net.parse().ok().map(|n| (n, *kind)))
}

/// Unwraps IPv4-mapped IPv6 (`::ffff:10.0.0.1`) so it is judged as the IPv4 it is.
pub(crate) fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

/// The special range `ip` falls in, as `(network, kind)`, or `None` for a public address.
pub fn special_range(ip: IpAddr) -> Option<(IpNet, &'static str)> {
    let ip = canonical(ip);
    table().find(|(net, _)| net.contains(&ip))
}

/// Whether `net` lies wholly inside one special range, i.e. an entry with it names that
/// range explicitly (`10.0.0.0/8`, `169.254.169.254`), unlike a broad `0.0.0.0/0`.
pub(crate) fn names_special_range(net: &IpNet) -> bool {
    table().any(|(special, _)| special.contains(net))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_parses() {
        assert_eq!(table().count(), SPECIAL.len());
    }

    #[test]
    fn classifies() {
        for (ip, kind) in [
            ("127.0.0.1", "loopback"),
            ("169.254.169.254", "link-local"),
            ("10.0.0.1", "private"),
            ("172.31.255.1", "private"),
            ("192.168.1.1", "private"),
            ("::1", "loopback"),
            ("fd00:ec2::254", "unique-local"),
            ("::ffff:127.0.0.1", "loopback"),
            ("::ffff:169.254.169.254", "link-local"),
            ("0.0.0.0", "unspecified"),
        ] {
            let got = special_range(ip.parse().unwrap()).map(|(_, k)| k);
            assert_eq!(got, Some(kind), "{ip}");
        }
        for ip in ["52.94.133.131", "1.1.1.1", "2600:1f18::1", "172.32.0.1"] {
            assert_eq!(special_range(ip.parse().unwrap()), None, "{ip}");
        }
    }

    #[test]
    fn broad_networks_do_not_name_special_ranges() {
        assert!(names_special_range(&"10.0.0.0/8".parse().unwrap()));
        assert!(names_special_range(&"169.254.169.254/32".parse().unwrap()));
        assert!(names_special_range(&"127.0.0.0/8".parse().unwrap()));
        assert!(!names_special_range(&"0.0.0.0/0".parse().unwrap()));
        assert!(!names_special_range(&"8.0.0.0/5".parse().unwrap()));
        assert!(!names_special_range(&"::/0".parse().unwrap()));
    }
}
