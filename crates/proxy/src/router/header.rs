//! Header matching: case-insensitive name, exact or regex value.

use http::{HeaderMap, HeaderName};
use portico_ir::HeaderMatch;

use super::value::ValueMatcher;
use crate::Error;

#[derive(Clone, Debug)]
pub struct HeaderMatcher {
    name: HeaderName,
    value: ValueMatcher,
}

impl HeaderMatcher {
    pub fn compile(m: &HeaderMatch) -> Result<HeaderMatcher, Error> {
        let name = HeaderName::from_bytes(m.name.as_bytes())
            .map_err(|_| Error::HeaderName(m.name.clone()))?;
        Ok(HeaderMatcher {
            name,
            value: ValueMatcher::compile(&m.value)?,
        })
    }

    /// Matches when any value of the header matches (repeated headers are
    /// rare; a client cannot sneak past an Exact match by repeating one).
    pub fn matches(&self, headers: &HeaderMap) -> bool {
        headers
            .get_all(&self.name)
            .iter()
            .any(|v| v.to_str().is_ok_and(|v| self.value.matches(v)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portico_ir::StringMatch;

    fn matcher(name: &str, value: StringMatch) -> HeaderMatcher {
        HeaderMatcher::compile(&HeaderMatch {
            name: name.into(),
            value,
        })
        .unwrap()
    }

    #[test]
    fn name_is_case_insensitive_value_exact() {
        let m = matcher("version", StringMatch::Exact("two".into()));
        let mut h = HeaderMap::new();
        h.insert("Version", "two".parse().unwrap());
        assert!(m.matches(&h));
        h.insert("Version", "Two".parse().unwrap());
        assert!(!m.matches(&h));
        assert!(!m.matches(&HeaderMap::new()));
    }

    #[test]
    fn regex_and_repeated_values() {
        let m = matcher("x-env", StringMatch::Regex("prod|canary".into()));
        let mut h = HeaderMap::new();
        h.append("x-env", "dev".parse().unwrap());
        assert!(!m.matches(&h));
        h.append("x-env", "canary".parse().unwrap());
        assert!(m.matches(&h));
    }

    #[test]
    fn invalid_name_is_rejected() {
        assert!(
            HeaderMatcher::compile(&HeaderMatch {
                name: "bad name".into(),
                value: StringMatch::Exact("x".into())
            })
            .is_err()
        );
    }
}
