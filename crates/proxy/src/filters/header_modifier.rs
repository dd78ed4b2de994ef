//! RequestHeaderModifier and ResponseHeaderModifier: set, add, remove.

use http::{HeaderMap, HeaderName, HeaderValue};
use portico_ir::HeaderModifier as IrHeaderModifier;

use crate::Error;

/// Header names and values parsed once at compile time.
#[derive(Clone, Debug, Default)]
pub struct HeaderModifier {
    set: Vec<(HeaderName, HeaderValue)>,
    add: Vec<(HeaderName, HeaderValue)>,
    remove: Vec<HeaderName>,
}

impl HeaderModifier {
    pub fn compile(m: &IrHeaderModifier) -> Result<HeaderModifier, Error> {
        let pair = |(n, v): &(String, String)| -> Result<(HeaderName, HeaderValue), Error> {
            let name =
                HeaderName::from_bytes(n.as_bytes()).map_err(|_| Error::HeaderName(n.clone()))?;
            let value = HeaderValue::from_str(v).map_err(|_| Error::HeaderValue(n.clone()))?;
            Ok((name, value))
        };
        Ok(HeaderModifier {
            set: m.set.iter().map(pair).collect::<Result<_, _>>()?,
            add: m.add.iter().map(pair).collect::<Result<_, _>>()?,
            remove: m
                .remove
                .iter()
                .map(|n| {
                    HeaderName::from_bytes(n.as_bytes()).map_err(|_| Error::HeaderName(n.clone()))
                })
                .collect::<Result<_, _>>()?,
        })
    }

    /// Set replaces every existing value, add appends one more value, remove
    /// deletes every value; applied in that order.
    pub fn apply(&self, headers: &mut HeaderMap) {
        for (name, value) in &self.set {
            headers.insert(name.clone(), value.clone());
        }
        for (name, value) in &self.add {
            headers.append(name.clone(), value.clone());
        }
        for name in &self.remove {
            headers.remove(name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn modifier(set: &[(&str, &str)], add: &[(&str, &str)], remove: &[&str]) -> HeaderModifier {
        let own = |v: &[(&str, &str)]| {
            v.iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect()
        };
        HeaderModifier::compile(&IrHeaderModifier {
            set: own(set),
            add: own(add),
            remove: remove.iter().map(|s| s.to_string()).collect(),
        })
        .unwrap()
    }

    #[test]
    fn set_add_remove() {
        let mut h = HeaderMap::new();
        h.append("x-set", "old1".parse().unwrap());
        h.append("x-set", "old2".parse().unwrap());
        h.insert("x-add", "first".parse().unwrap());
        h.insert("x-gone", "bye".parse().unwrap());
        h.insert("x-keep", "stay".parse().unwrap());
        modifier(
            &[("X-Set", "new")],
            &[("x-add", "second"), ("x-new", "v")],
            &["X-Gone"],
        )
        .apply(&mut h);
        let all = |n: &str| {
            h.get_all(n)
                .iter()
                .map(|v| v.to_str().unwrap().to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(all("x-set"), ["new"]);
        assert_eq!(all("x-add"), ["first", "second"]);
        assert_eq!(all("x-new"), ["v"]);
        assert!(h.get("x-gone").is_none());
        assert_eq!(all("x-keep"), ["stay"]);
    }

    #[test]
    fn invalid_names_and_values_fail_to_compile() {
        let bad_name = IrHeaderModifier {
            set: vec![("bad name".into(), "v".into())],
            ..Default::default()
        };
        assert!(HeaderModifier::compile(&bad_name).is_err());
        let bad_value = IrHeaderModifier {
            add: vec![("x".into(), "line\nbreak".into())],
            ..Default::default()
        };
        assert!(HeaderModifier::compile(&bad_value).is_err());
    }
}
