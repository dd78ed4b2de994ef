//! Query parameter matching: case-sensitive name, first occurrence wins,
//! values compared after percent-decoding.

use std::borrow::Cow;

use portico_ir::QueryParamMatch;

use super::value::ValueMatcher;
use crate::Error;

#[derive(Clone, Debug)]
pub struct QueryMatcher {
    name: Box<str>,
    value: ValueMatcher,
}

impl QueryMatcher {
    pub fn compile(m: &QueryParamMatch) -> Result<QueryMatcher, Error> {
        Ok(QueryMatcher {
            name: m.name.as_str().into(),
            value: ValueMatcher::compile(&m.value)?,
        })
    }

    pub fn matches(&self, query: Option<&str>) -> bool {
        let Some(query) = query else {
            return false;
        };
        for pair in query.split('&') {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            if decode(name) == *self.name {
                return self.value.matches(&decode(value));
            }
        }
        false
    }
}

/// Percent-decodes `%XX` and turns `+` into a space; malformed escapes stay
/// literal. Allocates only when there is something to decode.
pub fn decode(s: &str) -> Cow<'_, str> {
    if !s.bytes().any(|b| b == b'%' || b == b'+') {
        return Cow::Borrowed(s);
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' => match (
                bytes.get(i + 1).and_then(hex),
                bytes.get(i + 2).and_then(hex),
            ) {
                (Some(hi), Some(lo)) => {
                    out.push(hi << 4 | lo);
                    i += 3;
                }
                _ => {
                    out.push(b'%');
                    i += 1;
                }
            },
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

fn hex(b: &u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portico_ir::StringMatch;

    fn matcher(name: &str, value: StringMatch) -> QueryMatcher {
        QueryMatcher::compile(&QueryParamMatch {
            name: name.into(),
            value,
        })
        .unwrap()
    }

    #[test]
    fn exact_first_occurrence_case_sensitive_name() {
        let m = matcher("animal", StringMatch::Exact("whale".into()));
        assert!(m.matches(Some("animal=whale")));
        assert!(m.matches(Some("color=blue&animal=whale")));
        assert!(!m.matches(Some("animal=dolphin&animal=whale")));
        assert!(!m.matches(Some("Animal=whale")));
        assert!(!m.matches(None));
        assert!(!m.matches(Some("")));
    }

    #[test]
    fn values_are_decoded() {
        let m = matcher("q", StringMatch::Exact("a b/c".into()));
        assert!(m.matches(Some("q=a%20b%2Fc")));
        assert!(m.matches(Some("q=a+b/c")));
        let re = matcher("id", StringMatch::Regex("[0-9]+".into()));
        assert!(re.matches(Some("id=42")));
        assert!(!re.matches(Some("id=42x")));
    }

    #[test]
    fn malformed_escapes_stay_literal() {
        assert_eq!(decode("100%"), "100%");
        assert_eq!(decode("%zz"), "%zz");
        assert_eq!(decode("%41"), "A");
    }
}
