//! Label selectors (`matchLabels` + `matchExpressions`) evaluated against
//! label maps, and the namespace label index they are evaluated on.

use std::collections::{BTreeMap, BTreeSet};

use portico_model::Snapshot;

/// The label every namespace carries implicitly.
pub const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// One `matchExpressions` entry.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Requirement {
    pub key: String,
    pub operator: String,
    pub values: Vec<String>,
}

/// A Kubernetes label selector. The empty selector matches everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Selector {
    pub match_labels: BTreeMap<String, String>,
    pub match_expressions: Vec<Requirement>,
}

/// A selector that cannot be evaluated (unknown operator, missing values).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid label selector: {0}")]
pub struct InvalidSelector(pub String);

impl Selector {
    /// Whether `labels` satisfy every term of the selector.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> Result<bool, InvalidSelector> {
        self.validate()?;
        let labels_ok = self
            .match_labels
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v));
        let exprs_ok = self.match_expressions.iter().all(|r| {
            let value = labels.get(&r.key);
            match r.operator.as_str() {
                "In" => value.is_some_and(|v| r.values.contains(v)),
                "NotIn" => value.is_none_or(|v| !r.values.contains(v)),
                "Exists" => value.is_some(),
                _ => value.is_none(), // DoesNotExist (validated above)
            }
        });
        Ok(labels_ok && exprs_ok)
    }

    fn validate(&self) -> Result<(), InvalidSelector> {
        for r in &self.match_expressions {
            match r.operator.as_str() {
                "In" | "NotIn" if r.values.is_empty() => {
                    return Err(InvalidSelector(format!(
                        "operator {} on key {:?} needs values",
                        r.operator, r.key
                    )));
                }
                "Exists" | "DoesNotExist" if !r.values.is_empty() => {
                    return Err(InvalidSelector(format!(
                        "operator {} on key {:?} takes no values",
                        r.operator, r.key
                    )));
                }
                "In" | "NotIn" | "Exists" | "DoesNotExist" => {}
                other => {
                    return Err(InvalidSelector(format!("unknown operator {other:?}")));
                }
            }
        }
        Ok(())
    }
}

impl From<&portico_model::core::LabelSelector> for Selector {
    fn from(s: &portico_model::core::LabelSelector) -> Self {
        Selector {
            match_labels: s.match_labels.clone().unwrap_or_default(),
            match_expressions: s
                .match_expressions
                .iter()
                .flatten()
                .map(|e| Requirement {
                    key: e.key.clone(),
                    operator: e.operator.clone(),
                    values: e.values.clone().unwrap_or_default(),
                })
                .collect(),
        }
    }
}

/// Builds a [`Selector`] from any generated selector type (they all have the
/// same fields under different names).
macro_rules! selector_from {
    ($ty:ty) => {
        impl From<&$ty> for Selector {
            fn from(s: &$ty) -> Self {
                Selector {
                    match_labels: s.match_labels.clone().unwrap_or_default(),
                    match_expressions: s
                        .match_expressions
                        .iter()
                        .flatten()
                        .map(|e| Requirement {
                            key: e.key.clone(),
                            operator: e.operator.clone(),
                            values: e.values.clone().unwrap_or_default(),
                        })
                        .collect(),
                }
            }
        }
    };
}

selector_from!(portico_model::gateway::GatewayListenersAllowedRoutesNamespacesSelector);
selector_from!(portico_model::gateway::ListenerSetListenersAllowedRoutesNamespacesSelector);
selector_from!(portico_model::gateway::GatewayAllowedListenersNamespacesSelector);

/// Labels of every namespace translation may meet: the Namespace objects of
/// the snapshot plus every namespace some object lives in (those carry only
/// the implied name label).
#[derive(Clone, Debug, Default)]
pub struct NamespaceIndex {
    labels: BTreeMap<String, BTreeMap<String, String>>,
}

impl NamespaceIndex {
    pub fn new(snapshot: &Snapshot) -> NamespaceIndex {
        let mut labels: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        for ns in &snapshot.namespaces {
            if let Some(name) = ns.metadata.name.as_deref() {
                labels.insert(
                    name.to_string(),
                    ns.metadata.labels.clone().unwrap_or_default(),
                );
            }
        }
        let mentioned = snapshot
            .http_routes
            .iter()
            .map(|o| &o.metadata)
            .chain(snapshot.grpc_routes.iter().map(|o| &o.metadata))
            .chain(snapshot.tls_routes.iter().map(|o| &o.metadata))
            .chain(snapshot.tcp_routes.iter().map(|o| &o.metadata))
            .chain(snapshot.udp_routes.iter().map(|o| &o.metadata))
            .chain(snapshot.listener_sets.iter().map(|o| &o.metadata))
            .chain(snapshot.gateways.iter().map(|o| &o.metadata));
        for meta in mentioned {
            if let Some(ns) = meta.namespace.as_deref() {
                labels.entry(ns.to_string()).or_default();
            }
        }
        for (name, l) in labels.iter_mut() {
            l.insert(NAMESPACE_NAME_LABEL.to_string(), name.clone());
        }
        NamespaceIndex { labels }
    }

    /// The labels of `namespace` (just the implied name label if unknown).
    pub fn labels(&self, namespace: &str) -> BTreeMap<String, String> {
        self.labels.get(namespace).cloned().unwrap_or_else(|| {
            BTreeMap::from([(NAMESPACE_NAME_LABEL.to_string(), namespace.to_string())])
        })
    }

    /// Every known namespace matched by `selector`.
    pub fn select(&self, selector: &Selector) -> Result<BTreeSet<String>, InvalidSelector> {
        let mut out = BTreeSet::new();
        for (name, labels) in &self.labels {
            if selector.matches(labels)? {
                out.insert(name.clone());
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect()
    }

    fn req(key: &str, op: &str, values: &[&str]) -> Requirement {
        Requirement {
            key: key.into(),
            operator: op.into(),
            values: values.iter().map(|v| (*v).to_string()).collect(),
        }
    }

    #[test]
    fn empty_selector_matches_everything() {
        assert_eq!(Selector::default().matches(&labels(&[])), Ok(true));
    }

    #[test]
    fn match_labels_and_expressions_all_apply() {
        let sel = Selector {
            match_labels: labels(&[("team", "a")]),
            match_expressions: vec![
                req("env", "In", &["prod", "stage"]),
                req("tier", "NotIn", &["db"]),
                req("owner", "Exists", &[]),
                req("legacy", "DoesNotExist", &[]),
            ],
        };
        let good = labels(&[("team", "a"), ("env", "prod"), ("owner", "x")]);
        assert_eq!(sel.matches(&good), Ok(true));
        let mut bad = good.clone();
        bad.insert("legacy".into(), "1".into());
        assert_eq!(sel.matches(&bad), Ok(false));
        let mut bad = good.clone();
        bad.insert("tier".into(), "db".into());
        assert_eq!(sel.matches(&bad), Ok(false));
        let mut bad = good;
        bad.insert("env".into(), "dev".into());
        assert_eq!(sel.matches(&bad), Ok(false));
    }

    #[test]
    fn unknown_operator_is_an_error() {
        let sel = Selector {
            match_expressions: vec![req("a", "Bogus", &[])],
            ..Selector::default()
        };
        assert!(sel.matches(&labels(&[])).is_err());
        let sel = Selector {
            match_expressions: vec![req("a", "In", &[])],
            ..Selector::default()
        };
        assert!(sel.matches(&labels(&[])).is_err());
    }

    #[test]
    fn unknown_namespaces_carry_the_name_label() {
        let index = NamespaceIndex::default();
        let l = index.labels("web");
        assert_eq!(l.get(NAMESPACE_NAME_LABEL).map(String::as_str), Some("web"));
    }
}
