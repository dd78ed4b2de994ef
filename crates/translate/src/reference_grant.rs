//! ReferenceGrant checks for cross-namespace references.
//!
//! A reference from one namespace to an object in another is allowed only
//! when a ReferenceGrant in the *target* namespace lists the referring
//! group/kind/namespace in `from` and the target group/kind (and optionally
//! name) in `to`. Same-namespace references never need a grant.

use std::collections::HashMap;

use portico_model::Snapshot;
use portico_model::gateway::ReferenceGrant;

/// The referring side of a cross-namespace reference.
#[derive(Clone, Copy, Debug)]
pub struct From<'a> {
    pub group: &'a str,
    pub kind: &'a str,
    pub namespace: &'a str,
}

/// The referenced object.
#[derive(Clone, Copy, Debug)]
pub struct To<'a> {
    pub group: &'a str,
    pub kind: &'a str,
    pub namespace: &'a str,
    pub name: &'a str,
}

/// Whether `from` may reference `to`: same namespace, or a ReferenceGrant in
/// `to.namespace` lists `from` and `to` (a grant without `name` covers every
/// object of that kind). Core group is the empty string.
pub fn permitted(snapshot: &Snapshot, from: From<'_>, to: To<'_>) -> bool {
    if from.namespace == to.namespace {
        return true;
    }
    snapshot
        .reference_grants
        .iter()
        .any(|grant| grant_allows(grant, from, to))
}

/// ReferenceGrants indexed by namespace, for translations that check many
/// references (every backendRef of every route).
#[derive(Debug, Default)]
pub struct GrantIndex<'s> {
    by_namespace: HashMap<&'s str, Vec<&'s ReferenceGrant>>,
}

impl<'s> GrantIndex<'s> {
    pub fn new(snapshot: &'s Snapshot) -> GrantIndex<'s> {
        let mut by_namespace: HashMap<&'s str, Vec<&'s ReferenceGrant>> = HashMap::new();
        for grant in &snapshot.reference_grants {
            let ns = grant.metadata.namespace.as_deref().unwrap_or("default");
            by_namespace.entry(ns).or_default().push(grant);
        }
        GrantIndex { by_namespace }
    }

    /// Same as [`permitted`], looking only at the grants of `to.namespace`.
    pub fn permitted(&self, from: From<'_>, to: To<'_>) -> bool {
        if from.namespace == to.namespace {
            return true;
        }
        self.by_namespace
            .get(to.namespace)
            .is_some_and(|grants| grants.iter().any(|g| grant_allows(g, from, to)))
    }
}

fn grant_allows(grant: &ReferenceGrant, from: From<'_>, to: To<'_>) -> bool {
    grant.metadata.namespace.as_deref().unwrap_or("default") == to.namespace
        && grant
            .spec
            .from
            .iter()
            .any(|f| f.group == from.group && f.kind == from.kind && f.namespace == from.namespace)
        && grant.spec.to.iter().any(|t| {
            t.group == to.group
                && t.kind == to.kind
                && t.name
                    .as_deref()
                    .is_none_or(|n| n.is_empty() || n == to.name)
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use portico_model::gateway::{ReferenceGrantFrom, ReferenceGrantSpec, ReferenceGrantTo};

    fn grant(ns: &str, from_ns: &str, to_name: Option<&str>) -> ReferenceGrant {
        let mut g = ReferenceGrant::new(
            "g",
            ReferenceGrantSpec {
                from: vec![ReferenceGrantFrom {
                    group: "gateway.networking.k8s.io".into(),
                    kind: "HTTPRoute".into(),
                    namespace: from_ns.into(),
                }],
                to: vec![ReferenceGrantTo {
                    group: String::new(),
                    kind: "Service".into(),
                    name: to_name.map(str::to_string),
                }],
            },
        );
        g.metadata.namespace = Some(ns.into());
        g
    }

    const FROM: From<'static> = From {
        group: "gateway.networking.k8s.io",
        kind: "HTTPRoute",
        namespace: "apps",
    };

    fn to(ns: &'static str, name: &'static str) -> To<'static> {
        To {
            group: "",
            kind: "Service",
            namespace: ns,
            name,
        }
    }

    #[test]
    fn same_namespace_needs_no_grant() {
        let snap = Snapshot::default();
        assert!(permitted(&snap, FROM, to("apps", "svc")));
        assert!(GrantIndex::new(&snap).permitted(FROM, to("apps", "svc")));
    }

    #[test]
    fn grant_must_live_in_target_namespace_and_name_the_service() {
        let snap = Snapshot {
            reference_grants: vec![
                grant("backends", "apps", Some("allowed")),
                grant("elsewhere", "apps", None),
            ],
            ..Snapshot::default()
        };
        let index = GrantIndex::new(&snap);
        for check in [
            |s: &Snapshot, f, t| permitted(s, f, t),
            |s: &Snapshot, f, t| GrantIndex::new(s).permitted(f, t),
        ] {
            assert!(check(&snap, FROM, to("backends", "allowed")));
            assert!(!check(&snap, FROM, to("backends", "other")));
            assert!(check(&snap, FROM, to("elsewhere", "anything")));
            assert!(!check(&snap, FROM, to("nowhere", "svc")));
        }
        let wrong_from = From {
            namespace: "other",
            ..FROM
        };
        assert!(!index.permitted(wrong_from, to("backends", "allowed")));
        let wrong_kind = From {
            kind: "GRPCRoute",
            ..FROM
        };
        assert!(!index.permitted(wrong_kind, to("backends", "allowed")));
    }
}
