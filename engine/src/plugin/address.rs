//! Which addresses plugins may reach: the special-purpose ranges (loopback, private,
//! link-local, cloud metadata, ...) that only the operator's allow-list opens, and plain
//! http only to allow-listed networks. A refusal reason names what the caller wrote: a
//! literal address, or for a host name the name alone (its resolved address goes to the
//! operator's log).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use ipnet::IpNet;

use super::sandbox::escape_log;

/// Special-purpose ranges that plugins may not reach unless allow-listed, with a name for
/// the error message. IPv4 as (network, prefix length).
const V4_SPECIAL: &[(u32, u8, &str)] = &[
    (0x0000_0000, 8, "\"this network\" (0.0.0.0/8)"),
    (0x0a00_0000, 8, "private (10.0.0.0/8)"),
    (0x6440_0000, 10, "shared CGNAT (100.64.0.0/10)"),
    (0x7f00_0000, 8, "loopback (127.0.0.0/8)"),
    (0xa9fe_a9fe, 32, "cloud metadata (169.254.169.254)"),
    (0xa9fe_0000, 16, "link-local (169.254.0.0/16)"),
    (0xac10_0000, 12, "private (172.16.0.0/12)"),
    (0xc000_0000, 24, "IETF protocol assignment (192.0.0.0/24)"),
    (0xc000_0200, 24, "documentation (192.0.2.0/24)"),
    (0xc058_6300, 24, "6to4 relay (192.88.99.0/24)"),
    (0xc0a8_0000, 16, "private (192.168.0.0/16)"),
    (0xc612_0000, 15, "benchmarking (198.18.0.0/15)"),
    (0xc633_6400, 24, "documentation (198.51.100.0/24)"),
    (0xcb00_7100, 24, "documentation (203.0.113.0/24)"),
    (0xa83f_8110, 32, "cloud metadata (168.63.129.16)"),
    (0xe000_0000, 4, "multicast (224.0.0.0/4)"),
    (0xf000_0000, 4, "reserved (240.0.0.0/4)"),
];

/// IPv6 special ranges, as (network, prefix length).
const V6_SPECIAL: &[(u128, u8, &str)] = &[
    (0, 128, "unspecified (::)"),
    (1, 128, "loopback (::1)"),
    (0x0100_0000_0000_0000 << 64, 64, "discard (100::/64)"),
    (0x2001_0db8 << 96, 32, "documentation (2001:db8::/32)"),
    (0xfc00 << 112, 7, "unique local (fc00::/7)"),
    (0xfe80 << 112, 10, "link-local (fe80::/10)"),
    (0xfec0 << 112, 10, "site-local (fec0::/10)"),
    (0xff00 << 112, 8, "multicast (ff00::/8)"),
];

/// The special range `ip` lies in, if any. IPv6 forms that embed an IPv4 address
/// (IPv4-mapped `::ffff:a.b.c.d`, IPv4-compatible `::a.b.c.d`, NAT64 `64:ff9b::/96`, 6to4
/// `2002::/16`) are judged by the IPv4 address they carry.
pub(crate) fn special_range(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => special_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = embedded_v4(v6) {
                return special_v4(v4);
            }
            let bits = u128::from(v6);
            V6_SPECIAL
                .iter()
                .find(|(net, len, _)| prefix_match_128(bits, *net, *len))
                .map(|(_, _, name)| *name)
        }
    }
}

fn special_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let bits = u32::from(ip);
    V4_SPECIAL
        .iter()
        .find(|(net, len, _)| {
            let mask = if *len == 0 { 0 } else { u32::MAX << (32 - len) };
            bits & mask == *net
        })
        .map(|(_, _, name)| *name)
}

fn prefix_match_128(bits: u128, net: u128, len: u8) -> bool {
    let mask = if len == 0 {
        0
    } else {
        u128::MAX << (128 - len)
    };
    bits & mask == net
}

/// The IPv4 address an IPv6 address carries, for the forms that route to it.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4);
    }
    let bits = u128::from(ip);
    let low32 = Ipv4Addr::from((bits & 0xffff_ffff) as u32);
    if bits >> 32 == 0 && bits > 1 {
        return Some(low32); // IPv4-compatible ::a.b.c.d (deprecated, still routed by some)
    }
    if prefix_match_128(bits, 0x0064_ff9b << 96, 96)
        || prefix_match_128(bits, 0x0064_ff9b_0001 << 80, 48)
    {
        return Some(low32); // NAT64
    }
    if prefix_match_128(bits, 0x2002 << 112, 16) {
        return Some(Ipv4Addr::from(((bits >> 80) & 0xffff_ffff) as u32)); // 6to4
    }
    None
}

/// Which addresses may be reached, over which scheme: the rule of the shared connector.
#[derive(Debug, Clone)]
pub(crate) struct AddressPolicy {
    allow_networks: Arc<[IpNet]>,
}

impl AddressPolicy {
    pub(crate) fn new(allow_networks: &[IpNet]) -> Self {
        AddressPolicy {
            allow_networks: allow_networks.into(),
        }
    }

    pub(crate) fn allow_listed(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        self.allow_networks.iter().any(|net| net.contains(&ip))
    }

    /// Whether `ip`, written literally in a URL, may be reached, and why not.
    pub(crate) fn check(&self, ip: IpAddr, https: bool) -> Result<(), String> {
        match self.refusal(ip, https) {
            None => Ok(()),
            Some(Refusal::Special(range)) => Err(format!(
                "{ip} is a {range} address, which plugins may reach only when the operator \
                 allow-lists it (MSGHUB_ALLOW_NETWORKS)"
            )),
            Some(Refusal::PlainHttp) => Err(format!(
                "plain http to {ip} is refused: plugins must use https, except to networks \
                 the operator allow-lists (MSGHUB_ALLOW_NETWORKS)"
            )),
        }
    }

    /// Whether `ip`, an address `host` resolved to, may be reached, and why not. The reason
    /// names only the host: it reaches whoever configured the channel, and the address
    /// would map internal names for them. The address goes to the operator's log.
    pub(crate) fn check_resolved(&self, host: &str, ip: IpAddr, https: bool) -> Result<(), String> {
        let Some(refusal) = self.refusal(ip, https) else {
            return Ok(());
        };
        tracing::warn!(
            host = %escape_log(host),
            address = %ip,
            "a plugin's request resolved to an address the sandbox refuses"
        );
        Err(match refusal {
            Refusal::Special(range) => format!(
                "'{host}' resolves to a {range} address, which plugins may reach only when \
                 the operator allow-lists its network (MSGHUB_ALLOW_NETWORKS); the address \
                 is in the operator's log"
            ),
            Refusal::PlainHttp => format!(
                "plain http to '{host}' is refused: plugins must use https, except to \
                 networks the operator allow-lists (MSGHUB_ALLOW_NETWORKS)"
            ),
        })
    }

    fn refusal(&self, ip: IpAddr, https: bool) -> Option<Refusal> {
        if self.allow_listed(ip) {
            return None;
        }
        if let Some(range) = special_range(ip) {
            return Some(Refusal::Special(range));
        }
        (!https).then_some(Refusal::PlainHttp)
    }
}

/// Why an address is refused.
enum Refusal {
    /// It lies in a special-purpose range (named).
    Special(&'static str),
    /// Plain http to a public address.
    PlainHttp,
}
