//! PROXY protocol headers written to upstreams: v1 text or v2 binary, the
//! original client as source and the address it connected to as
//! destination. A connection without a client (a mirrored request) gets
//! v1 `UNKNOWN` / v2 `LOCAL`, which tell the backend to use the socket's
//! own addresses.

use std::net::{IpAddr, SocketAddr};

use portico_ir::ProxyProtocolVersion;

use super::parse::{Addresses, V2_SIGNATURE};

/// The header for one upstream connection.
pub fn encode(version: ProxyProtocolVersion, addresses: Option<Addresses>) -> Vec<u8> {
    match version {
        ProxyProtocolVersion::V1 => v1(addresses),
        ProxyProtocolVersion::V2 => v2(addresses),
    }
}

/// Both addresses in one family: IPv4 when both are IPv4, otherwise IPv6
/// (an IPv4 address as IPv4-mapped IPv6), as a header carries one family.
fn same_family(a: Addresses) -> (SocketAddr, SocketAddr) {
    let v6 = |s: SocketAddr| match s.ip() {
        IpAddr::V4(ip) => SocketAddr::new(IpAddr::V6(ip.to_ipv6_mapped()), s.port()),
        IpAddr::V6(_) => s,
    };
    if a.source.is_ipv4() && a.destination.is_ipv4() {
        (a.source, a.destination)
    } else {
        (v6(a.source), v6(a.destination))
    }
}

fn v1(addresses: Option<Addresses>) -> Vec<u8> {
    let Some(a) = addresses else {
        return b"PROXY UNKNOWN\r\n".to_vec();
    };
    let (src, dst) = same_family(a);
    let protocol = if src.is_ipv4() { "TCP4" } else { "TCP6" };
    format!(
        "PROXY {protocol} {} {} {} {}\r\n",
        src.ip(),
        dst.ip(),
        src.port(),
        dst.port()
    )
    .into_bytes()
}

fn v2(addresses: Option<Addresses>) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + 36);
    out.extend_from_slice(&V2_SIGNATURE);
    let Some(a) = addresses else {
        // LOCAL, AF_UNSPEC, no address block.
        out.extend_from_slice(&[0x20, 0x00, 0, 0]);
        return out;
    };
    let (src, dst) = same_family(a);
    let mut block = Vec::with_capacity(36);
    let family = match (src.ip(), dst.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            block.extend_from_slice(&s.octets());
            block.extend_from_slice(&d.octets());
            0x11 // INET, STREAM
        }
        (s, d) => {
            let octets = |ip: IpAddr| match ip {
                IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
                IpAddr::V6(v6) => v6.octets(),
            };
            block.extend_from_slice(&octets(s));
            block.extend_from_slice(&octets(d));
            0x21 // INET6, STREAM
        }
    };
    block.extend_from_slice(&src.port().to_be_bytes());
    block.extend_from_slice(&dst.port().to_be_bytes());
    out.push(0x21); // version 2, PROXY
    out.push(family);
    // 12 or 36 bytes: always fits.
    out.extend_from_slice(&u16::try_from(block.len()).unwrap_or(36).to_be_bytes());
    out.extend_from_slice(&block);
    out
}

#[cfg(test)]
mod tests {
    use super::super::parse::{Header, Parsed, Version, parse};
    use super::*;
    use proptest::prelude::*;

    fn addrs(src: &str, dst: &str) -> Addresses {
        Addresses {
            source: src.parse().unwrap(),
            destination: dst.parse().unwrap(),
        }
    }

    #[test]
    fn v1_text() {
        let a = addrs("192.0.2.1:56324", "198.51.100.2:443");
        assert_eq!(
            encode(ProxyProtocolVersion::V1, Some(a)),
            b"PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n"
        );
        let mixed = addrs("192.0.2.1:1", "[2001:db8::2]:2");
        assert_eq!(
            encode(ProxyProtocolVersion::V1, Some(mixed)),
            b"PROXY TCP6 ::ffff:192.0.2.1 2001:db8::2 1 2\r\n"
        );
        assert_eq!(encode(ProxyProtocolVersion::V1, None), b"PROXY UNKNOWN\r\n");
    }

    #[test]
    fn v2_binary() {
        let a = addrs("192.0.2.1:56324", "198.51.100.2:443");
        let wire = encode(ProxyProtocolVersion::V2, Some(a));
        assert_eq!(&wire[..12], &V2_SIGNATURE);
        assert_eq!(&wire[12..16], &[0x21, 0x11, 0, 12]);
        assert_eq!(
            &wire[16..],
            &[192, 0, 2, 1, 198, 51, 100, 2, 0xdc, 0x04, 0x01, 0xbb]
        );
        let local = encode(ProxyProtocolVersion::V2, None);
        assert_eq!(&local[12..], &[0x20, 0x00, 0, 0]);
    }

    fn socket_addr() -> impl Strategy<Value = SocketAddr> {
        prop_oneof![
            (any::<[u8; 4]>(), any::<u16>()).prop_map(|(ip, p)| SocketAddr::from((ip, p))),
            (any::<[u8; 16]>(), any::<u16>()).prop_map(|(ip, p)| SocketAddr::from((ip, p))),
        ]
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = parse(&bytes);
        }

        #[test]
        fn arbitrary_bytes_after_a_signature_never_panic(
            v2 in any::<bool>(),
            rest in proptest::collection::vec(any::<u8>(), 0..300),
        ) {
            let mut bytes = if v2 { V2_SIGNATURE.to_vec() } else { b"PROXY ".to_vec() };
            bytes.extend_from_slice(&rest);
            let _ = parse(&bytes);
        }

        #[test]
        fn encode_then_parse_round_trips(
            src in socket_addr(),
            dst in socket_addr(),
            v2 in any::<bool>(),
            local in any::<bool>(),
            trailing in proptest::collection::vec(any::<u8>(), 0..16),
        ) {
            let (version, parsed_version) = if v2 {
                (ProxyProtocolVersion::V2, Version::V2)
            } else {
                (ProxyProtocolVersion::V1, Version::V1)
            };
            let sent = (!local).then_some(Addresses { source: src, destination: dst });
            let mut wire = encode(version, sent);
            let header_len = wire.len();
            wire.extend_from_slice(&trailing);
            let expected = sent.map(|a| {
                let (source, destination) = same_family(a);
                Addresses { source, destination }
            });
            prop_assert_eq!(
                parse(&wire),
                Ok(Parsed::Complete {
                    header: Header { version: parsed_version, addresses: expected },
                    len: header_len,
                })
            );
            for cut in 0..header_len {
                prop_assert_eq!(parse(&wire[..cut]), Ok(Parsed::Incomplete));
            }
        }
    }
}
