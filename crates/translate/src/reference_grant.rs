//! ReferenceGrant checks for cross-namespace references.

use portico_model::Snapshot;

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
    snapshot.reference_grants.iter().any(|grant| {
        grant.metadata.namespace.as_deref() == Some(to.namespace)
            && grant.spec.from.iter().any(|f| {
                f.group == from.group && f.kind == from.kind && f.namespace == from.namespace
            })
            && grant.spec.to.iter().any(|t| {
                t.group == to.group
                    && t.kind == to.kind
                    && t.name
                        .as_deref()
                        .is_none_or(|n| n.is_empty() || n == to.name)
            })
    })
}
