//! Name patterns with `*` wildcards: FQDN filters (against the flow's
//! source/destination names, e.g. the TLS server name or HTTP host) and
//! node-name filters (`node-*`, `cluster/node-*`).

use super::{Predicate, Side, invalid, when};
use crate::Error;

/// The cluster name Portico reports for itself.
const CLUSTER: &str = "default";

/// Case-insensitive glob match where `*` matches any run of characters.
fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().flat_map(char::to_lowercase).collect();
    let t: Vec<char> = text.chars().flat_map(char::to_lowercase).collect();
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

fn check_chars(field: &'static str, value: &str, extra: &[char]) -> Result<String, Error> {
    let v = value.trim();
    if v.is_empty() {
        return Err(invalid(field, value, "empty pattern"));
    }
    if let Some(bad) = v.chars().find(|c| {
        !(c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '*') || extra.contains(c))
    }) {
        return Err(invalid(
            field,
            value,
            format!("unexpected character {bad:?}"),
        ));
    }
    Ok(v.trim_end_matches('.').to_owned())
}

pub(super) fn fqdn(side: Side, values: &[String]) -> Result<Option<Predicate>, Error> {
    let field = match side {
        Side::Source => "source_fqdn",
        Side::Destination => "destination_fqdn",
    };
    let patterns = values
        .iter()
        .map(|v| check_chars(field, v, &[]))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(when(!patterns.is_empty(), move |r| {
        let names: &[std::sync::Arc<str>] = match side {
            // Portico's flows carry no source names.
            Side::Source => &[],
            Side::Destination => &r.flow.destination_names,
        };
        names.iter().any(|n| {
            let n = n.trim_end_matches('.');
            patterns.iter().any(|p| glob_match(p, n))
        })
    }))
}

pub(super) fn node_name(values: &[String]) -> Result<Option<Predicate>, Error> {
    let patterns = values
        .iter()
        .map(|v| {
            let v = check_chars("node_name", v, &['/'])?;
            match v.split_once('/') {
                Some((cluster, node)) if !node.contains('/') => {
                    let node = if node.is_empty() { "*" } else { node };
                    Ok((Some(cluster.to_owned()), node.to_owned()))
                }
                Some(_) => Err(invalid("node_name", &v, "expected cluster/node")),
                None => Ok((None, v)),
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(when(!patterns.is_empty(), move |r| {
        let node = r.node_name();
        patterns.iter().any(|(cluster, pat)| {
            cluster.as_ref().is_none_or(|c| glob_match(c, CLUSTER)) && glob_match(pat, node)
        })
    }))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::flow::filter::test_support::recorded;
    use crate::flow::record::Flow;

    #[test]
    fn glob_semantics() {
        assert!(glob_match("*.example.com", "api.example.com"));
        assert!(glob_match("*.example.com", "a.b.example.com"));
        assert!(!glob_match("*.example.com", "example.com"));
        assert!(glob_match("API.example.com", "api.EXAMPLE.com"));
        assert!(glob_match("node-*", "node-1"));
        assert!(glob_match("*", ""));
        assert!(!glob_match("node-?", "node-1"));
    }

    #[test]
    fn destination_fqdn_matches_names() {
        let f = recorded(Flow {
            destination_names: vec![Arc::from("shop.example.com.")],
            ..Flow::default()
        });
        let m = |v: &str| {
            fqdn(Side::Destination, &[v.to_string()])
                .expect("valid")
                .expect("set")(&f)
        };
        assert!(m("*.example.com"));
        assert!(m("shop.example.com"));
        assert!(!m("other.example.com"));
        assert!(!fqdn(Side::Source, &["*".into()])
            .expect("valid")
            .expect("set")(&f));
    }

    #[test]
    fn node_name_uses_ring_node_by_default() {
        let f = recorded(Flow::default()); // ring node name is "portico"
        let m = |v: &str| node_name(&[v.to_string()]).expect("valid").expect("set")(&f);
        assert!(m("portico"));
        assert!(m("port*"));
        assert!(m("default/portico"));
        assert!(m("default/"));
        assert!(!m("other-cluster/portico"));
        assert!(!m("node-1"));
    }

    #[test]
    fn invalid_patterns_are_rejected() {
        assert!(fqdn(Side::Source, &["bad name".into()]).is_err());
        assert!(fqdn(Side::Source, &["".into()]).is_err());
        assert!(node_name(&["a/b/c".into()]).is_err());
    }
}
