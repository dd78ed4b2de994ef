//! Request and response hygiene: hop-by-hop headers and X-Forwarded-*.

use http::header::{self, HeaderMap, HeaderName, HeaderValue};

static KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
static FORWARDED: HeaderName = HeaderName::from_static("forwarded");

/// Whether the request asks for a WebSocket upgrade (HTTP/1.1).
pub fn is_websocket_upgrade(headers: &HeaderMap) -> bool {
    headers
        .get(header::UPGRADE)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"websocket"))
        && headers
            .get_all(header::CONNECTION)
            .iter()
            .any(|v| tokens(v).any(|t| t.eq_ignore_ascii_case("upgrade")))
}

fn tokens(v: &HeaderValue) -> impl Iterator<Item = &str> {
    v.to_str()
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// Removes hop-by-hop headers: Connection and the headers it names,
/// Keep-Alive, Transfer-Encoding, TE (except `trailers`), Proxy-*, and
/// Upgrade unless `keep_upgrade` (then `Connection: upgrade` is kept).
///
/// One pass over the names finds which of them are present; a request
/// without any (the common case) costs that pass and nothing else, and no
/// path allocates unless Connection has several lines.
pub fn strip_hop_by_hop(headers: &mut HeaderMap, keep_upgrade: bool) {
    let found = present(headers);
    if found & CONNECTION != 0 {
        let mut values = headers.get_all(header::CONNECTION).iter();
        let first = values.next().cloned();
        // Empty (no allocation) unless Connection came in several lines.
        let rest: Vec<HeaderValue> = values.cloned().collect();
        headers.remove(header::CONNECTION);
        for value in first.iter().chain(&rest) {
            for token in tokens(value) {
                if !(keep_upgrade && token.eq_ignore_ascii_case("upgrade")) {
                    // By &str: no HeaderName is built; an invalid name is no header.
                    headers.remove(token);
                }
            }
        }
    }
    if found & KEEP_ALIVE_BIT != 0 {
        headers.remove(&KEEP_ALIVE);
    }
    if found & TRANSFER_ENCODING != 0 {
        headers.remove(header::TRANSFER_ENCODING);
    }
    if found & TE != 0
        && let Some(te) = headers.get(header::TE)
    {
        if tokens(te).any(|t| t.eq_ignore_ascii_case("trailers")) {
            headers.insert(header::TE, HeaderValue::from_static("trailers"));
        } else {
            headers.remove(header::TE);
        }
    }
    if found & PROXY != 0 {
        let proxy: Vec<HeaderName> = headers
            .keys()
            .filter(|k| k.as_str().starts_with("proxy-"))
            .cloned()
            .collect();
        for name in proxy {
            headers.remove(name);
        }
    }
    if keep_upgrade {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    } else if found & UPGRADE != 0 {
        headers.remove(header::UPGRADE);
    }
}

const CONNECTION: u8 = 1;
const KEEP_ALIVE_BIT: u8 = 2;
const TRANSFER_ENCODING: u8 = 4;
const TE: u8 = 8;
const UPGRADE: u8 = 16;
const PROXY: u8 = 32;

/// Which hop-by-hop names the map holds, as a set of the bits above.
fn present(headers: &HeaderMap) -> u8 {
    let mut found = 0;
    for name in headers.keys() {
        found |= if *name == header::CONNECTION {
            CONNECTION
        } else if *name == header::TRANSFER_ENCODING {
            TRANSFER_ENCODING
        } else if *name == header::TE {
            TE
        } else if *name == header::UPGRADE {
            UPGRADE
        } else if *name == KEEP_ALIVE {
            KEEP_ALIVE_BIT
        } else if name.as_str().starts_with("proxy-") {
            PROXY
        } else {
            0
        };
    }
    found
}

/// X-Forwarded-For gets the peer appended; X-Forwarded-Proto and
/// X-Forwarded-Host are only believed from trusted hops, otherwise set.
pub fn add_forwarded(
    headers: &mut HeaderMap,
    peer_ip: &HeaderValue,
    proto: &'static str,
    trusted_hops: usize,
) {
    let xff = match headers.get(&X_FORWARDED_FOR) {
        Some(existing) if !existing.is_empty() => {
            let mut joined = Vec::with_capacity(existing.len() + 2 + peer_ip.len());
            // Several XFF lines are one comma-separated list.
            for (i, v) in headers.get_all(&X_FORWARDED_FOR).iter().enumerate() {
                if i > 0 {
                    joined.extend_from_slice(b", ");
                }
                joined.extend_from_slice(v.as_bytes());
            }
            joined.extend_from_slice(b", ");
            joined.extend_from_slice(peer_ip.as_bytes());
            HeaderValue::from_bytes(&joined).unwrap_or_else(|_| peer_ip.clone())
        }
        _ => peer_ip.clone(),
    };
    headers.insert(X_FORWARDED_FOR.clone(), xff);
    if trusted_hops == 0 || !headers.contains_key(&X_FORWARDED_PROTO) {
        headers.insert(X_FORWARDED_PROTO.clone(), HeaderValue::from_static(proto));
    }
    if trusted_hops == 0 || !headers.contains_key(&X_FORWARDED_HOST) {
        match headers.get(header::HOST).cloned() {
            Some(host) => {
                headers.insert(X_FORWARDED_HOST.clone(), host);
            }
            None => {
                headers.remove(&X_FORWARDED_HOST);
            }
        }
    }
}

/// The client address: the TCP peer, or with `trusted_hops` > 0 the
/// `trusted_hops`-th address from the right of X-Forwarded-For (the one the
/// outermost trusted proxy saw). Falls back to the peer when the header has
/// fewer entries or the entry is not an IP address; never trusts the header
/// when `trusted_hops` is 0.
pub fn client_ip(
    headers: &HeaderMap,
    peer: std::net::IpAddr,
    trusted_hops: usize,
) -> std::net::IpAddr {
    if trusted_hops == 0 {
        return peer;
    }
    let values: Vec<&HeaderValue> = headers.get_all(&X_FORWARDED_FOR).iter().collect();
    values
        .iter()
        .rev()
        .flat_map(|v| v.to_str().unwrap_or("").rsplit(','))
        .map(str::trim)
        .nth(trusted_hops - 1)
        .and_then(parse_forwarded_ip)
        .unwrap_or(peer)
}

/// An X-Forwarded-For entry: `1.2.3.4`, `1.2.3.4:80`, `::1` or `[::1]:80`.
fn parse_forwarded_ip(entry: &str) -> Option<std::net::IpAddr> {
    if let Ok(ip) = entry.parse() {
        return Some(ip);
    }
    entry.parse::<std::net::SocketAddr>().ok().map(|a| a.ip())
}

/// Appends an RFC 7239 `Forwarded` element (`for`, `host`, `proto`) for
/// this hop; earlier elements are kept, like X-Forwarded-For entries.
pub fn add_rfc7239(headers: &mut HeaderMap, peer: std::net::IpAddr, proto: &'static str) {
    let mut element = match peer {
        std::net::IpAddr::V4(v4) => format!("for={v4}"),
        std::net::IpAddr::V6(v6) => format!("for=\"[{v6}]\""),
    };
    if let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) {
        let token = !host.is_empty()
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~!$&'*+^`|".contains(&b));
        if token {
            element.push_str(";host=");
            element.push_str(host);
        } else if !host.contains(['"', '\\']) {
            element.push_str(";host=\"");
            element.push_str(host);
            element.push('"');
        }
    }
    element.push_str(";proto=");
    element.push_str(proto);
    let value = match headers.get(&FORWARDED).and_then(|v| v.to_str().ok()) {
        Some(existing) if !existing.is_empty() => format!("{existing}, {element}"),
        _ => element,
    };
    if let Ok(v) = HeaderValue::from_str(&value) {
        headers.insert(FORWARDED.clone(), v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (n, v) in pairs {
            h.append(
                HeaderName::from_bytes(n.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    #[test]
    fn client_ip_from_trusted_hops_only() {
        let peer: std::net::IpAddr = "10.0.0.9".parse().unwrap();
        let h = map(&[
            ("x-forwarded-for", "203.0.113.5, 198.51.100.1"),
            ("x-forwarded-for", "192.0.2.4:8080"),
        ]);
        // Untrusted by default: the client could have written anything.
        assert_eq!(client_ip(&h, peer, 0), peer);
        assert_eq!(client_ip(&h, peer, 1).to_string(), "192.0.2.4");
        assert_eq!(client_ip(&h, peer, 2).to_string(), "198.51.100.1");
        assert_eq!(client_ip(&h, peer, 3).to_string(), "203.0.113.5");
        // Fewer entries than trusted hops, or garbage: the peer.
        assert_eq!(client_ip(&h, peer, 4), peer);
        let bad = map(&[("x-forwarded-for", "unknown")]);
        assert_eq!(client_ip(&bad, peer, 1), peer);
        let v6 = map(&[("x-forwarded-for", "[2001:db8::1]:443")]);
        assert_eq!(client_ip(&v6, peer, 1).to_string(), "2001:db8::1");
        assert_eq!(client_ip(&HeaderMap::new(), peer, 1), peer);
    }

    #[test]
    fn strips_hop_by_hop() {
        let mut h = map(&[
            ("connection", "keep-alive, x-secret"),
            ("x-secret", "1"),
            ("keep-alive", "timeout=5"),
            ("transfer-encoding", "chunked"),
            ("te", "gzip"),
            ("upgrade", "h2c"),
            ("proxy-authorization", "Basic x"),
            ("proxy-connection", "keep-alive"),
            ("x-keep", "yes"),
        ]);
        strip_hop_by_hop(&mut h, false);
        let names: Vec<&str> = h.keys().map(|k| k.as_str()).collect();
        assert_eq!(names, ["x-keep"]);
    }

    #[test]
    fn connection_names_extra_headers() {
        let mut h = map(&[
            ("connection", "x-a , X-B"),
            ("connection", "x-c,,bad name"),
            ("x-a", "1"),
            ("x-b", "2"),
            ("x-c", "3"),
            ("x-d", "4"),
            ("te", "trailers"),
        ]);
        strip_hop_by_hop(&mut h, false);
        let mut names: Vec<&str> = h.keys().map(|k| k.as_str()).collect();
        names.sort_unstable();
        assert_eq!(names, ["te", "x-d"]);
        // No hop-by-hop header at all: the map is untouched.
        let mut plain = map(&[("host", "a"), ("x-d", "4")]);
        strip_hop_by_hop(&mut plain, false);
        assert_eq!(plain.len(), 2);
    }

    #[test]
    fn te_trailers_and_websocket_upgrade_survive() {
        let mut h = map(&[
            ("connection", "Upgrade"),
            ("upgrade", "websocket"),
            ("te", "trailers, deflate"),
        ]);
        assert!(is_websocket_upgrade(&h));
        strip_hop_by_hop(&mut h, true);
        assert_eq!(h["upgrade"], "websocket");
        assert_eq!(h["connection"], "upgrade");
        assert_eq!(h["te"], "trailers");
        assert!(!is_websocket_upgrade(&map(&[("upgrade", "websocket")])));
    }

    #[test]
    fn forwarded_headers_untrusted() {
        let ip = HeaderValue::from_static("10.1.2.3");
        let mut h = map(&[
            ("host", "example.com"),
            ("x-forwarded-for", "1.1.1.1"),
            ("x-forwarded-for", "2.2.2.2"),
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "evil.example"),
        ]);
        add_forwarded(&mut h, &ip, "http", 0);
        assert_eq!(h["x-forwarded-for"], "1.1.1.1, 2.2.2.2, 10.1.2.3");
        assert_eq!(h.get_all("x-forwarded-for").iter().count(), 1);
        assert_eq!(h["x-forwarded-proto"], "http");
        assert_eq!(h["x-forwarded-host"], "example.com");
    }

    #[test]
    fn rfc7239_forwarded() {
        let mut h = map(&[("host", "example.com:8080")]);
        add_rfc7239(&mut h, "10.1.2.3".parse().unwrap(), "http");
        assert_eq!(
            h["forwarded"],
            "for=10.1.2.3;host=\"example.com:8080\";proto=http"
        );
        let mut h = map(&[("host", "example.com"), ("forwarded", "for=192.0.2.1")]);
        add_rfc7239(&mut h, "::1".parse().unwrap(), "https");
        assert_eq!(
            h["forwarded"],
            "for=192.0.2.1, for=\"[::1]\";host=example.com;proto=https"
        );
    }

    #[test]
    fn forwarded_headers_trusted_and_fresh() {
        let ip = HeaderValue::from_static("10.1.2.3");
        let mut h = map(&[("host", "example.com"), ("x-forwarded-proto", "https")]);
        add_forwarded(&mut h, &ip, "http", 1);
        assert_eq!(h["x-forwarded-for"], "10.1.2.3");
        assert_eq!(h["x-forwarded-proto"], "https");
        assert_eq!(h["x-forwarded-host"], "example.com");
    }
}
