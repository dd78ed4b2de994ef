//! PROXY protocol header parsing (v1 text and v2 binary, told apart by
//! their signatures), written for partial input: a buffer that is a valid
//! beginning of a header is [`Parsed::Incomplete`], so a reader may consume
//! every byte it has seen without ever reading past the header.
//!
//! Every length is checked; malformed input is an error, never a panic.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The v2 signature: `\r\n\r\n\0\r\nQUIT\n`.
pub const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";
/// The v1 prefix, `PROXY` and one space.
const V1_PREFIX: &[u8] = b"PROXY ";
/// The longest v1 header the specification allows, CRLF included.
pub const V1_MAX: usize = 107;
/// v2: fixed part (signature, version/command, family, length).
pub const V2_FIXED: usize = 16;
/// v2: the largest address block plus TLVs accepted. The specification
/// allows up to 65535; real load balancers send a few dozen TLV bytes.
pub const V2_MAX_PAYLOAD: usize = 2048;
/// The longest header [`parse`] can accept.
pub const MAX_HEADER: usize = V2_FIXED + V2_MAX_PAYLOAD;

/// Which version a header was written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    V1,
    V2,
}

/// A complete header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub version: Version,
    /// The original connection's source and destination; `None` for v2
    /// LOCAL, v1 UNKNOWN and address families without IP addresses (the
    /// receiver then keeps the socket's own addresses).
    pub addresses: Option<Addresses>,
}

/// The connection a header describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Addresses {
    pub source: SocketAddr,
    pub destination: SocketAddr,
}

/// The outcome of parsing a buffer that starts where the header should.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Parsed {
    /// A header of `len` bytes; application data follows it.
    Complete { header: Header, len: usize },
    /// The buffer is a valid beginning of a header: every byte of it belongs
    /// to the header.
    Incomplete,
}

/// Why a buffer is not a PROXY header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Neither signature: the peer sent no PROXY header.
    #[error("no PROXY protocol signature")]
    Missing,
    /// A signature followed by something the specification does not allow.
    #[error("malformed PROXY protocol header: {0}")]
    Malformed(&'static str),
    /// Longer than [`V1_MAX`] (v1) or [`V2_MAX_PAYLOAD`] (v2).
    #[error("PROXY protocol header too long")]
    Oversized,
}

/// Parses the header at the start of `buf`.
pub fn parse(buf: &[u8]) -> Result<Parsed, ParseError> {
    let Some(&first) = buf.first() else {
        return Ok(Parsed::Incomplete);
    };
    if first == V2_SIGNATURE[0] {
        parse_v2(buf)
    } else if first == V1_PREFIX[0] {
        parse_v1(buf)
    } else {
        Err(ParseError::Missing)
    }
}

/// Whether `buf` and `signature` agree on their common length.
fn agrees(buf: &[u8], signature: &[u8]) -> bool {
    let n = buf.len().min(signature.len());
    buf[..n] == signature[..n]
}

fn parse_v1(buf: &[u8]) -> Result<Parsed, ParseError> {
    if !agrees(buf, V1_PREFIX) {
        return Err(ParseError::Missing);
    }
    let window = &buf[..buf.len().min(V1_MAX)];
    let Some(cr) = window.iter().position(|&b| b == b'\r') else {
        if buf.len() >= V1_MAX {
            return Err(ParseError::Oversized);
        }
        if window.iter().any(|&b| b == b'\n' || b == 0) {
            return Err(ParseError::Malformed("v1: stray control byte"));
        }
        return Ok(Parsed::Incomplete);
    };
    if cr + 2 > V1_MAX {
        return Err(ParseError::Oversized);
    }
    match buf.get(cr + 1) {
        None => return Ok(Parsed::Incomplete),
        Some(b'\n') => {}
        Some(_) => return Err(ParseError::Malformed("v1: CR without LF")),
    }
    let line = std::str::from_utf8(&buf[V1_PREFIX.len()..cr])
        .map_err(|_| ParseError::Malformed("v1: not ASCII"))?;
    let addresses = v1_addresses(line)?;
    Ok(Parsed::Complete {
        header: Header {
            version: Version::V1,
            addresses,
        },
        len: cr + 2,
    })
}

/// The part of a v1 line after `PROXY `.
fn v1_addresses(line: &str) -> Result<Option<Addresses>, ParseError> {
    let mut fields = line.split(' ');
    let protocol = fields.next().unwrap_or_default();
    let v6 = match protocol {
        // The rest of an UNKNOWN line is to be ignored.
        "UNKNOWN" => return Ok(None),
        "TCP4" => false,
        "TCP6" => true,
        _ => {
            return Err(ParseError::Malformed(
                "v1: protocol is not TCP4, TCP6 or UNKNOWN",
            ));
        }
    };
    let (Some(src), Some(dst), Some(sport), Some(dport), None) = (
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
    ) else {
        return Err(ParseError::Malformed("v1: wrong number of fields"));
    };
    let ip = |s: &str| -> Result<IpAddr, ParseError> {
        let parsed = if v6 {
            s.parse::<Ipv6Addr>().map(IpAddr::V6)
        } else {
            s.parse::<Ipv4Addr>().map(IpAddr::V4)
        };
        parsed.map_err(|_| ParseError::Malformed("v1: bad address"))
    };
    Ok(Some(Addresses {
        source: SocketAddr::new(ip(src)?, v1_port(sport)?),
        destination: SocketAddr::new(ip(dst)?, v1_port(dport)?),
    }))
}

/// A decimal port, digits only, no leading zero.
fn v1_port(s: &str) -> Result<u16, ParseError> {
    let digits_only = !s.is_empty() && s.len() <= 5 && s.bytes().all(|b| b.is_ascii_digit());
    if !digits_only || (s.len() > 1 && s.starts_with('0')) {
        return Err(ParseError::Malformed("v1: bad port"));
    }
    s.parse().map_err(|_| ParseError::Malformed("v1: bad port"))
}

fn parse_v2(buf: &[u8]) -> Result<Parsed, ParseError> {
    if !agrees(buf, &V2_SIGNATURE) {
        return Err(ParseError::Missing);
    }
    let Some(fixed) = buf.get(..V2_FIXED) else {
        // A version/command byte already seen can be checked early.
        if let Some(&vc) = buf.get(V2_SIGNATURE.len()) {
            version_command(vc)?;
        }
        return Ok(Parsed::Incomplete);
    };
    let local = version_command(fixed[12])?;
    let family = fixed[13];
    let payload = usize::from(u16::from_be_bytes([fixed[14], fixed[15]]));
    if payload > V2_MAX_PAYLOAD {
        return Err(ParseError::Oversized);
    }
    let len = V2_FIXED + payload;
    let Some(body) = buf.get(V2_FIXED..len) else {
        return Ok(Parsed::Incomplete);
    };
    // The transport (low nibble): UNSPEC, STREAM or DGRAM.
    if family & 0x0f > 2 {
        return Err(ParseError::Malformed("v2: unknown transport protocol"));
    }
    let addresses = match family >> 4 {
        0 => None,
        1 => {
            let a = body
                .get(..12)
                .ok_or(ParseError::Malformed("v2: IPv4 address block too short"))?;
            let ip = |b: &[u8]| IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3]));
            Some(Addresses {
                source: SocketAddr::new(ip(&a[0..4]), u16::from_be_bytes([a[8], a[9]])),
                destination: SocketAddr::new(ip(&a[4..8]), u16::from_be_bytes([a[10], a[11]])),
            })
        }
        2 => {
            let a = body
                .get(..36)
                .ok_or(ParseError::Malformed("v2: IPv6 address block too short"))?;
            let ip = |b: &[u8]| {
                let mut octets = [0u8; 16];
                octets.copy_from_slice(b);
                IpAddr::V6(Ipv6Addr::from(octets))
            };
            Some(Addresses {
                source: SocketAddr::new(ip(&a[0..16]), u16::from_be_bytes([a[32], a[33]])),
                destination: SocketAddr::new(ip(&a[16..32]), u16::from_be_bytes([a[34], a[35]])),
            })
        }
        3 => {
            if body.len() < 216 {
                return Err(ParseError::Malformed("v2: UNIX address block too short"));
            }
            None
        }
        _ => return Err(ParseError::Malformed("v2: unknown address family")),
    };
    Ok(Parsed::Complete {
        header: Header {
            version: Version::V2,
            // LOCAL: the connection was made by the proxy itself (health
            // checks); its addresses are the socket's.
            addresses: if local { None } else { addresses },
        },
        len,
    })
}

/// Checks the version/command byte; `true` for LOCAL, `false` for PROXY.
fn version_command(byte: u8) -> Result<bool, ParseError> {
    if byte >> 4 != 2 {
        return Err(ParseError::Malformed("v2: version is not 2"));
    }
    match byte & 0x0f {
        0 => Ok(true),
        1 => Ok(false),
        _ => Err(ParseError::Malformed("v2: unknown command")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn complete(buf: &[u8]) -> (Header, usize) {
        match parse(buf) {
            Ok(Parsed::Complete { header, len }) => (header, len),
            other => panic!("{other:?} for {buf:?}"),
        }
    }

    fn addrs(src: &str, dst: &str) -> Option<Addresses> {
        Some(Addresses {
            source: src.parse().unwrap(),
            destination: dst.parse().unwrap(),
        })
    }

    #[test]
    fn v1_tcp4_tcp6_and_unknown() {
        let line = b"PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\nGET /";
        let (h, len) = complete(line);
        assert_eq!(len, line.len() - 5);
        assert_eq!(h.version, Version::V1);
        assert_eq!(h.addresses, addrs("192.0.2.1:56324", "198.51.100.2:443"));

        let (h, _) = complete(b"PROXY TCP6 2001:db8::1 ::1 65535 0\r\n");
        assert_eq!(h.addresses, addrs("[2001:db8::1]:65535", "[::1]:0"));

        let (h, len) = complete(b"PROXY UNKNOWN ffff:: whatever\r\nx");
        assert_eq!((h.addresses, len), (None, 31));
        assert_eq!(complete(b"PROXY UNKNOWN\r\n").1, 15);
    }

    #[test]
    fn v1_prefixes_are_incomplete() {
        let line = b"PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n";
        for cut in 0..line.len() {
            assert_eq!(parse(&line[..cut]), Ok(Parsed::Incomplete), "cut {cut}");
        }
    }

    #[test]
    fn v1_errors() {
        let malformed = |b: &[u8]| matches!(parse(b), Err(ParseError::Malformed(_)));
        assert_eq!(parse(b"GET / HTTP/1.1\r\n"), Err(ParseError::Missing));
        assert_eq!(parse(b"POST / HTTP/1.1\r\n"), Err(ParseError::Missing));
        assert!(malformed(b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX"));
        assert!(malformed(b"PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n"));
        assert!(malformed(b"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n"));
        assert!(malformed(b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n"));
        assert!(malformed(b"PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n"));
        assert!(malformed(b"PROXY TCP4 ::1 5.6.7.8 1 2\r\n"));
        assert!(malformed(b"PROXY TCP6 1.2.3.4 ::1 1 2\r\n"));
        assert!(malformed(b"PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n"));
        assert!(malformed(b"PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n"));
        assert!(malformed(b"PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n"));
        assert!(malformed(b"PROXY TCP4 1.2.3.4\n"));
        let mut long = b"PROXY UNKNOWN ".to_vec();
        long.resize(V1_MAX, b'a');
        assert_eq!(parse(&long), Err(ParseError::Oversized));
        long.truncate(V1_MAX - 2);
        long.extend_from_slice(b"\r\n");
        assert_eq!(complete(&long).1, V1_MAX);
    }

    fn v2(command: u8, family: u8, body: &[u8]) -> Vec<u8> {
        let mut out = V2_SIGNATURE.to_vec();
        out.push(0x20 | command);
        out.push(family);
        out.extend_from_slice(&u16::try_from(body.len()).unwrap().to_be_bytes());
        out.extend_from_slice(body);
        out
    }

    #[test]
    fn v2_inet_inet6_with_tlvs() {
        let mut body = vec![192, 0, 2, 1, 198, 51, 100, 2, 0xdc, 0x04, 0x01, 0xbb];
        body.extend_from_slice(&[0x04, 0x00, 0x02, b'h', b'i']); // a NOOP TLV
        let mut wire = v2(1, 0x11, &body);
        let header_len = wire.len();
        wire.extend_from_slice(b"GET /");
        let (h, len) = complete(&wire);
        assert_eq!(len, header_len);
        assert_eq!(h.version, Version::V2);
        assert_eq!(h.addresses, addrs("192.0.2.1:56324", "198.51.100.2:443"));

        let mut body = [0u8; 36];
        body[15] = 1; // ::1
        body[16] = 0x20; // 2000::
        body[32..36].copy_from_slice(&[0, 80, 1, 0]);
        let (h, _) = complete(&v2(1, 0x21, &body));
        assert_eq!(h.addresses, addrs("[::1]:80", "[2000::]:256"));
    }

    #[test]
    fn v2_local_unspec_and_unix_keep_the_socket_addresses() {
        let inet = [1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 0, 2];
        assert_eq!(complete(&v2(0, 0x11, &inet)).0.addresses, None);
        assert_eq!(complete(&v2(0, 0x00, &[])).0.addresses, None);
        assert_eq!(complete(&v2(1, 0x00, &[])).0.addresses, None);
        assert_eq!(complete(&v2(1, 0x31, &[0; 216])).0.addresses, None);
    }

    #[test]
    fn v2_prefixes_are_incomplete_and_errors_are_typed() {
        let wire = v2(1, 0x11, &[1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 0, 2]);
        for cut in 0..wire.len() {
            assert_eq!(parse(&wire[..cut]), Ok(Parsed::Incomplete), "cut {cut}");
        }
        let malformed = |b: &[u8]| matches!(parse(b), Err(ParseError::Malformed(_)));
        assert!(malformed(&v2(1, 0x11, &[1, 2, 3])));
        assert!(malformed(&v2(1, 0x21, &[0; 12])));
        assert!(malformed(&v2(1, 0x41, &[])));
        assert!(malformed(&v2(1, 0x13, &[0; 12])));
        assert!(malformed(&v2(2, 0x11, &[0; 12])));
        let mut v3 = v2(1, 0x11, &[0; 12]);
        v3[12] = 0x31;
        assert!(malformed(&v3));
        assert!(
            malformed(&v3[..13]),
            "bad version is seen before the length"
        );
        assert_eq!(parse(b"\r\n\r\nX"), Err(ParseError::Missing));
        let mut big = v2(1, 0x11, &[]);
        big[14..16].copy_from_slice(&u16::try_from(V2_MAX_PAYLOAD + 1).unwrap().to_be_bytes());
        assert_eq!(parse(&big), Err(ParseError::Oversized));
    }
}
