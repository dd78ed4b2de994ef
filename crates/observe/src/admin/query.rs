//! `/api/objects` query parameters.

/// `?kind=K[&namespace=N][&name=X]`. No namespace means all namespaces.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ObjectQuery {
    pub kind: String,
    pub namespace: Option<String>,
    pub name: Option<String>,
}

impl ObjectQuery {
    /// Parses a URL query string; unknown parameters are ignored, empty
    /// values count as absent.
    pub fn parse(query: &str) -> ObjectQuery {
        let mut q = ObjectQuery::default();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = percent_decode(value);
            if value.is_empty() {
                continue;
            }
            match percent_decode(key).as_str() {
                "kind" => q.kind = value,
                "namespace" => q.namespace = Some(value),
                "name" => q.name = Some(value),
                _ => {}
            }
        }
        q
    }

    /// The query string for this query (the inverse of [`ObjectQuery::parse`]).
    pub fn to_query_string(&self) -> String {
        let mut out = format!("kind={}", percent_encode(&self.kind));
        if let Some(ns) = &self.namespace {
            out.push_str("&namespace=");
            out.push_str(&percent_encode(ns));
        }
        if let Some(name) = &self.name {
            out.push_str("&name=");
            out.push_str(&percent_encode(name));
        }
        out
    }
}

pub(crate) fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kind_namespace_and_name() {
        let q = ObjectQuery::parse("kind=Gateway&namespace=infra&name=gw-1&x=y");
        assert_eq!(q.kind, "Gateway");
        assert_eq!(q.namespace.as_deref(), Some("infra"));
        assert_eq!(q.name.as_deref(), Some("gw-1"));
    }

    #[test]
    fn empty_values_are_absent_and_bad_escapes_are_kept() {
        let q = ObjectQuery::parse("kind=HTTPRoute&namespace=&name=a%2");
        assert_eq!(q.namespace, None);
        assert_eq!(q.name.as_deref(), Some("a%2"));
        let q = ObjectQuery::parse("kind=%zz");
        assert_eq!(q.kind, "%zz");
    }

    #[test]
    fn round_trips_through_the_query_string() {
        let q = ObjectQuery {
            kind: "Gateway".into(),
            namespace: Some("a b/c".into()),
            name: Some("x&y=z".into()),
        };
        assert_eq!(ObjectQuery::parse(&q.to_query_string()), q);
    }
}
