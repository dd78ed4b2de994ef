//! The request's host (Host header or HTTP/2 `:authority`, port stripped,
//! lower-cased) and a most-specific-first index over hostname matchers.

use std::borrow::Cow;
use std::collections::HashMap;

use http::request::Parts;
use portico_ir::HostMatch;

/// The host a request is addressed to. HTTP/2 and absolute-form requests
/// carry it in the URI authority; HTTP/1.1 in `Host`.
pub fn request_host(parts: &Parts) -> Option<Cow<'_, str>> {
    let raw = match parts.uri.authority() {
        Some(a) => a.as_str(),
        None => parts.headers.get(http::header::HOST)?.to_str().ok()?,
    };
    Some(normalize(raw))
}

/// Strips the port (and IPv6 brackets stay), lower-cases without allocating
/// when already lower-case, drops a trailing dot.
pub fn normalize(raw: &str) -> Cow<'_, str> {
    let host = strip_port(raw);
    let host = host.strip_suffix('.').unwrap_or(host);
    if host.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(host.to_ascii_lowercase())
    } else {
        Cow::Borrowed(host)
    }
}

fn strip_port(raw: &str) -> &str {
    // `user@` never appears in Host, but may in an absolute-form authority.
    let raw = raw.rsplit_once('@').map_or(raw, |(_, h)| h);
    if raw.starts_with('[') {
        // [v6]:port
        return match raw.find(']') {
            Some(end) => &raw[..=end],
            None => raw,
        };
    }
    match raw.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => raw,
    }
}

/// Values keyed by [`HostMatch`]; lookups return the most specific match:
/// exact, then the longest wildcard suffix, then `Any`.
#[derive(Debug)]
pub struct HostIndex<T> {
    exact: HashMap<Box<str>, T>,
    /// Sorted longest suffix first.
    wildcards: Vec<(Box<str>, T)>,
    any: Option<T>,
}

impl<T> Default for HostIndex<T> {
    fn default() -> Self {
        HostIndex {
            exact: HashMap::new(),
            wildcards: Vec::new(),
            any: None,
        }
    }
}

impl<T> HostIndex<T> {
    /// Inserts unless an entry with the same hostname exists (first wins).
    pub fn insert(&mut self, host: &HostMatch, value: T) {
        match host {
            HostMatch::Exact(h) => {
                self.exact
                    .entry(h.to_ascii_lowercase().into())
                    .or_insert(value);
            }
            HostMatch::Wildcard(s) => {
                let s = s.to_ascii_lowercase();
                if !self.wildcards.iter().any(|(w, _)| **w == *s) {
                    self.wildcards.push((s.into(), value));
                    self.wildcards.sort_by_key(|w| std::cmp::Reverse(w.0.len()));
                }
            }
            HostMatch::Any => {
                if self.any.is_none() {
                    self.any = Some(value);
                }
            }
        }
    }

    /// `host` must already be normalized.
    pub fn get(&self, host: &str) -> Option<&T> {
        if let Some(v) = self.exact.get(host) {
            return Some(v);
        }
        self.wildcards
            .iter()
            .find(|(suffix, _)| host.len() > suffix.len() && host.ends_with(&**suffix))
            .map(|(_, v)| v)
            .or(self.any.as_ref())
    }

    pub fn is_empty(&self) -> bool {
        self.exact.is_empty() && self.wildcards.is_empty() && self.any.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_strips_port_and_case() {
        assert_eq!(normalize("Foo.Example.COM:8080"), "foo.example.com");
        assert_eq!(normalize("foo.example.com"), "foo.example.com");
        assert!(matches!(normalize("foo.example.com"), Cow::Borrowed(_)));
        assert_eq!(normalize("[::1]:80"), "[::1]");
        assert_eq!(normalize("[::1]"), "[::1]");
        assert_eq!(normalize("example.com."), "example.com");
        assert_eq!(normalize("127.0.0.1:80"), "127.0.0.1");
    }

    #[test]
    fn request_host_prefers_authority() {
        let req = http::Request::builder()
            .uri("http://H2.example.com:80/x")
            .header("host", "other.example.com")
            .body(())
            .unwrap();
        let (parts, _) = req.into_parts();
        assert_eq!(request_host(&parts).as_deref(), Some("h2.example.com"));
        let req = http::Request::builder()
            .uri("/x")
            .header("host", "h1.example.com:8080")
            .body(())
            .unwrap();
        let (parts, _) = req.into_parts();
        assert_eq!(request_host(&parts).as_deref(), Some("h1.example.com"));
    }

    #[test]
    fn index_picks_most_specific() {
        let mut idx = HostIndex::default();
        idx.insert(&HostMatch::Any, "any");
        idx.insert(&HostMatch::parse(Some("*.example.com")), "short");
        idx.insert(&HostMatch::parse(Some("*.foo.example.com")), "long");
        idx.insert(&HostMatch::parse(Some("a.foo.example.com")), "exact");
        assert_eq!(idx.get("a.foo.example.com"), Some(&"exact"));
        assert_eq!(idx.get("b.foo.example.com"), Some(&"long"));
        assert_eq!(idx.get("foo.example.com"), Some(&"short"));
        assert_eq!(idx.get("example.com"), Some(&"any"));
        assert_eq!(idx.get("other.org"), Some(&"any"));
    }

    #[test]
    fn wildcard_needs_a_label_and_first_insert_wins() {
        let mut idx = HostIndex::default();
        idx.insert(&HostMatch::parse(Some("*.example.com")), 1);
        idx.insert(&HostMatch::parse(Some("*.example.com")), 2);
        assert_eq!(idx.get("example.com"), None);
        assert_eq!(idx.get(".example.com"), None);
        assert_eq!(idx.get("a.example.com"), Some(&1));
    }
}
